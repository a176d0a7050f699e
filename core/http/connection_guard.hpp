// ConnectionGuard: the server's TCP accept loop, in front of libsoup. It accepts every connection
// itself, refuses one over the limits (IpAdmission: too many open in total or from its address,
// or new ones coming too fast) with a short 503 and closes it at once, and hands the others to
// libsoup as GramothiClientStreams. It then closes connections that stall:
//   - the request headers are not complete header_timeout_s after connecting, or after the
//     request's first byte on a kept-alive connection;
//   - a kept-alive connection stays silent idle_timeout_s after its previous response.
// A request whose headers have arrived is never cut (its handler may answer much later, a slow
// upload may keep sending), nor a WebSocket (the WebSocket host watches those). A connection
// counts against the limits until its stream is gone, also after libsoup handed it over to a
// WebSocket.
//
// libsoup 3.2 keeps a connection alive after a response only while the server has a listener of
// its own; the guard gives it one that never fires (one end of a socketpair).
//
// Owned by HttpRouter, on the main loop; it must outlive the SoupServer's client connections
// (HttpRouter disconnects them first).
#pragma once

#include <libsoup/soup.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/gref.hpp"
#include "base/lifetime.hpp"
#include "http/client_stream.hpp"
#include "http/ip_admission.hpp"

namespace gramothi {

// A whole HTTP/1.1 response with a JSON body that ends the connection (Connection: close).
std::string closing_response(unsigned status, const std::string &json,
                             const std::vector<std::pair<std::string, std::string>> &headers = {});

class ConnectionGuard {
 public:
  ConnectionGuard(SoupServer *server, const ConnectionLimits &limits);
  ConnectionGuard(const ConnectionGuard &) = delete;
  ConnectionGuard &operator=(const ConnectionGuard &) = delete;
  ~ConnectionGuard();

  // Listens on address:port (port 0 = any free port). Returns the port, or an Error.
  Result<int> listen(const std::string &address, int port);
  // Stops accepting (open connections stay).
  void stop_accepting();

  // The stream of the connection that carries `msg` (borrowed), or null.
  GramothiClientStream *stream_of(SoupServerMessage *msg) const;
  // Answers `msg` with `response` (a whole HTTP/1.1 response, sent as far as the socket takes it
  // now) and closes the connection once the client has it (at most 1 s later), without reading
  // the body the client may still be sending.
  void hang_up(SoupServerMessage *msg, const std::string &response);
  // The body of `msg` is an upload whose token was checked from its headers: no deadline for it.
  void untimed_body(SoupServerMessage *msg);

 private:
  // kBody: the headers arrived and a body is on its way: it must arrive within
  // header_timeout_s too, unless the router said the request is an authenticated upload
  // (untimed_body): a 2G upload takes as long as it takes.
  enum class Phase { kHeaders, kBody, kRequest, kIdle };
  // A connection told to close that is still there this long after stops counting against its
  // address.
  static constexpr int64_t kForceCloseAfterUs = 10 * G_USEC_PER_SEC;
  struct Connection {
    ConnectionGuard *guard = nullptr;
    GramothiClientStream *stream = nullptr;  // not owned: a weak reference
    GRef<GSocketAddress> remote;             // the object libsoup reports for its messages
    std::string address;                     // the admission key
    Phase phase = Phase::kHeaders;
    int64_t deadline_us = 0;  // 0: none
    bool closing = false;
    int64_t closing_since_us = 0;
    bool released = false;      // its admission was given back (by force, before its stream went)
    bool body_untimed = false;  // the current request's body: an authenticated upload
  };

  static gboolean on_incoming(GSocket *, GIOCondition, gpointer self);
  static gboolean on_resume_accepting(gpointer self);
  static gboolean on_tick(gpointer self);
  static void on_request_started(SoupServer *, SoupServerMessage *msg, gpointer self);
  static void on_request_done(SoupServer *, SoupServerMessage *msg, gpointer self);
  static void on_request_read(SoupServer *, SoupServerMessage *msg, gpointer self);
  static void on_stream_gone(gpointer connection, GObject *stream);

  void take(GSocket *socket);
  void refuse(GSocket *socket, const std::string &address, IpAdmission::Verdict verdict);
  Connection *find(SoupServerMessage *msg) const;
  void forget(Connection *c);
  void start_accepting();

  GRef<SoupServer> server_;
  ConnectionLimits limits_;
  IpAdmission admission_;
  GRef<GSocket> listener_;
  GSource *accept_source_ = nullptr;
  guint resume_timer_ = 0, tick_timer_ = 0;
  GRef<GSocket> idle_listener_[2];  // the socketpair that keeps libsoup's keep-alive working
  std::unordered_map<GSocketAddress *, std::unique_ptr<Connection>> connections_;
  std::vector<gulong> server_handlers_;
  int64_t refused_since_log_ = 0, last_refusal_log_us_ = 0;
  Lifetime lifetime_;
};

}  // namespace gramothi
