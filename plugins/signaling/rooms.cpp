#include "rooms.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "handlers.hpp"
#include "signaling.hpp"

namespace gramothi::signaling {

namespace {

void send_to(const Room &room, const std::string &text, Audience audience) {
  for (const std::shared_ptr<Client> &c : room.clients)
    if (c->authenticated && (audience == Audience::kEveryone || c->is_staff())) c->send(text);
}

// The link as the server sees it, from media_stats, in coarse figures (whole percent, 10 ms) so
// the list is resent when the link really changed, not for every jitter: the teacher may be on
// a slow link too.
void add_link(JsonBuilder *b, JsonObject *stats) {
  json_builder_set_member_name(b, "link");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "profile");
  json_builder_add_string_value(b,
                                json_object_get_string_member_with_default(stats, "profile", ""));
  json_builder_set_member_name(b, "pinned");
  json_builder_add_boolean_value(
      b, json_object_get_boolean_member_with_default(stats, "pinned", FALSE));
  json_builder_set_member_name(b, "loss_pct");
  json_builder_add_int_value(
      b, std::llround(json_object_get_double_member_with_default(stats, "loss_pct", 0)));
  json_builder_set_member_name(b, "rtt_ms");
  json_builder_add_int_value(
      b, 10 * std::llround(json_object_get_double_member_with_default(stats, "rtt_ms", 0) / 10));
  json_builder_end_object(b);
}

// {"type": "presence", "connected", "listeners", "teacher_live"}: counts of sockets, no names.
std::string presence_message(const Room &room) {
  int listeners = 0, connected = 0;
  bool teacher_live = false;
  for (const std::shared_ptr<Client> &c : room.clients) {
    if (!c->authenticated) continue;
    connected++;
    if (c->hearing()) listeners++;
    if (c->publishing()) teacher_live = true;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "presence");
  json_builder_set_member_name(b, "connected");
  json_builder_add_int_value(b, connected);
  json_builder_set_member_name(b, "listeners");
  json_builder_add_int_value(b, listeners);
  json_builder_set_member_name(b, "teacher_live");
  json_builder_add_boolean_value(b, teacher_live);
  json_builder_end_object(b);
  return to_json(b);
}

// The coalesced send: the counts to every socket of each class whose presence changed, and the
// list to its teachers; the list alone where only it changed.
gboolean send_pending_presence(gpointer signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  s.presence_timer = 0;
  s.presence_sent_at_us = g_get_monotonic_time();
  std::set<std::string> presence = std::move(s.presence_pending);
  std::set<std::string> roster = std::move(s.roster_pending);
  s.presence_pending.clear();
  s.roster_pending.clear();
  roster.insert(presence.begin(), presence.end());
  for (const std::string &id : presence) {
    auto room = s.rooms.find(id);
    if (room != s.rooms.end())
      send_to(room->second, presence_message(room->second), Audience::kEveryone);
  }
  for (const std::string &id : roster)
    refresh_listeners(s, id);
  return G_SOURCE_REMOVE;
}

void schedule_presence(Signaling &s) {
  if (s.presence_timer) return;
  int64_t due = s.presence_sent_at_us + int64_t{kPresenceIntervalMs} * 1000;
  int64_t wait_ms = std::max<int64_t>(0, (due - g_get_monotonic_time() + 999) / 1000);
  s.presence_timer = g_timeout_add(static_cast<guint>(wait_ms), send_pending_presence, &s);
}

}  // namespace

Client *other_socket_of_user(const Room &room, const Client &c,
                             const std::function<bool(const Client &)> &match) {
  auto mine = room.by_user.find(c.who.user_id);
  if (mine == room.by_user.end()) return nullptr;
  for (Client *o : mine->second)
    if (o != &c && match(*o)) return o;
  return nullptr;
}

void broadcast(Signaling &s, const std::string &class_id, const std::string &text,
               Audience audience) {
  auto room = s.rooms.find(class_id);
  if (room != s.rooms.end()) send_to(room->second, text, audience);
}

void presence_changed(Signaling &s, const std::string &class_id) {
  s.presence_pending.insert(class_id);
  schedule_presence(s);
}

void roster_changed(Signaling &s, const std::string &class_id) {
  if (!GRAMOTHI_HOST_HAS(s.host, media_stats)) return;
  s.roster_pending.insert(class_id);
  schedule_presence(s);
}

// Every authenticated socket of the class but the publisher's and the staff's own that hear no
// audio, sorted by user, with its listener's profile and link; the first kMaxListedPeople of
// them, with how many there are ("total") and how many listen. A listener connected ahead of its
// student's tap (held) counts as not listening yet.
std::string listeners_message(const Signaling &s, const Room &room) {
  std::vector<const Client *> people;
  size_t listening = 0;
  for (const std::shared_ptr<Client> &c : room.clients)
    if (c->authenticated && !c->publishing() && !(c->is_staff() && !c->hearing())) {
      people.push_back(c.get());
      if (c->hearing()) listening++;
    }
  size_t listed = std::min(people.size(), kMaxListedPeople);
  auto by_user = [](const Client *a, const Client *b) {
    int k = g_strcmp0(a->who.user_id, b->who.user_id);
    return k != 0 ? k < 0 : a < b;
  };
  std::partial_sort(people.begin(), people.begin() + static_cast<std::ptrdiff_t>(listed),
                    people.end(), by_user);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "listeners");
  json_builder_set_member_name(b, "total");
  json_builder_add_int_value(b, static_cast<gint64>(people.size()));
  json_builder_set_member_name(b, "listening");
  json_builder_add_int_value(b, static_cast<gint64>(listening));
  json_builder_set_member_name(b, "people");
  json_builder_begin_array(b);
  for (size_t i = 0; i < listed; i++) {
    const Client *c = people[i];
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "user_id");
    json_builder_add_string_value(b, c->who.user_id);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, role_name(c->who.role));
    json_builder_set_member_name(b, "listening");
    json_builder_add_boolean_value(b, c->hearing());
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, c->hearing() ? c->media_state.c_str() : "");
    g_autofree char *stats = c->hearing() ? s.host->media_stats(c->peer.get()) : nullptr;
    g_autoptr(JsonParser) p = json_parser_new();
    if (stats && json_parser_load_from_data(p, stats, -1, nullptr) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
      add_link(b, json_node_get_object(json_parser_get_root(p)));
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return to_json(b);
}

void refresh_listeners(Signaling &s, const std::string &class_id) {
  if (!GRAMOTHI_HOST_HAS(s.host, media_stats)) return;
  auto room = s.rooms.find(class_id);
  if (room == s.rooms.end()) return;
  if (std::none_of(room->second.clients.begin(), room->second.clients.end(),
                   [](const auto &c) { return c->authenticated && c->is_staff(); })) {
    room->second.last_listeners.clear();  // stale by the time a teacher comes
    return;
  }
  std::string text = listeners_message(s, room->second);
  if (text == room->second.last_listeners) return;
  room->second.last_listeners = text;
  send_to(room->second, text, Audience::kStaff);
}

// A teacher who joins a big class does not cost a new list: what the others got is at most one
// interval old, and the join itself marked the class, so a newer list follows if it differs.
void send_listeners_to(Signaling &s, Client &staff) {
  auto room = s.rooms.find(staff.class_id);
  if (room == s.rooms.end() || !GRAMOTHI_HOST_HAS(s.host, media_stats)) return;
  if (room->second.last_listeners.empty())
    room->second.last_listeners = listeners_message(s, room->second);
  staff.send(room->second.last_listeners);
}

JsonObject *parse_event(JsonParser *p, const char *payload) {
  if (!json_parser_load_from_data(p, payload, -1, nullptr)) return nullptr;
  JsonNode *root = json_parser_get_root(p);
  return root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : nullptr;
}

std::string payload_class(JsonParser *p, const char *payload) {
  JsonObject *o = parse_event(p, payload);
  return o ? json_object_get_string_member_with_default(o, "class_id", "") : "";
}

// A class that went live: everyone already on its socket hears it (students waiting for the
// teacher then listen).
void on_class_started(const char *, const char *payload, void *signaling) {
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  broadcast(*static_cast<Signaling *>(signaling), class_id,
            message("class-started", {{"class_id", class_id}}));
}

// The class ended: every authenticated socket hears it and is closed.
void on_class_stopped(const char *, const char *payload, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  g_autoptr(JsonParser) p = json_parser_new();
  std::string class_id = payload_class(p, payload);
  auto room = s.rooms.find(class_id);
  if (room == s.rooms.end()) return;
  std::string text = message("class-ended", {{"class_id", class_id}});
  // A copy: closing a socket may take it out of the room.
  for (const std::shared_ptr<Client> &c : std::set(room->second.clients)) {
    if (!c->authenticated) continue;
    c->send(text);
    c->joined = false;  // the stop closed attendance already
    c->close(1000, "class ended");
  }
}

// An admin changed the class's teachers: every authenticated socket of it asks again what it
// may do (a teacher no longer assigned stops seeing the roster, or is closed if nothing else
// lets them attend).
void on_class_teachers(const char *, const char *payload, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  g_autoptr(JsonParser) p = json_parser_new();
  auto room = s.rooms.find(payload_class(p, payload));
  if (room == s.rooms.end()) return;
  for (const std::shared_ptr<Client> &c : std::set(room->second.clients))
    if (c->authenticated && !c->closing) check_access(*c, [](Client &) {});
}

// The class's recording started, stopped or failed: its teachers and admins hear it
// ({"type": "recording", "recording_id", "state", "error"}), and so does a teacher who connects
// later (the plugin keeps the last one).
void on_recording_state(const char *, const char *payload, void *signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *o = parse_event(p, payload);
  if (!o) return;
  std::string class_id = json_object_get_string_member_with_default(o, "class_id", "");
  std::string text =
      message("recording",
              {{"recording_id", json_object_get_string_member_with_default(o, "recording_id", "")},
               {"state", json_object_get_string_member_with_default(o, "state", "")},
               {"error", json_object_get_string_member_with_default(o, "error", "")}});
  s.recording_news[class_id] = text;
  broadcast(s, class_id, text, Audience::kStaff);
}

}  // namespace gramothi::signaling
