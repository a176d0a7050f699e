// A socket's life: it opens into its class's room, authenticates (token in the URL, an
// Authorization header, or an `authenticate` message before auth_timeout_ms), hears what the
// class is up to, and closes out of the room.
#include <cstring>

#include "../common/http_json.hpp"
#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

// authenticate, step 4: the class exists (its status goes into the answer), or the socket
// closes with 4404.
void on_class_found(Client &c, const GramothiError *error, const char *status_json) {
  Signaling &s = c.plugin;
  if (error) {
    c.send_error(error->code, error->message, "authenticate");
    s.host->ws_close(c.conn, 4404, error->code);
    return;
  }
  c.authenticated = true;
  c.send(std::string("{\"type\":\"authenticated\",\"role\":\"") + role_name(c.who.role) +
         "\",\"user_id\":" + plugin::quote(c.who.user_id) + ",\"class\":" + status_json + "}");
  broadcast_presence(s, c, "connected");
  auto room = s.rooms.find(c.class_id);
  if (c.is_staff() && room != s.rooms.end() && GRAMOTHI_HOST_HAS(s.host, media_stats))
    c.send(listeners_message(s, room->second));
  auto news = s.recording_news.find(c.class_id);
  if (c.is_staff() && news != s.recording_news.end()) c.send(news->second);
  fetch_current_slide(c);
  send_chat_history(c);
}

// authenticate, step 3: the caller may attend the class (or the socket closes with 4403); look
// the class up.
void on_access(Client &c, const GramothiError *error, const char *json) {
  Signaling &s = c.plugin;
  if (error) {
    c.send_error(error->code, error->message, "authenticate");
    s.host->ws_close(c.conn, 4403, error->code);
    return;
  }
  if (!strstr(json, "\"attend\":true")) {
    c.send_error("not_in_class", "You are not a member of class '" + c.class_id + "'.",
                 "authenticate");
    s.host->ws_close(c.conn, 4403, "not_in_class");
    return;
  }
  c.teaches = strstr(json, "\"teach\":true") != nullptr;
  ask_about_class(c, s.host->class_status, on_class_found);
}

// authenticate, step 2: the token is good; ask what it allows in this class.
void on_token_verified(Client &c) {
  c.cancel_auth_timer();
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
    s.host->ws_close(c.conn, 4401, e.code);
    return;
  }
  on_token_verified(c);
}

gboolean on_auth_timeout(gpointer client) {
  auto &c = *static_cast<Client *>(client);
  c.auth_timer = 0;
  c.send_error("auth_timeout", "No 'authenticate' message in time.");
  c.plugin.host->ws_close(c.conn, 4401, "auth_timeout");
  return G_SOURCE_REMOVE;
}

void ws_opened(GramothiWsConnection *conn, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  const char *class_id = s.host->ws_param(conn, "class_id");
  auto c = std::make_shared<Client>(s, conn, class_id ? class_id : "");
  s.host->ws_set_data(conn, c.get());
  s.rooms[c->class_id].clients.insert(c);
  const char *token = s.host->ws_query(conn, "token");
  const char *header = s.host->ws_header(conn, "Authorization");
  if (token && *token) return authenticate(*c, std::string("Bearer ") + token);
  if (header && *header) return authenticate(*c, header);
  c->auth_timer =
      g_timeout_add(static_cast<guint>(s.options.auth_timeout_ms), on_auth_timeout, c.get());
}

void ws_message(GramothiWsConnection *conn, const char *data, size_t length, int is_text,
                void *signaling) {
  auto *c = static_cast<Client *>(static_cast<Signaling *>(signaling)->host->ws_get_data(conn));
  if (c) handle_message(*c, data, length, is_text != 0);
}

void ws_closed(GramothiWsConnection *conn, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  auto *client = static_cast<Client *>(s.host->ws_get_data(conn));
  if (!client) return;
  // The last owner once it leaves the room: the client (and its auth timer) ends with this call,
  // and answers still on their way to it find it gone.
  std::shared_ptr<Client> c = client->shared_from_this();
  stop_media(*c);
  if (c->joined) s.host->class_leave(s.ctx, &c->who, c->class_id.c_str(), ignore_result, nullptr);
  auto room = s.rooms.find(c->class_id);
  if (room == s.rooms.end()) return;
  room->second.clients.erase(c);
  if (c->authenticated) broadcast_presence(s, *c, "disconnected");
  if (room->second.clients.empty()) s.rooms.erase(room);
}

}  // namespace

const GramothiWsHandlers kWsHandlers = {
    .opened = ws_opened,
    .message = ws_message,
    .closed = ws_closed,
};

void handle_authenticate(Client &c, const JsonFields &f) {
  authenticate(c, std::string("Bearer ") + f.string("token"));
}

}  // namespace gramothi::signaling
