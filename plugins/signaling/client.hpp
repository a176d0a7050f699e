// One WebSocket client of a class, what it is sent, and how host answers find it again.
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "gramothi/plugin.h"
#include "rate_gate.hpp"

namespace gramothi::signaling {

struct Signaling;

// Ends a media peer: a client's session is the plugin's to close (media_close).
struct PeerCloser {
  const GramothiHost *host;
  void operator()(GramothiMediaPeer *peer) const { host->media_close(peer); }
};
using MediaPeer = std::unique_ptr<GramothiMediaPeer, PeerCloser>;

enum class MediaRole { kPublisher, kListener };

// One socket of a class. Owned by shared_ptr: its Room holds it from `opened` to `closed`.
// Host answers that may come after the socket closed reach it through when_answered (a
// weak_ptr). The host's WebSocket, media and timer callbacks get a raw Client *: the client
// closes its peer and removes its timers before it dies, and the host calls no WebSocket
// handler after `closed`.
struct Client : std::enable_shared_from_this<Client> {
  // Before authentication a socket gets this many error answers; the next refusal closes it.
  static constexpr int kRefusalsBeforeAuth = 3;

  Client(Signaling &plugin, GramothiWsConnection *conn, std::string class_id);
  ~Client();  // removes the timers and ends the media session, telling nobody
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  bool publishing() const { return peer && media_role == MediaRole::kPublisher; }
  bool listening() const { return peer && media_role == MediaRole::kListener; }
  // A listener that gets the audio: not one connected ahead of its student's tap (`held`).
  bool hearing() const { return listening() && !held; }
  // A teacher of this class or an admin: sees the roster and the recording state.
  bool is_staff() const;

  void send(const std::string &json) const;
  // {"type": "error", "code", "message", "about"?}
  void send_error(const char *code, const std::string &text, const char *about = nullptr) const;
  // The answer to a message the socket may not send or got wrong: send_error, except that a
  // socket that is not authenticated gets only kRefusalsBeforeAuth answers, and its next
  // refusal closes it with 4401 "not_authenticated".
  void refuse(const char *code, const std::string &text, const char *about = nullptr);
  // Starts the closing handshake (`closed` follows); the socket's later messages are dropped.
  void close(uint16_t code, const char *reason);
  void cancel_auth_timer();
  void cancel_expiry_timer();

  Signaling &plugin;                 // borrowed: the plugin outlives its clients
  GramothiWsConnection *const conn;  // borrowed from the host until `closed`
  const std::string class_id;
  bool authenticated = false;
  bool checking_token = false;  // an `authenticate` is under way (its class lookup)
  bool closing = false;         // close() was called
  GramothiPrincipal who{};
  bool teaches = false;                         // the host's class_access: may teach this class
  MediaPeer peer;                               // the media session, or null
  MediaRole media_role = MediaRole::kListener;  // what `peer` is
  bool joined = false;                          // attendance recorded
  bool held = false;  // a listener connected ahead of the tap: sent nothing until `play`
  // The listener session's key (32 hex digits, random), sent with its offer: another socket of
  // the same user takes the session over with it (`resume`) when this one stalls.
  std::string session_key;
  guint auth_timer = 0;
  guint expiry_timer = 0;       // closes the socket when its token expires
  std::string profile;          // the listener's profile, for slide images ("" until it listens)
  bool profile_pinned = false;  // ... chosen by the student, not measured from its link
  std::string media_state;      // the host's word for the session's last state ("" without one)
  RateGate rate;                // the socket's message rate (dispatch.cpp)
  int refusals_before_auth = 0;
  // Messages that came while the token was being checked (a client that authenticated with the
  // upgrade may send `listen` at once), handled in order once `authenticated` is out; at most
  // kMaxWaiting, dropped if the token is refused.
  static constexpr size_t kMaxWaiting = 4;
  std::vector<std::string> waiting;
};

// A host result callback and its user_data, for one call that answers exactly once.
struct Completion {
  GramothiResultCallback callback;
  void *user_data;
};
using ClientResult = std::function<void(Client &, const GramothiError *error, const char *json)>;

// `then` runs with `c` when the host answers, unless the socket closed first: the completion
// holds a weak_ptr and lock()s it.
Completion when_answered(Client &c, ClientResult then);

// A host query about one class: (ctx, class_id, done, user_data), e.g. class_status.
using ClassQuery = void (*)(GramothiPluginContext *, const char *, GramothiResultCallback, void *);
// Asks `query` about the client's class; `then` gets the answer if the socket is still open.
void ask_about_class(Client &c, ClassQuery query, ClientResult then);

// For host calls whose answer nobody waits for.
void ignore_result(const GramothiError *, const char *, void *);

std::string to_json(JsonBuilder *b);

// {"type": type, key: value, ...} with string values.
std::string message(const char *type,
                    std::initializer_list<std::pair<const char *, std::string>> fields);

const char *role_name(int32_t role);

}  // namespace gramothi::signaling
