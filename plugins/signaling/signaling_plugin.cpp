/* signaling — the class WebSocket: auth, WebRTC negotiation for the teacher (publish) and the
 * students (listen), profile choice and bandwidth reports, presence, and the end of the class.
 * The protocol, message by message, is in api/signaling.md.
 *
 * Endpoint: GET /api/v1/streaming/ws/{class_id} (WebSocket). The token may come as ?token=,
 * an "Authorization: Bearer" header, or the first message {"type":"authenticate","token":…}.
 *
 * Options ([plugin.signaling] in the server config):
 *   max_message_bytes = 65536   larger messages get an error ("message_too_large")
 *   auth_timeout_ms   = 10000   a socket that does not authenticate in time is closed
 *   rate_per_second   = 20      messages per second a client may send (burst: 5 s worth)
 *   chat_per_minute   = 20      chat messages a user may send per minute (burst: 5)
 *
 * Example:
 *   [plugins]
 *   load = rest;signaling
 */
#include <glib.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gramothi/plugin.h"

namespace {

const GramothiHost *host = nullptr;
GramothiPluginContext *ctx = nullptr;

size_t max_message = 64 * 1024;
int64_t auth_timeout_ms = 10000;
double rate_per_second = 20;

constexpr size_t kMaxSdp = 32 * 1024;
constexpr size_t kMaxCandidate = 1024;

struct Client;

// Everyone connected to one class, for presence and the end of the class.
struct Room {
  std::set<Client *> clients;
  std::string current_slide;   // the last slides.sync event for the class (JSON), "" = none
  std::string last_listeners;  // the last `listeners` message sent to its teachers
};
std::map<std::string, Room> rooms;
int64_t stopped_subscription = 0, sync_subscription = 0, progress_subscription = 0;
int64_t chat_subscription = 0, chat_removed_subscription = 0, started_subscription = 0;
int64_t recording_subscription = 0;
std::map<std::string, std::string> recording_news;  // class id -> the last "recording" message
guint listeners_timer = 0;
constexpr guint kListenersIntervalMs = 3000;
double chat_per_minute = 20;  // sustained; a burst of 5 is allowed
// Chat allowance per class and user (all their sockets, and across reconnects): tokens and
// when they were counted. Entries full again are dropped now and then.
std::map<std::pair<std::string, std::string>, std::pair<double, int64_t>> chat_allowance;
constexpr size_t kMaxChatBytes = 4096;

struct Client {
  GramothiWsConnection *conn = nullptr;
  std::string class_id;
  bool authenticated = false;
  GramothiPrincipal who{};
  GramothiMediaPeer *peer = nullptr;
  bool publisher = false;
  bool joined = false;  // attendance recorded
  guint auth_timer = 0;
  std::string profile;      // the listener's profile, for slide images ("" until it listens)
  std::string media_state;  // the media session's last state ("" without a session)
  double tokens = 0;
  int64_t tokens_at_us = 0;
  // Completions that may arrive after the socket closed check this.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

void log(int level, const std::string &m) {
  host->log(ctx, level, m.c_str());
}

std::string to_json(JsonBuilder *b) {
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, nullptr);
  return text;
}

void send(Client *c, const std::string &json) {
  host->ws_send(c->conn, json.c_str());
}

void send_error(Client *c, const char *code, const std::string &message,
                const char *about = nullptr) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "error");
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, code);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  if (about) {
    json_builder_set_member_name(b, "about");
    json_builder_add_string_value(b, about);
  }
  json_builder_end_object(b);
  send(c, to_json(b));
}

// {"type": type, key: value, ...} with string values.
std::string message(const char *type,
                    std::initializer_list<std::pair<const char *, std::string>> kv) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, type);
  for (const auto &[k, v] : kv) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, v.c_str());
  }
  json_builder_end_object(b);
  return to_json(b);
}

const char *role_name(int32_t role) {
  switch (role) {
    case GRAMOTHI_ROLE_TEACHER:
      return "teacher";
    case GRAMOTHI_ROLE_ADMIN:
      return "admin";
    default:
      return "student";
  }
}

void refresh_listeners(const std::string &class_id, bool force);

void broadcast_presence(const std::string &class_id, const char *event, const Client *about) {
  auto it = rooms.find(class_id);
  if (it == rooms.end()) return;
  int listeners = 0, connected = 0;
  bool teacher_live = false;
  for (Client *c : it->second.clients) {
    if (!c->authenticated) continue;
    connected++;
    if (c->peer && !c->publisher) listeners++;
    if (c->peer && c->publisher) teacher_live = true;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "presence");
  json_builder_set_member_name(b, "event");
  json_builder_add_string_value(b, event);
  json_builder_set_member_name(b, "user_id");
  json_builder_add_string_value(b, about->who.user_id);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, role_name(about->who.role));
  json_builder_set_member_name(b, "listeners");
  json_builder_add_int_value(b, listeners);
  json_builder_set_member_name(b, "connected");
  json_builder_add_int_value(b, connected);
  json_builder_set_member_name(b, "teacher_live");
  json_builder_add_boolean_value(b, teacher_live);
  json_builder_end_object(b);
  std::string text = to_json(b);
  for (Client *c : it->second.clients)
    if (c->authenticated) send(c, text);
  refresh_listeners(class_id, false);
}

bool is_staff(const Client *c) {
  return c->who.role == GRAMOTHI_ROLE_TEACHER || c->who.role == GRAMOTHI_ROLE_ADMIN;
}

// {"type": "listeners", "people": [...]}: every authenticated socket of the class but the
// staff's own that have no listener session, with its listener's profile and link as the server
// sees it. For the teacher's list.
std::string listeners_message(const Room &room) {
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "listeners");
  json_builder_set_member_name(b, "people");
  json_builder_begin_array(b);
  std::vector<const Client *> people;
  for (const Client *c : room.clients)
    if (c->authenticated && !(c->publisher && c->peer) && !(is_staff(c) && !c->peer))
      people.push_back(c);
  std::sort(people.begin(), people.end(), [](const Client *a, const Client *b) {
    int k = g_strcmp0(a->who.user_id, b->who.user_id);
    return k != 0 ? k < 0 : a < b;
  });
  for (const Client *c : people) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user_id");
    json_builder_add_string_value(b, c->who.user_id);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, role_name(c->who.role));
    json_builder_set_member_name(b, "listening");
    json_builder_add_boolean_value(b, c->peer != nullptr);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, c->peer ? c->media_state.c_str() : "");
    g_autofree char *stats = c->peer ? host->media_stats(c->peer) : nullptr;
    g_autoptr(JsonParser) p = json_parser_new();
    if (stats && json_parser_load_from_data(p, stats, -1, nullptr) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
      // Coarse figures (whole percent, 10 ms), so the list is resent when the link really
      // changed, not for every jitter: the teacher may be on a slow link too.
      JsonObject *o = json_node_get_object(json_parser_get_root(p));
      json_builder_set_member_name(b, "link");
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "profile");
      json_builder_add_string_value(b,
                                    json_object_get_string_member_with_default(o, "profile", ""));
      json_builder_set_member_name(b, "pinned");
      json_builder_add_boolean_value(
          b, json_object_get_boolean_member_with_default(o, "pinned", FALSE));
      json_builder_set_member_name(b, "loss_pct");
      json_builder_add_int_value(
          b, std::llround(json_object_get_double_member_with_default(o, "loss_pct", 0)));
      json_builder_set_member_name(b, "rtt_ms");
      json_builder_add_int_value(
          b, 10 * std::llround(json_object_get_double_member_with_default(o, "rtt_ms", 0) / 10));
      json_builder_end_object(b);
    }
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return to_json(b);
}

// Sends the class's teachers the listener list when it changed (or always, with `force`).
void refresh_listeners(const std::string &class_id, bool force) {
  if (!GRAMOTHI_HOST_HAS(host, media_stats)) return;
  auto it = rooms.find(class_id);
  if (it == rooms.end()) return;
  bool staff = false;
  for (const Client *c : it->second.clients)
    staff = staff || (c->authenticated && is_staff(c));
  if (!staff) return;
  std::string text = listeners_message(it->second);
  if (!force && text == it->second.last_listeners) return;
  it->second.last_listeners = text;
  for (Client *c : it->second.clients)
    if (c->authenticated && is_staff(c)) send(c, text);
}

// ---- slides ----

const char *str_member(JsonObject *o, const char *name, bool *bad);
int64_t int_member(JsonObject *o, const char *name, int64_t lo, int64_t hi, bool *bad);

// The slide-sync message for one client, in the original module's shape, with the image of
// that client's profile: a listener's current profile; otherwise the profile listeners start
// at (the second one) for students, and the largest for teachers, who present on big screens.
// `event` is a slides.sync payload: {class_id, action, timestamp, slide, next}.
std::string slide_message(const std::string &event, const Client *c, const char *action) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, event.c_str(), -1, nullptr)) return "";
  JsonObject *e = json_node_get_object(json_parser_get_root(p));
  JsonObject *slide = json_object_get_object_member(e, "slide");
  if (!slide) return "";
  auto pick = [&](JsonObject *sl) -> JsonObject * {
    JsonObject *images = sl ? json_object_get_object_member(sl, "images") : nullptr;
    if (!images || json_object_get_size(images) == 0) return nullptr;
    if (!c->profile.empty() && json_object_has_member(images, c->profile.c_str()))
      return json_object_get_object_member(images, c->profile.c_str());
    g_autoptr(GList) names = json_object_get_members(images);
    guint n = g_list_length(names);
    guint index = c->who.role == GRAMOTHI_ROLE_STUDENT ? (n > 1 ? 1 : 0) : n - 1;
    return json_object_get_object_member(images,
                                         static_cast<const char *>(g_list_nth_data(names, index)));
  };
  JsonObject *image = pick(slide);
  JsonNode *next_node = json_object_get_member(e, "next");
  JsonObject *next =
      next_node && JSON_NODE_HOLDS_OBJECT(next_node) ? json_node_get_object(next_node) : nullptr;
  JsonObject *next_image = pick(next);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "slide-sync");
  json_builder_set_member_name(b, "data");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "action");
  json_builder_add_string_value(
      b, action ? action : json_object_get_string_member_with_default(e, "action", "goto"));
  json_builder_set_member_name(b, "slide_id");
  json_builder_add_string_value(b,
                                json_object_get_string_member_with_default(slide, "slide_id", ""));
  json_builder_set_member_name(b, "slide_data");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "file_url");
  if (image)
    json_builder_add_string_value(b, json_object_get_string_member_with_default(image, "url", ""));
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "order_no");
  json_builder_add_int_value(b, json_object_get_int_member_with_default(slide, "order_no", 0));
  if (image) {
    json_builder_set_member_name(b, "width");
    json_builder_add_int_value(b, json_object_get_int_member_with_default(image, "width", 0));
    json_builder_set_member_name(b, "height");
    json_builder_add_int_value(b, json_object_get_int_member_with_default(image, "height", 0));
  }
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, json_object_get_string_member_with_default(slide, "text", ""));
  json_builder_set_member_name(b, "next_file_url");
  if (next_image)
    json_builder_add_string_value(
        b, json_object_get_string_member_with_default(next_image, "url", ""));
  else
    json_builder_add_null_value(b);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "timestamp");
  json_builder_add_int_value(b, json_object_get_int_member_with_default(e, "timestamp", 0));
  json_builder_end_object(b);
  json_builder_end_object(b);
  return to_json(b);
}

void send_current_slide(Client *c, const char *action) {
  auto room = rooms.find(c->class_id);
  if (room == rooms.end() || room->second.current_slide.empty() || !c->authenticated) return;
  std::string text = slide_message(room->second.current_slide, c, action);
  if (!text.empty()) send(c, text);
}

std::string payload_class(JsonParser *p, const char *payload) {
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return "";
  JsonNode *root = json_parser_get_root(p);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) return "";
  return json_object_get_string_member_with_default(json_node_get_object(root), "class_id", "");
}

// Every connected client of the class gets the new slide at its own profile.
void on_slides_sync(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  auto room = rooms.find(payload_class(p, payload));
  if (room == rooms.end()) return;
  room->second.current_slide = payload;
  for (Client *c : std::set<Client *>(room->second.clients))
    if (c->authenticated) send_current_slide(c, nullptr);
}

// The teacher (and admins) see the deck's rendering progress.
void on_slides_progress(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  auto room = rooms.find(payload_class(p, payload));
  if (room == rooms.end()) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "slides-progress");
  for (const char *k : {"deck_id", "status"}) {
    json_builder_set_member_name(b, k);
    json_builder_add_string_value(b, json_object_get_string_member_with_default(o, k, ""));
  }
  for (const char *k : {"pages_total", "pages_done", "pages_failed"}) {
    json_builder_set_member_name(b, k);
    JsonNode *n = json_object_get_member(o, k);
    if (n && JSON_NODE_HOLDS_VALUE(n))
      json_builder_add_int_value(b, json_node_get_int(n));
    else
      json_builder_add_null_value(b);
  }
  json_builder_end_object(b);
  std::string text = to_json(b);
  for (Client *c : room->second.clients)
    if (c->authenticated && c->who.role != GRAMOTHI_ROLE_STUDENT) send(c, text);
}

// A late joiner (or the first socket of a class after a restart) is shown the current slide.
void fetch_current_slide(Client *c) {
  if (!GRAMOTHI_HOST_HAS(host, slides_list)) return;
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  host->slides_list(
      ctx, c->class_id.c_str(),
      [](const GramothiError *error, const char *json, void *data) {
        std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
        if (!*x->alive || error) return;
        Client *c = x->c;
        auto room = rooms.find(c->class_id);
        if (room == rooms.end()) return;
        if (room->second.current_slide.empty()) {
          g_autoptr(JsonParser) p = json_parser_new();
          if (!json_parser_load_from_data(p, json, -1, nullptr)) return;
          JsonObject *o = json_node_get_object(json_parser_get_root(p));
          const char *current =
              json_object_get_string_member_with_default(o, "current_slide_id", "");
          JsonArray *slides = json_object_get_array_member(o, "slides");
          JsonNode *cur = nullptr, *next = nullptr;
          for (guint i = 0; slides && i < json_array_get_length(slides) && !next; i++) {
            JsonObject *sl = json_array_get_object_element(slides, i);
            if (cur && g_strcmp0(json_object_get_string_member_with_default(sl, "status", ""),
                                 "ready") == 0)
              next = json_array_get_element(slides, i);
            if (!cur && *current &&
                g_strcmp0(json_object_get_string_member_with_default(sl, "slide_id", ""),
                          current) == 0)
              cur = json_array_get_element(slides, i);
          }
          if (!cur) return;
          g_autoptr(JsonBuilder) b = json_builder_new();
          json_builder_begin_object(b);
          json_builder_set_member_name(b, "class_id");
          json_builder_add_string_value(b, c->class_id.c_str());
          json_builder_set_member_name(b, "action");
          json_builder_add_string_value(b, "current");
          json_builder_set_member_name(b, "timestamp");
          json_builder_add_int_value(b, g_get_real_time() / 1000);
          json_builder_set_member_name(b, "slide");
          json_builder_add_value(b, json_node_copy(cur));
          json_builder_set_member_name(b, "next");
          if (next)
            json_builder_add_value(b, json_node_copy(next));
          else
            json_builder_add_null_value(b);
          json_builder_end_object(b);
          room->second.current_slide = to_json(b);
        }
        send_current_slide(c, "current");
      },
      new Ctx{c, c->alive});
}

void handle_slide_sync(Client *c, JsonObject *o) {
  bool bad = false;
  const char *action = str_member(o, "action", &bad);
  if (!action || bad)
    return send_error(c, "missing_field", "Field 'action' is required.", "slide-sync");
  const char *slide_id = str_member(o, "slide_id", &bad);
  int64_t order_no = int_member(o, "order_no", 1, 100000, &bad);
  if (bad)
    return send_error(c, "invalid_field",
                      "'slide_id' must be a string and 'order_no' a whole number from 1.",
                      "slide-sync");
  if (!GRAMOTHI_HOST_HAS(host, slides_sync))
    return send_error(c, "slides_unavailable", "This server has no slides.", "slide-sync");
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  host->slides_sync(
      ctx, &c->who, c->class_id.c_str(), action, slide_id, order_no < 0 ? 0 : order_no,
      [](const GramothiError *error, const char *json, void *data) {
        std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
        if (!*x->alive) return;
        if (error) return send_error(x->c, error->code, error->message, "slide-sync");
        // A move reaches everyone (this socket too) as slide-sync; a no-op is answered here.
        g_autoptr(JsonParser) p = json_parser_new();
        if (!json_parser_load_from_data(p, json, -1, nullptr)) return;
        JsonObject *r = json_node_get_object(json_parser_get_root(p));
        if (json_object_get_boolean_member_with_default(r, "changed", FALSE)) return;
        send(x->c,
             message("slide-sync-result",
                     {{"changed", "false"},
                      {"reason", json_object_get_string_member_with_default(r, "reason", "")}}));
      },
      new Ctx{c, c->alive});
}

// ---- chat ----

// The class's last messages, to a socket that just authenticated (or came back).
void send_chat_history(Client *c) {
  if (!GRAMOTHI_HOST_HAS(host, chat_recent)) return;
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  host->chat_recent(
      ctx, c->class_id.c_str(),
      [](const GramothiError *error, const char *json, void *data) {
        std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
        if (!*x->alive || error) return;
        // {"messages": [...]} -> {"type": "chat-history", "messages": [...]}
        std::string body = json;
        send(x->c, "{\"type\":\"chat-history\"," + body.substr(1));
      },
      new Ctx{c, c->alive});
}

bool chat_allowed(Client *c) {
  int64_t now = g_get_monotonic_time();
  if (chat_allowance.size() > 10000)  // forget users whose allowance is full again
    std::erase_if(chat_allowance, [&](const auto &e) {
      return e.second.first + (now - e.second.second) / 60e6 * chat_per_minute >= 5.0;
    });
  auto &[tokens, at] =
      chat_allowance.try_emplace({c->class_id, c->who.user_id}, 5.0, 0).first->second;
  if (at) tokens = std::min(5.0, tokens + (now - at) / 60e6 * chat_per_minute);
  at = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

void handle_chat_message(Client *c, JsonObject *o) {
  bool bad = false;
  const char *text = str_member(o, "text", &bad);
  if (!text || bad)
    return send_error(c, "missing_field", "Field 'text' is required.", "chat-message");
  if (strlen(text) > kMaxChatBytes)
    return send_error(c, "invalid_field", "A message may be at most 500 characters.",
                      "chat-message");
  if (!GRAMOTHI_HOST_HAS(host, chat_post))
    return send_error(c, "chat_unavailable", "This server has no chat.", "chat-message");
  if (!chat_allowed(c))
    return send_error(c, "chat_rate_limited", "You are sending messages too fast; wait a little.",
                      "chat-message");
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  // Everyone (this socket too) gets the message as chat-message; only failures answer here.
  host->chat_post(
      ctx, &c->who, c->class_id.c_str(), text,
      [](const GramothiError *error, const char *, void *data) {
        std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
        if (!*x->alive || !error) return;
        // A refused message does not count against the sender's allowance.
        auto a = chat_allowance.find({x->c->class_id, x->c->who.user_id});
        if (a != chat_allowance.end()) a->second.first = std::min(5.0, a->second.first + 1);
        send_error(x->c, error->code, error->message, "chat-message");
      },
      new Ctx{c, c->alive});
}

void handle_chat_remove(Client *c, JsonObject *o) {
  bool bad = false;
  const char *id = str_member(o, "message_id", &bad);
  if (!id || bad || strlen(id) > 64)
    return send_error(c, "missing_field", "Field 'message_id' is required.", "chat-remove");
  if (!GRAMOTHI_HOST_HAS(host, chat_remove))
    return send_error(c, "chat_unavailable", "This server has no chat.", "chat-remove");
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  host->chat_remove(
      ctx, &c->who, c->class_id.c_str(), id,
      [](const GramothiError *error, const char *, void *data) {
        std::unique_ptr<Ctx> x(static_cast<Ctx *>(data));
        if (*x->alive && error) send_error(x->c, error->code, error->message, "chat-remove");
      },
      new Ctx{c, c->alive});
}

void broadcast(const std::string &class_id, const std::string &text) {
  auto room = rooms.find(class_id);
  if (room == rooms.end()) return;
  for (Client *c : room->second.clients)
    if (c->authenticated) send(c, text);
}

void on_chat_message(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  if (class_id.empty()) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  JsonNode *m = json_object_get_member(o, "message");
  if (!m) return;
  g_autofree char *message_json = json_to_string(m, FALSE);
  broadcast(class_id, std::string("{\"type\":\"chat-message\",\"message\":") + message_json + "}");
}

void on_chat_removed(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  if (class_id.empty()) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  broadcast(
      class_id,
      message("chat-removed",
              {{"message_id", json_object_get_string_member_with_default(o, "message_id", "")}}));
}

// ---- media callbacks ----

void on_local_description(const char *type, const char *sdp, void *data) {
  send(static_cast<Client *>(data), message(type, {{"sdp", sdp}}));
}

void on_local_candidate(uint32_t mline, const char *candidate, void *data) {
  auto *c = static_cast<Client *>(data);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "ice-candidate");
  json_builder_set_member_name(b, "candidate");
  if (candidate && *candidate)
    json_builder_add_string_value(b, candidate);
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "sdpMLineIndex");
  json_builder_add_int_value(b, mline);
  json_builder_end_object(b);
  send(c, to_json(b));
}

void on_peer_state(const char *state, const char *detail, void *data) {
  auto *c = static_cast<Client *>(data);
  send(c, message("media-state", {{"state", state}, {"detail", detail ? detail : ""}}));
  c->media_state = state;
  if (strcmp(state, "closed") == 0 && c->peer) {
    GramothiMediaPeer *p = c->peer;
    bool was_publisher = c->publisher;
    c->peer = nullptr;
    host->media_close(p);
    broadcast_presence(c->class_id, was_publisher ? "teacher-left" : "listener-left", c);
  }
}

void on_profile_changed(const char *profile, const char *reason, void *data) {
  auto *c = static_cast<Client *>(data);
  send(c, message("profile-changed", {{"profile", profile}, {"reason", reason}}));
  // The slide on screen again, at the new profile's size.
  bool changed = c->profile != profile;
  c->profile = profile;
  if (changed) send_current_slide(c, "profile");
  refresh_listeners(c->class_id, false);
}

const GramothiMediaCallbacks kMediaCallbacks = {on_local_description, on_local_candidate,
                                                on_peer_state, on_profile_changed};

// ---- messages ----

// A string member, or nullptr; `bad` set when the member exists but is not a string.
const char *str_member(JsonObject *o, const char *name, bool *bad) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_HOLDS_NULL(n)) return nullptr;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
    *bad = true;
    return nullptr;
  }
  return json_node_get_string(n);
}

// An integer member in [lo, hi], or -1 when absent; `bad` when present and wrong.
int64_t int_member(JsonObject *o, const char *name, int64_t lo, int64_t hi, bool *bad) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_HOLDS_NULL(n)) return -1;
  if (!JSON_NODE_HOLDS_VALUE(n)) {
    *bad = true;
    return -1;
  }
  GType t = json_node_get_value_type(n);
  double v = t == G_TYPE_INT64    ? static_cast<double>(json_node_get_int(n))
             : t == G_TYPE_DOUBLE ? json_node_get_double(n)
                                  : (*bad = true, -1.0);
  if (*bad) return -1;
  if (v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
    *bad = true;
    return -1;
  }
  return static_cast<int64_t>(v);
}

void stop_media(Client *c) {
  if (!c->peer) return;
  GramothiMediaPeer *p = c->peer;
  c->peer = nullptr;
  host->media_close(p);
  broadcast_presence(c->class_id, c->publisher ? "teacher-left" : "listener-left", c);
}

void authenticated(Client *c) {
  if (c->auth_timer) g_source_remove(c->auth_timer);
  c->auth_timer = 0;
  // The class must exist; its status goes into the answer.
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  host->class_status(
      ctx, c->class_id.c_str(),
      [](const GramothiError *error, const char *status_json, void *data) {
        auto *x = static_cast<Ctx *>(data);
        Client *c = x->c;
        bool alive = *x->alive;
        delete x;
        if (!alive) return;
        if (error) {
          send_error(c, error->code, error->message, "authenticate");
          host->ws_close(c->conn, 4404, error->code);
          return;
        }
        c->authenticated = true;
        std::string json = std::string("{\"type\":\"authenticated\",\"role\":\"") +
                           role_name(c->who.role) + "\",\"user_id\":";
        g_autoptr(JsonNode) id = json_node_init_string(json_node_alloc(), c->who.user_id);
        g_autofree char *id_text = json_to_string(id, FALSE);
        json += id_text;
        json += ",\"class\":" + std::string(status_json) + "}";
        send(c, json);
        broadcast_presence(c->class_id, "connected", c);
        auto room = rooms.find(c->class_id);
        if (is_staff(c) && room != rooms.end() && GRAMOTHI_HOST_HAS(host, media_stats))
          send(c, listeners_message(room->second));
        auto news = recording_news.find(c->class_id);
        if (is_staff(c) && news != recording_news.end()) send(c, news->second);
        fetch_current_slide(c);
        send_chat_history(c);
      },
      new Ctx{c, c->alive});
}

void handle_authenticate(Client *c, const char *token) {
  std::string header = std::string("Bearer ") + token;
  GramothiError e{};
  if (host->auth_verify(ctx, header.c_str(), &c->who, &e) != GRAMOTHI_OK) {
    send_error(c, e.code, e.message, "authenticate");
    host->ws_close(c->conn, 4401, e.code);
    return;
  }
  authenticated(c);
}

// What publish and listen need from a class status: is it live, and may `user` publish.
struct ClassFacts {
  bool live = false;
  bool owned_by_user = false;
};

ClassFacts class_facts(const char *status_json, const char *user) {
  ClassFacts f;
  g_autoptr(JsonParser) p = json_parser_new();
  if (!status_json || !json_parser_load_from_data(p, status_json, -1, nullptr)) return f;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  f.live = g_strcmp0(json_object_get_string_member_with_default(o, "state", ""), "live") == 0;
  const char *owner = json_object_get_string_member_with_default(o, "owner_id", "");
  const char *teacher = json_object_get_string_member_with_default(o, "teacher_id", "");
  f.owned_by_user = g_strcmp0(owner, user) == 0 || g_strcmp0(teacher, user) == 0;
  return f;
}

// Runs `then(c, status_json)` with the class's current status, if the socket is still open.
void with_status(Client *c, void (*then)(Client *, const GramothiError *, const char *, void *),
                 void *arg) {
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
    void (*then)(Client *, const GramothiError *, const char *, void *);
    void *arg;
  };
  host->class_status(
      ctx, c->class_id.c_str(),
      [](const GramothiError *error, const char *json, void *data) {
        auto *x = static_cast<Ctx *>(data);
        if (*x->alive)
          x->then(x->c, error, json, x->arg);
        else
          g_free(x->arg);
        delete x;
      },
      new Ctx{c, c->alive, then, arg});
}

void handle_publish(Client *c, const char *sdp) {
  if (c->who.role == GRAMOTHI_ROLE_STUDENT) {
    send_error(c, "forbidden_role", "Students may not publish audio.", "publish");
    return;
  }
  with_status(
      c,
      [](Client *c, const GramothiError *error, const char *json, void *arg) {
        g_autofree char *sdp = static_cast<char *>(arg);
        if (error) return send_error(c, error->code, error->message, "publish");
        ClassFacts facts = class_facts(json, c->who.user_id);
        if (!facts.live)
          return send_error(c, "class_not_live", "Start the class before publishing.", "publish");
        if (c->who.role != GRAMOTHI_ROLE_ADMIN && !facts.owned_by_user)
          return send_error(c, "not_class_owner", "Only the class's teacher may publish.",
                            "publish");
        if (c->peer) stop_media(c);
        c->media_state = "new";
        GramothiError e{};
        c->peer =
            host->media_publish(ctx, &c->who, c->class_id.c_str(), sdp, &kMediaCallbacks, c, &e);
        if (!c->peer) return send_error(c, e.code, e.message, "publish");
        c->publisher = true;
        broadcast_presence(c->class_id, "teacher-joined", c);
      },
      g_strdup(sdp));
}

void start_listening(Client *c, const char *profile) {
  with_status(
      c,
      [](Client *c, const GramothiError *error, const char *json, void *arg) {
        g_autofree char *profile = static_cast<char *>(arg);
        if (error) return send_error(c, error->code, error->message, "listen");
        if (!class_facts(json, c->who.user_id).live)
          return send_error(c, "class_not_live", "The class has not started yet.", "listen");
        if (c->peer) stop_media(c);
        c->media_state = "new";
        GramothiError e{};
        c->peer =
            host->media_listen(ctx, &c->who, c->class_id.c_str(), profile, &kMediaCallbacks, c, &e);
        if (!c->peer) return send_error(c, e.code, e.message, "listen");
        c->publisher = false;
        if (!c->joined) {
          c->joined = true;
          host->class_join(
              ctx, &c->who, c->class_id.c_str(), [](const GramothiError *, const char *, void *) {},
              nullptr);
        }
        broadcast_presence(c->class_id, "listener-joined", c);
      },
      g_strdup(profile));
}

// A `listen` without a profile uses the one the student chose before (REST or WebSocket), if
// any; otherwise automatic.
void handle_listen(Client *c, const char *profile) {
  if (profile) return start_listening(c, profile);
  struct Ctx {
    Client *c;
    std::shared_ptr<bool> alive;
  };
  host->class_pinned_profile(
      ctx, &c->who, c->class_id.c_str(),
      [](const GramothiError *error, const char *json, void *data) {
        auto *x = static_cast<Ctx *>(data);
        Client *c = x->c;
        bool alive = *x->alive;
        delete x;
        if (!alive) return;
        std::string stored = "auto";
        g_autoptr(JsonParser) p = json_parser_new();
        if (!error && json && json_parser_load_from_data(p, json, -1, nullptr)) {
          JsonObject *o = json_node_get_object(json_parser_get_root(p));
          JsonNode *n = json_object_get_member(o, "profile");
          if (n && JSON_NODE_HOLDS_VALUE(n)) stored = json_node_get_string(n);
        }
        start_listening(c, stored.c_str());
      },
      new Ctx{c, c->alive});
}

bool rate_ok(Client *c) {
  int64_t now = g_get_monotonic_time();
  double burst = rate_per_second * 5;
  if (c->tokens_at_us == 0) c->tokens = burst;
  c->tokens += (now - c->tokens_at_us) / 1e6 * rate_per_second;
  if (c->tokens > burst) c->tokens = burst;
  c->tokens_at_us = now;
  if (c->tokens < 1) return false;
  c->tokens -= 1;
  return true;
}

void handle_message(Client *c, const char *data, size_t length, int is_text) {
  if (!rate_ok(c)) return send_error(c, "rate_limited", "Too many messages; slow down.");
  if (!is_text) return send_error(c, "invalid_message", "Send JSON text messages, not binary.");
  if (length > max_message)
    return send_error(c, "message_too_large",
                      "Messages may be at most " + std::to_string(max_message) + " bytes.");
  if (!g_utf8_validate(data, static_cast<gssize>(length), nullptr))
    return send_error(c, "invalid_json", "The message is not UTF-8 text.");
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, data, static_cast<gssize>(length), &err))
    return send_error(c, "invalid_json", std::string("The message is not JSON: ") + err->message);
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return send_error(c, "invalid_json", "A message is a JSON object with a \"type\".");
  JsonObject *o = json_node_get_object(root);
  bool bad = false;
  const char *type = str_member(o, "type", &bad);
  if (!type) return send_error(c, "missing_field", "Field 'type' is required.");
  std::string t = type;

  if (t == "ping") return send(c, message("pong", {}));
  if (t == "authenticate") {
    if (c->authenticated)
      return send_error(c, "already_authenticated", "This socket is authenticated already.", type);
    const char *token = str_member(o, "token", &bad);
    if (!token || bad) return send_error(c, "missing_field", "Field 'token' is required.", type);
    return handle_authenticate(c, token);
  }
  if (!c->authenticated)
    return send_error(c, "not_authenticated", "Send 'authenticate' first.", type);

  if (t == "publish") {
    const char *sdp = str_member(o, "sdp", &bad);
    if (!sdp || bad) return send_error(c, "missing_field", "Field 'sdp' is required.", type);
    if (strlen(sdp) > kMaxSdp)
      return send_error(c, "invalid_field", "Field 'sdp' is too long.", type);
    return handle_publish(c, sdp);
  }
  if (t == "listen") {
    const char *profile = str_member(o, "profile", &bad);
    if (bad) return send_error(c, "invalid_field", "Field 'profile' must be a string.", type);
    return handle_listen(c, profile);
  }
  if (t == "answer") {
    const char *sdp = str_member(o, "sdp", &bad);
    if (!sdp || bad) return send_error(c, "missing_field", "Field 'sdp' is required.", type);
    if (strlen(sdp) > kMaxSdp)
      return send_error(c, "invalid_field", "Field 'sdp' is too long.", type);
    if (!c->peer || c->publisher)
      return send_error(c, "unexpected_answer", "There is no offer to answer; send 'listen'.",
                        type);
    GramothiError e{};
    if (host->media_answer(c->peer, sdp, &e) != GRAMOTHI_OK)
      return send_error(c, e.code, e.message, type);
    return;
  }
  if (t == "ice-candidate") {
    const char *cand = str_member(o, "candidate", &bad);
    if (bad) return send_error(c, "invalid_field", "Field 'candidate' must be a string.", type);
    int64_t mline = int_member(o, "sdpMLineIndex", 0, 16, &bad);
    if (bad) return send_error(c, "invalid_field", "Field 'sdpMLineIndex' must be 0 to 16.", type);
    if (cand && strlen(cand) > kMaxCandidate)
      return send_error(c, "invalid_field", "Field 'candidate' is too long.", type);
    if (!c->peer)
      return send_error(c, "no_session", "Send 'publish' or 'listen' before candidates.", type);
    // "candidate:..." lines only; an empty one marks the end.
    if (cand && *cand && !g_str_has_prefix(cand, "candidate:"))
      return send_error(c, "invalid_field", "Field 'candidate' must start with 'candidate:'.",
                        type);
    GramothiError e{};
    if (host->media_add_candidate(c->peer, static_cast<uint32_t>(mline < 0 ? 0 : mline), cand,
                                  &e) != GRAMOTHI_OK)
      return send_error(c, e.code, e.message, type);
    return;
  }
  if (t == "profile") {
    const char *profile = str_member(o, "profile", &bad);
    if (!profile || bad)
      return send_error(c, "missing_field", "Field 'profile' is required.", type);
    if (!c->peer || c->publisher)
      return send_error(c, "not_listening", "Send 'listen' before choosing a profile.", type);
    GramothiError e{};
    if (host->media_set_profile(c->peer, profile, &e) != GRAMOTHI_OK)
      return send_error(c, e.code, e.message, type);
    // Remember the choice, as the REST bandwidth-profile does.
    host->class_pin_profile(
        ctx, &c->who, c->class_id.c_str(), profile,
        [](const GramothiError *, const char *, void *) {}, nullptr);
    return;
  }
  if (t == "bandwidth-report") {
    int64_t down = int_member(o, "downlink_kbps", 0, 10000000, &bad);
    int64_t rtt = int_member(o, "rtt_ms", 0, 600000, &bad);
    int64_t loss = int_member(o, "loss_pct", 0, 100, &bad);
    if (bad)
      return send_error(c, "invalid_field",
                        "downlink_kbps, rtt_ms and loss_pct must be non-negative numbers "
                        "(loss_pct at most 100).",
                        type);
    if (!c->peer || c->publisher)
      return send_error(c, "not_listening", "Send 'listen' before bandwidth reports.", type);
    GramothiError e{};
    host->media_client_report(c->peer, static_cast<int32_t>(down), static_cast<int32_t>(rtt),
                              loss < 0 ? -1.0 : static_cast<double>(loss) / 100.0, &e);
    return;
  }
  if (t == "stop-media") return stop_media(c);
  if (t == "slide-sync") return handle_slide_sync(c, o);
  if (t == "chat-message") return handle_chat_message(c, o);
  if (t == "chat-remove") return handle_chat_remove(c, o);
  send_error(c, "unknown_type", "Unknown message type '" + t + "'.", type);
}

// ---- WebSocket handlers ----

void ws_opened(GramothiWsConnection *conn, void *) {
  auto *c = new Client();
  c->conn = conn;
  c->class_id = host->ws_param(conn, "class_id") ? host->ws_param(conn, "class_id") : "";
  host->ws_set_data(conn, c);
  rooms[c->class_id].clients.insert(c);
  const char *token = host->ws_query(conn, "token");
  const char *auth = host->ws_header(conn, "Authorization");
  if (token && *token) return handle_authenticate(c, token);
  if (auth && *auth) {
    GramothiError e{};
    if (host->auth_verify(ctx, auth, &c->who, &e) != GRAMOTHI_OK) {
      send_error(c, e.code, e.message, "authenticate");
      host->ws_close(conn, 4401, e.code);
      return;
    }
    return authenticated(c);
  }
  c->auth_timer = g_timeout_add(
      static_cast<guint>(auth_timeout_ms),
      [](gpointer d) -> gboolean {
        auto *c = static_cast<Client *>(d);
        c->auth_timer = 0;
        send_error(c, "auth_timeout", "No 'authenticate' message in time.");
        host->ws_close(c->conn, 4401, "auth_timeout");
        return G_SOURCE_REMOVE;
      },
      c);
}

void ws_message(GramothiWsConnection *conn, const char *data, size_t length, int is_text, void *) {
  auto *c = static_cast<Client *>(host->ws_get_data(conn));
  if (c) handle_message(c, data, length, is_text);
}

void ws_closed(GramothiWsConnection *conn, void *) {
  auto *c = static_cast<Client *>(host->ws_get_data(conn));
  if (!c) return;
  *c->alive = false;
  if (c->auth_timer) g_source_remove(c->auth_timer);
  stop_media(c);
  if (c->joined)
    host->class_leave(
        ctx, &c->who, c->class_id.c_str(), [](const GramothiError *, const char *, void *) {},
        nullptr);
  auto room = rooms.find(c->class_id);
  if (room != rooms.end()) {
    room->second.clients.erase(c);
    if (c->authenticated) broadcast_presence(c->class_id, "disconnected", c);
    if (room->second.clients.empty()) rooms.erase(room);
  }
  delete c;
}

const GramothiWsHandlers kWsHandlers = {ws_opened, ws_message, ws_closed};

void on_class_stopped(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return;
  const char *class_id = json_object_get_string_member_with_default(
      json_node_get_object(json_parser_get_root(p)), "class_id", "");
  auto room = rooms.find(class_id);
  if (room == rooms.end()) return;
  std::string text = message("class-ended", {{"class_id", class_id}});
  for (Client *c : std::set<Client *>(room->second.clients)) {
    if (!c->authenticated) continue;
    send(c, text);
    c->joined = false;  // the stop closed attendance already
    host->ws_close(c->conn, 1000, "class ended");
  }
}

// The class's recording started, stopped or failed: its teachers and admins hear it
// ({"type": "recording", "recording_id", "state", "error"}), and so does a teacher who connects
// later (the room keeps the last one).
void on_recording_state(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  std::string class_id = json_object_get_string_member_with_default(o, "class_id", "");
  std::string text =
      message("recording",
              {{"recording_id", json_object_get_string_member_with_default(o, "recording_id", "")},
               {"state", json_object_get_string_member_with_default(o, "state", "")},
               {"error", json_object_get_string_member_with_default(o, "error", "")}});
  recording_news[class_id] = text;
  auto room = rooms.find(class_id);
  if (room == rooms.end()) return;
  for (Client *c : room->second.clients)
    if (c->authenticated && is_staff(c)) send(c, text);
}

// A class that went live: everyone already on its socket hears it (students waiting for the
// teacher then listen).
void on_class_started(const char *, const char *payload, void *) {
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  auto room = rooms.find(class_id);
  if (room == rooms.end()) return;
  std::string text = message("class-started", {{"class_id", class_id}});
  for (Client *c : room->second.clients)
    if (c->authenticated) send(c, text);
}

int64_t option(const char *key, int64_t fallback, int64_t lo, int64_t hi, bool *ok) {
  const char *v = host->config_get(ctx, key);
  if (!v) return fallback;
  gint64 out = 0;
  if (!g_ascii_string_to_signed(v, 10, lo, hi, &out, nullptr)) {
    *ok = false;
    return fallback;
  }
  return out;
}

int32_t signaling_init(const GramothiHost *h, GramothiPluginContext *c, void **, char *error,
                       size_t error_size) {
  host = h;
  ctx = c;
  if (!GRAMOTHI_HOST_HAS(h, class_pinned_profile)) {
    g_strlcpy(error, "the host is older than plugin ABI 1.1 (no WebSocket/media)", error_size);
    return GRAMOTHI_E_INVALID;
  }
  bool ok = true;
  max_message = static_cast<size_t>(option("max_message_bytes", 64 * 1024, 1024, 1024 * 1024, &ok));
  auth_timeout_ms = option("auth_timeout_ms", 10000, 100, 600000, &ok);
  rate_per_second = static_cast<double>(option("rate_per_second", 20, 1, 10000, &ok));
  chat_per_minute = static_cast<double>(option("chat_per_minute", 20, 1, 6000, &ok));
  if (!ok) {
    g_strlcpy(error,
              "bad option: max_message_bytes 1024..1048576, auth_timeout_ms 100..600000, "
              "rate_per_second 1..10000, chat_per_minute 1..6000",
              error_size);
    return GRAMOTHI_E_INVALID;
  }
  int32_t rc =
      host->ws_route(ctx, "/api/v1/streaming/ws/{class_id}", max_message, &kWsHandlers, nullptr);
  if (rc != GRAMOTHI_OK) {
    g_strlcpy(error, "cannot register the WebSocket route", error_size);
    return rc;
  }
  stopped_subscription = host->event_subscribe(ctx, "class.stopped", on_class_stopped, nullptr);
  started_subscription = host->event_subscribe(ctx, "class.started", on_class_started, nullptr);
  recording_subscription =
      host->event_subscribe(ctx, "recording.state", on_recording_state, nullptr);
  if (GRAMOTHI_HOST_HAS(h, media_stats))
    listeners_timer = g_timeout_add(
        kListenersIntervalMs,
        [](gpointer) -> gboolean {
          std::vector<std::string> ids;
          for (const auto &[id, room] : rooms)
            ids.push_back(id);
          for (const auto &id : ids)
            refresh_listeners(id, false);
          return G_SOURCE_CONTINUE;
        },
        nullptr);
  sync_subscription = host->event_subscribe(ctx, "slides.sync", on_slides_sync, nullptr);
  progress_subscription =
      host->event_subscribe(ctx, "slides.progress", on_slides_progress, nullptr);
  chat_subscription = host->event_subscribe(ctx, "chat.message", on_chat_message, nullptr);
  chat_removed_subscription = host->event_subscribe(ctx, "chat.removed", on_chat_removed, nullptr);
  log(GRAMOTHI_LOG_DEBUG, "WebSocket at /api/v1/streaming/ws/{class_id}");
  return GRAMOTHI_OK;
}

void signaling_shutdown(void *) {
  if (listeners_timer) g_source_remove(listeners_timer);
  listeners_timer = 0;
  // The host closed every socket without calling us back; free what is left.
  for (auto &[id, room] : rooms)
    for (Client *c : room.clients) {
      *c->alive = false;
      if (c->auth_timer) g_source_remove(c->auth_timer);
      if (c->peer) host->media_close(c->peer);
      delete c;
    }
  rooms.clear();
  chat_allowance.clear();
  recording_news.clear();
}

const GramothiPluginDescriptor kDescriptor = {
    GRAMOTHI_PLUGIN_ABI_MAJOR,
    GRAMOTHI_PLUGIN_ABI_MINOR,
    sizeof(GramothiPluginDescriptor),
    0,
    "signaling",
    "0.1.0",
    "The class WebSocket: auth, WebRTC negotiation, profiles, presence",
    signaling_init,
    signaling_shutdown,
};

}  // namespace

extern "C" GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &kDescriptor;
}
