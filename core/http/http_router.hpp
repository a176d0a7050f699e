// HttpRouter: core's one SoupServer. Routes are "METHOD /exact/path/{param}"; a request body
// larger than its route allows is refused with 413 before it is read, and a chunked body
// (unknown length) with 411. A route that takes bodies over kAuthenticatedBodyOver (uploads)
// also needs a valid bearer token in the request headers (set_token_check): without one the
// request gets 401 before its body is read. Of a refused request the server reads no more than
// kAuthenticatedBodyOver bytes of body (and keeps none): a larger body, or one of unknown length,
// is never read, the connection closing after the answer. Every error is JSON
// {"error":{"code","message"}}. A handler may answer at once or later (the request is paused
// until it does). Connections come through a ConnectionGuard (limits, timeouts).
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/gref.hpp"
#include "http/connection_guard.hpp"

struct GramothiHttpExchange;

namespace gramothi {

class HttpRouter;
struct PacedBody;
using HttpHandler = std::function<void(GramothiHttpExchange *ex)>;

// Accessors and responders for an exchange (also behind the plugin ABI).
const char *exchange_method(GramothiHttpExchange *ex);
const char *exchange_path(GramothiHttpExchange *ex);
const char *exchange_param(GramothiHttpExchange *ex, const char *name);
const char *exchange_query(GramothiHttpExchange *ex, const char *name);
const char *exchange_header(GramothiHttpExchange *ex, const char *name);
std::string_view exchange_body(GramothiHttpExchange *ex);
void exchange_add_header(GramothiHttpExchange *ex, const char *name, const char *value);
// The response of this exchange costs the link at most `bytes_per_s`, TCP/IP headers included
// (0: as fast as the link takes it): its body is handed to the connection a slice at a time, so
// that it never queues up in front of what else the client is receiving. Set before responding.
void exchange_set_pace(GramothiHttpExchange *ex, size_t bytes_per_s);
// The response goes out with at most `bytes` unacknowledged at first, more as the client
// acknowledges (see PacedBody): for a page that must not overflow a slow link's queue in TCP's
// first burst. Set before responding; ignored for paced responses and shorter bodies.
void exchange_set_first_window(GramothiHttpExchange *ex, size_t bytes);
// Sends and frees the exchange.
void exchange_respond(GramothiHttpExchange *ex, unsigned status, const char *content_type,
                      const void *body, size_t length);
void exchange_respond_json(GramothiHttpExchange *ex, unsigned status, const std::string &json);
void exchange_respond_error(GramothiHttpExchange *ex, const Error &error);
std::string error_json(const Error &error);

class HttpRouter {
 public:
  // Routes whose max_body is above this take a bearer token before their body (see above).
  static constexpr size_t kAuthenticatedBodyOver = 64 * 1024;
  // Checks an Authorization header value ("Bearer <jwt>", or null): nullopt when it is valid,
  // else the error to answer (kUnauthorized: token_missing, token_invalid, token_expired, ...).
  using TokenCheck = std::function<std::optional<Error>(const char *authorization)>;

  explicit HttpRouter(const ConnectionLimits &limits = {});
  HttpRouter(const HttpRouter &) = delete;
  HttpRouter &operator=(const HttpRouter &) = delete;
  ~HttpRouter();

  // `owner` tags the route so remove_routes(owner) can drop a plugin's routes. Fails (false,
  // with *why set) for a malformed pattern or a route that already exists.
  bool add_route(const std::string &method, const std::string &pattern, size_t max_body,
                 HttpHandler handler, const void *owner, std::string *why);
  void remove_routes(const void *owner);
  // Without a check, large bodies need no token (a router without authentication, in tests).
  void set_token_check(TokenCheck check) { token_check_ = std::move(check); }

  // Listens on address:port (port 0 = any free port). Returns the port, or an Error.
  Result<int> listen(const std::string &address, int port);
  // Graceful stop, in two steps. drain(): new requests get 503 while those in progress may
  // still be answered; pending() tells how many are left. close(): disconnects every client
  // and drops what is still pending (call it once nothing can answer them any more).
  void drain() { draining_ = true; }
  size_t pending() const { return pending_.size(); }
  void close();

  SoupServer *server() const { return server_.get(); }
  // The stream under the connection that carries `msg` (borrowed; null if not ours).
  GramothiClientStream *client_stream(SoupServerMessage *msg) const {
    return guard_->stream_of(msg);
  }

 private:
  friend void exchange_respond(GramothiHttpExchange *, unsigned, const char *, const void *,
                               size_t);
  friend struct PacedBody;
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{name}" for a placeholder
    size_t max_body;
    HttpHandler handler;
    const void *owner;
  };
  struct Match {
    const Route *route = nullptr;
    bool path_known = false;  // some route matches the path with another method
    std::string allow;
    std::map<std::string, std::string> params;
  };
  Match match(const char *method, const char *path) const;
  // Answers before the body is read (body_length -1: unknown); see the .cpp for when it hangs up.
  void refuse_early(SoupServerMessage *msg, unsigned status, const Error &error,
                    goffset body_length, bool challenge);

  static void early_handler(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                            gpointer self);
  static void handler(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *query,
                      gpointer self);

  GRef<SoupServer> server_;
  std::unique_ptr<ConnectionGuard> guard_;
  TokenCheck token_check_;
  std::vector<Route> routes_;
  std::set<GramothiHttpExchange *> pending_;
  std::set<PacedBody *> paced_;  // responses still going out at their pace (owned)
  size_t windowed_ = 0;          // ... of which by a first window (exchange_set_first_window)
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace gramothi
