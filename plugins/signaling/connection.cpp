// A socket's life: it opens into its class's room, authenticates (an Authorization header, a
// "gramothi.bearer.<jwt>" subprotocol, or an `authenticate` message before auth_timeout_ms; a
// token in the URL is refused), hears what the class is up to, may renew its token with another
// `authenticate`, is closed when its token expires, and closes out of the room.
#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "../common/http_json.hpp"
#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

gboolean on_token_expired(gpointer client);

// Closes the socket when its token expires (who.expires_at, by the server's clock).
void arm_expiry_timer(Client &c) {
  c.cancel_expiry_timer();
  int64_t left_ms = c.who.expires_at * 1000 - g_get_real_time() / 1000;
  left_ms = std::clamp<int64_t>(left_ms, 0, std::numeric_limits<int32_t>::max());
  c.expiry_timer = g_timeout_add(static_cast<guint>(left_ms), on_token_expired, &c);
}

gboolean on_token_expired(gpointer client) {
  auto &c = *static_cast<Client *>(client);
  c.expiry_timer = 0;
  // The timer runs on the monotonic clock: if the wall clock says it is early, wait again.
  if (g_get_real_time() / G_USEC_PER_SEC < c.who.expires_at) {
    arm_expiry_timer(c);
    return G_SOURCE_REMOVE;
  }
  c.send_error("token_expired", "Your token expired. Connect again with a new one.");
  c.close(4401, "token_expired");
  return G_SOURCE_REMOVE;
}

// One user may hold max_sockets_per_user authenticated sockets in a class: a new one closes the
// oldest (a tab left open, a socket whose network died), not the other way round.
void admit_socket_of_user(Room &room, Client &c, size_t max_sockets) {
  std::vector<Client *> &mine = room.by_user[c.who.user_id];
  while (mine.size() >= max_sockets) {
    Client *oldest = mine.front();
    mine.erase(mine.begin());
    oldest->send_error("too_many_sockets",
                       "You opened this class on too many sockets; this one was closed.");
    oldest->close(4409, "too_many_sockets");
  }
  mine.push_back(&c);
}

void forget_socket_of_user(Room &room, Client &c) {
  auto mine = room.by_user.find(c.who.user_id);
  if (mine == room.by_user.end()) return;
  std::erase(mine->second, &c);
  if (mine->second.empty()) room.by_user.erase(mine);
}

// The host's class_access answer for the socket's principal: records whether it teaches the
// class and returns true when it may attend; otherwise tells the client and closes the socket
// (4403 not_in_class, or 4404 when the class id is malformed or storage failed).
bool admit_to_class(Client &c, const GramothiError *error, const char *json, const char *about) {
  if (error) {
    c.send_error(error->code, error->message, about);
    c.close(4404, error->code);
    return false;
  }
  if (!strstr(json, "\"attend\":true")) {
    c.send_error("not_in_class", "You are not a member of class '" + c.class_id + "'.", about);
    c.close(4403, "not_in_class");
    return false;
  }
  c.teaches = strstr(json, "\"teach\":true") != nullptr;
  return true;
}

// authenticate, step 4: the class exists (its status goes into the answer), or the socket
// closes with 4404.
void on_class_found(Client &c, const GramothiError *error, const char *status_json) {
  Signaling &s = c.plugin;
  c.checking_token = false;
  if (c.closing) return;
  if (error) {
    c.send_error(error->code, error->message, "authenticate");
    c.close(4404, error->code);
    return;
  }
  c.authenticated = true;
  arm_expiry_timer(c);
  Room &room = s.rooms[c.class_id];
  admit_socket_of_user(room, c, s.options.max_sockets_per_user);
  // The STUN/TURN servers (REST ice-servers' answer) come along: the page needs them for the
  // offer that follows, and a REST request for them would cost a round trip (seconds on 2G).
  char *ice = GRAMOTHI_HOST_HAS(s.host, ice_servers_json) ? s.host->ice_servers_json(s.ctx, &c.who)
                                                          : nullptr;
  std::string ice_json = ice ? ice : "null";
  s.host->free(ice);
  c.send(std::string("{\"type\":\"authenticated\",\"role\":\"") + role_name(c.who.role) +
         "\",\"user_id\":" + plugin::quote(c.who.user_id) +
         ",\"expires_at\":" + std::to_string(c.who.expires_at) + ",\"class\":" +
         (c.is_staff() ? std::string(status_json) : plugin::without_recording(status_json)) +
         ",\"ice\":" + ice_json + "}");
  presence_changed(s, c.class_id);
  if (c.is_staff()) send_listeners_to(s, c);
  auto news = s.recording_news.find(c.class_id);
  if (c.is_staff() && news != s.recording_news.end()) c.send(news->second);
  fetch_current_slide(c);
  send_chat_history(c);
  handle_waiting(c);
}

// authenticate, step 3: the caller may attend the class (or the socket closes with 4403); look
// the class up.
void on_access(Client &c, const GramothiError *error, const char *json) {
  if (c.closing) return;
  if (!admit_to_class(c, error, json, "authenticate")) {
    c.checking_token = false;
    return;
  }
  ask_about_class(c, c.plugin.host->class_status, on_class_found);
}

// authenticate, step 2: the token is good; ask what it allows in this class.
void on_token_verified(Client &c) {
  c.cancel_auth_timer();
  c.checking_token = true;
  Completion done = when_answered(c, on_access);
  c.plugin.host->class_access(c.plugin.ctx, &c.who, c.class_id.c_str(), done.callback,
                              done.user_data);
}

// Checks `authorization` ("Bearer <jwt>"); a rejected token closes the socket with 4401.
void authenticate(Client &c, const std::string &authorization) {
  Signaling &s = c.plugin;
  GramothiError e{};
  if (s.host->auth_verify(s.ctx, authorization.c_str(), &c.who, &e) != GRAMOTHI_OK) {
    c.send_error(e.code, e.message, "authenticate");
    c.close(4401, e.code);
    return;
  }
  on_token_verified(c);
}

// A new token on an authenticated socket, before the old one expires: for the same user and
// role (the socket's class stays the same), it moves the socket's expiry. A token that is
// refused leaves the socket as it was, on its old token; a valid one that no longer opens the
// class closes it (4403).
void renew_token(Client &c, const std::string &authorization) {
  Signaling &s = c.plugin;
  GramothiPrincipal who{};
  GramothiError e{};
  if (s.host->auth_verify(s.ctx, authorization.c_str(), &who, &e) != GRAMOTHI_OK)
    return c.send_error(e.code, e.message, "authenticate");
  if (strcmp(who.user_id, c.who.user_id) != 0 || who.role != c.who.role)
    return c.send_error("token_mismatch",
                        "A new token must be for the same user and role as the socket's.",
                        "authenticate");
  // The new token's grants decide from now on: it must still open this class.
  c.who = who;
  arm_expiry_timer(c);
  check_access(c, [](Client &c) {
    c.send("{\"type\":\"token-renewed\",\"expires_at\":" + std::to_string(c.who.expires_at) + "}");
  });
}

// The token in a Sec-WebSocket-Protocol list ("gramothi, gramothi.bearer.<jwt>"), if any.
std::optional<std::string> bearer_subprotocol(const char *protocols) {
  constexpr std::string_view kPrefix = "gramothi.bearer.";
  if (!protocols) return std::nullopt;
  g_auto(GStrv) items = g_strsplit(protocols, ",", -1);
  for (char **item = items; *item; item++) {
    std::string_view p = g_strstrip(*item);
    if (p.size() > kPrefix.size() && p.substr(0, kPrefix.size()) == kPrefix)
      return std::string(p.substr(kPrefix.size()));
  }
  return std::nullopt;
}

gboolean on_auth_timeout(gpointer client) {
  auto &c = *static_cast<Client *>(client);
  c.auth_timer = 0;
  c.send_error("auth_timeout", "No 'authenticate' message in time.");
  c.close(4401, "auth_timeout");
  return G_SOURCE_REMOVE;
}

void ws_opened(GramothiWsConnection *conn, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  const char *class_id = s.host->ws_param(conn, "class_id");
  auto c = std::make_shared<Client>(s, conn, class_id ? class_id : "");
  s.host->ws_set_data(conn, c.get());
  s.rooms[c->class_id].clients.insert(c);
  // A token in a URL ends up in logs and browser history, where it outlives the class.
  if (s.host->ws_query(conn, "token")) {
    c->send_error("token_in_url",
                  "Do not put the token in the URL: send {\"type\":\"authenticate\",\"token\":"
                  "\"...\"} as the first message, or an Authorization header.",
                  "authenticate");
    return c->close(4401, "token_in_url");
  }
  const char *header = s.host->ws_header(conn, "Authorization");
  if (header && *header) return authenticate(*c, header);
  // A browser cannot set a header but can name subprotocols: "gramothi.bearer.<jwt>" among them
  // authenticates with the upgrade, which saves the round trip of an `authenticate` message.
  if (auto bearer = bearer_subprotocol(s.host->ws_header(conn, "Sec-WebSocket-Protocol")))
    return authenticate(*c, "Bearer " + *bearer);
  c->auth_timer =
      g_timeout_add(static_cast<guint>(s.options.auth_timeout_ms), on_auth_timeout, c.get());
}

void ws_message(GramothiWsConnection *conn, const char *data, size_t length, int is_text,
                void *signaling) {
  auto *c = static_cast<Client *>(static_cast<Signaling *>(signaling)->host->ws_get_data(conn));
  if (c && !c->closing) handle_message(*c, data, length, is_text != 0);
}

void ws_closed(GramothiWsConnection *conn, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  auto *client = static_cast<Client *>(s.host->ws_get_data(conn));
  if (!client) return;
  // The last owner once it leaves the room: the client (and its timers) ends with this call,
  // and answers still on their way to it find it gone.
  std::shared_ptr<Client> c = client->shared_from_this();
  stop_media(*c);
  auto room = s.rooms.find(c->class_id);
  // Attendance is per user: the leave is recorded unless another socket of the user hears the
  // class (a listen there replaced this one's session).
  bool heard_elsewhere =
      room != s.rooms.end() &&
      other_socket_of_user(room->second, *c, [](const Client &o) { return o.hearing(); });
  if (c->joined && !heard_elsewhere)
    s.host->class_leave(s.ctx, &c->who, c->class_id.c_str(), ignore_result, nullptr);
  if (room == s.rooms.end()) return;
  room->second.clients.erase(c);
  if (c->authenticated) {
    forget_socket_of_user(room->second, *c);
    presence_changed(s, c->class_id);
  }
  if (room->second.clients.empty()) s.rooms.erase(room);
}

}  // namespace

const GramothiWsHandlers kWsHandlers = {
    .opened = ws_opened,
    .message = ws_message,
    .closed = ws_closed,
};

void check_access(Client &c, std::function<void(Client &)> then) {
  Completion done = when_answered(
      c, [then = std::move(then)](Client &c, const GramothiError *error, const char *json) {
        if (!c.closing && admit_to_class(c, error, json, "access")) then(c);
      });
  c.plugin.host->class_access(c.plugin.ctx, &c.who, c.class_id.c_str(), done.callback,
                              done.user_data);
}

void handle_authenticate(Client &c, const JsonFields &f) {
  std::string authorization = std::string("Bearer ") + f.string("token");
  if (c.authenticated) return renew_token(c, authorization);
  if (c.checking_token)
    return c.refuse("already_authenticated", "The socket's token is being checked already.",
                    "authenticate");
  authenticate(c, authorization);
}

}  // namespace gramothi::signaling
