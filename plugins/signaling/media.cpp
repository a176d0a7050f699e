// A socket's media session: the teacher publishes (the client offers), a student listens (the
// server offers); answers, ICE candidates, profile choice and bandwidth reports; and what the
// media engine reports back.
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "../common/http_json.hpp"
#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

// What the media engine reports about a client's peer (user_data: the Client).

void on_local_description(const char *type, const char *sdp, void *client) {
  auto &c = *static_cast<Client *>(client);
  // A listener's offer carries its session's key (for `resume`).
  if (c.listening() && !c.session_key.empty())
    return c.send(message(type, {{"sdp", sdp}, {"session", c.session_key}}));
  c.send(message(type, {{"sdp", sdp}}));
}

// 32 hex digits from the kernel's random source.
std::string new_session_key() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (errno != EINTR)
      g_error("getrandom failed");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string key;
  for (uint8_t b : bytes) {
    key += kHex[b >> 4];
    key += kHex[b & 15];
  }
  return key;
}

// Equal, in time that does not depend on where the strings differ.
bool same_key(const std::string &a, const std::string &b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); i++)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void on_local_candidate(uint32_t mline, const char *candidate, void *client) {
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
  static_cast<Client *>(client)->send(to_json(b));
}

void on_peer_state(const char *state, const char *detail, void *client) {
  auto &c = *static_cast<Client *>(client);
  c.send(message("media-state", {{"state", state}, {"detail", detail ? detail : ""}}));
  c.media_state = state;
  if (strcmp(state, "closed") == 0)
    stop_media(c);
  else
    roster_changed(c.plugin, c.class_id);
}

void on_profile_changed(const char *profile, const char *reason, void *client) {
  auto &c = *static_cast<Client *>(client);
  c.send(message("profile-changed", {{"profile", profile}, {"reason", reason}}));
  // The slide on screen again, at the new profile's size.
  bool changed = c.profile != profile;
  c.profile = profile;
  c.profile_pinned = strcmp(reason, "pinned") == 0;
  if (changed) send_current_slide(c, "profile");
  roster_changed(c.plugin, c.class_id);
}

constexpr GramothiMediaCallbacks kMediaCallbacks = {
    .local_description = on_local_description,
    .local_candidate = on_local_candidate,
    .state = on_peer_state,
    .profile_changed = on_profile_changed,
};

// What publish and listen need from a class status: is it live, and is `user` the teacher of
// its live session (who may publish even if no longer assigned).
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
  const char *teacher = json_object_get_string_member_with_default(o, "teacher_id", "");
  f.owned_by_user = g_strcmp0(teacher, user) == 0;
  return f;
}

// Replaces the client's media session with a new publisher (`arg`: the offer) or listener
// (`arg`: the profile; `held`: connected ahead of the tap, sent nothing until `play`); on
// failure answers the publish or listen and returns false.
bool open_session(Client &c, MediaRole role, const std::string &arg, bool held = false) {
  bool publisher = role == MediaRole::kPublisher;
  stop_media(c);
  c.media_state = "new";
  Signaling &s = c.plugin;
  auto open = publisher ? s.host->media_publish
              : held    ? s.host->media_listen_held
                        : s.host->media_listen;
  GramothiError e{};
  c.peer.reset(open(s.ctx, &c.who, c.class_id.c_str(), arg.c_str(), &kMediaCallbacks, &c, &e));
  if (!c.peer) {
    c.send_error(e.code, e.message, publisher ? "publish" : "listen");
    return false;
  }
  c.media_role = role;
  c.held = held;
  c.session_key = publisher ? "" : new_session_key();
  return true;
}

// The user attends the class from its first audio on (REST join).
void record_attendance(Client &c) {
  if (c.joined) return;
  c.joined = true;
  Signaling &s = c.plugin;
  s.host->class_join(s.ctx, &c.who, c.class_id.c_str(), ignore_result, nullptr);
}

// handle_publish, step 2: with the class's status, check it and publish.
void publish_if_allowed(Client &c, const GramothiError *error, const char *status,
                        const std::string &sdp) {
  if (c.closing) return;  // e.g. given up for another socket (resume) while this was asked
  if (error) return c.send_error(error->code, error->message, "publish");
  ClassFacts facts = class_facts(status, c.who.user_id);
  if (!facts.live)
    return c.send_error("class_not_live", "Start the class before publishing.", "publish");
  if (!c.teaches && !facts.owned_by_user)
    return c.send_error("not_class_owner", "Only the class's teacher may publish.", "publish");
  if (open_session(c, MediaRole::kPublisher, sdp)) presence_changed(c.plugin, c.class_id);
}

// start_listening, step 2: with the class's status, check it and listen.
void listen_if_live(Client &c, const GramothiError *error, const char *status,
                    const std::string &profile, bool held) {
  if (c.closing) return;  // e.g. given up for another socket (resume) while this was asked
  if (error) return c.send_error(error->code, error->message, "listen");
  if (!class_facts(status, c.who.user_id).live)
    return c.send_error("class_not_live", "The class has not started yet.", "listen");
  if (!open_session(c, MediaRole::kListener, profile, held)) return;
  if (!held) record_attendance(c);
  presence_changed(c.plugin, c.class_id);
}

void start_listening(Client &c, std::string profile, bool held) {
  ask_about_class(c, c.plugin.host->class_status,
                  [profile = std::move(profile), held](Client &c, const GramothiError *error,
                                                       const char *status) {
                    listen_if_live(c, error, status, profile, held);
                  });
}

// handle_listen without a profile, step 2: the one the user chose before, else automatic.
void listen_with_stored_profile(Client &c, const GramothiError *error, const char *json,
                                bool held) {
  std::string stored = "auto";
  g_autoptr(JsonParser) p = json_parser_new();
  if (!error && json && json_parser_load_from_data(p, json, -1, nullptr)) {
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    JsonNode *n = json_object_get_member(o, "profile");
    if (n && JSON_NODE_HOLDS_VALUE(n)) stored = json_node_get_string(n);
  }
  start_listening(c, stored, held);
}

}  // namespace

void stop_media(Client &c) {
  if (!c.peer) return;
  c.peer.reset();
  c.held = false;
  c.session_key.clear();
  presence_changed(c.plugin, c.class_id);
}

void handle_publish(Client &c, const JsonFields &f) {
  if (c.who.role == GRAMOTHI_ROLE_STUDENT)
    return c.send_error("forbidden_role", "Students may not publish audio.", "publish");
  // Rights are asked afresh: the teacher may have been unassigned since the socket opened.
  check_access(c, [sdp = std::string(f.string("sdp"))](Client &c) {
    ask_about_class(c, c.plugin.host->class_status,
                    [sdp](Client &c, const GramothiError *error, const char *status) {
                      publish_if_allowed(c, error, status, sdp);
                    });
  });
}

// A `listen` without a profile uses the one the student chose before (REST or WebSocket), if
// any; otherwise automatic.
// `held`: the listener connects now and gets the audio on `play` (a page that connects while its
// student reads, so that the tap costs one message).
void handle_listen(Client &c, const JsonFields &f) {
  bool held = f.boolean("held");
  if (held && !GRAMOTHI_HOST_HAS(c.plugin.host, media_listen_held))
    return c.send_error("media_unavailable", "This server cannot hold a listener.", "listen");
  if (const char *profile = f.string("profile")) return start_listening(c, profile, held);
  Signaling &s = c.plugin;
  Completion done =
      when_answered(c, [held](Client &c, const GramothiError *error, const char *json) {
        listen_with_stored_profile(c, error, json, held);
      });
  s.host->class_pinned_profile(s.ctx, &c.who, c.class_id.c_str(), done.callback, done.user_data);
}

// Another socket of the same user, stalled (a TCP connection backed off on a saturated link),
// hands its listener session to this one: the audio goes on as it was, without a new offer,
// ICE or DTLS. `session` is the key its offer carried.
void handle_resume(Client &c, const JsonFields &f) {
  std::string key = f.string("session");
  auto room = c.plugin.rooms.find(c.class_id);
  Client *from = room == c.plugin.rooms.end()
                     ? nullptr
                     : other_socket_of_user(room->second, c, [&key](const Client &o) {
                         return o.listening() && same_key(o.session_key, key);
                       });
  if (!from)
    return c.send_error("no_session", "No audio session to resume here; send 'listen'.", "resume");
  if (!GRAMOTHI_HOST_HAS(c.plugin.host, media_rebind))
    return c.send_error("media_unavailable", "This server cannot move a session.", "resume");
  stop_media(c);
  c.peer = std::move(from->peer);
  c.plugin.host->media_rebind(c.peer.get(), &c);
  c.media_role = from->media_role;
  c.held = std::exchange(from->held, false);
  c.session_key = std::exchange(from->session_key, "");
  c.profile = from->profile;
  c.profile_pinned = from->profile_pinned;
  c.media_state = std::exchange(from->media_state, "");
  // The attendance goes with the audio: the old socket's close is not a leave.
  if (std::exchange(from->joined, false)) c.joined = true;
  c.send(std::string("{\"type\":\"resumed\",\"profile\":") + plugin::quote(c.profile) +
         ",\"state\":" + plugin::quote(c.media_state) + ",\"held\":" + (c.held ? "true" : "false") +
         "}");
  presence_changed(c.plugin, c.class_id);
  // The socket given up on is closed: what it still carries (a listen, a play sent while it
  // stalled) must not act on the session it no longer has.
  from->close(4410, "resumed");
}

// A held listener gets the audio from now on; a listener that is not held: nothing to do.
void handle_play(Client &c, const JsonFields &) {
  if (!c.listening()) return c.send_error("not_listening", "Send 'listen' before 'play'.", "play");
  if (!c.held) return;
  if (!GRAMOTHI_HOST_HAS(c.plugin.host, media_play))
    return c.send_error("media_unavailable", "This server cannot hold a listener.", "play");
  GramothiError e{};
  if (c.plugin.host->media_play(c.peer.get(), &e) != GRAMOTHI_OK)
    return c.send_error(e.code, e.message, "play");
  c.held = false;
  record_attendance(c);
  presence_changed(c.plugin, c.class_id);
}

void handle_answer(Client &c, const JsonFields &f) {
  if (!c.listening())
    return c.send_error("unexpected_answer", "There is no offer to answer; send 'listen'.",
                        "answer");
  GramothiError e{};
  if (c.plugin.host->media_answer(c.peer.get(), f.string("sdp"), &e) != GRAMOTHI_OK)
    c.send_error(e.code, e.message, "answer");
}

void handle_ice_candidate(Client &c, const JsonFields &f) {
  const char *candidate = f.string("candidate");
  if (!c.peer)
    return c.send_error("no_session", "Send 'publish' or 'listen' before candidates.",
                        "ice-candidate");
  // "candidate:..." lines only; an empty one marks the end.
  if (candidate && *candidate && !g_str_has_prefix(candidate, "candidate:"))
    return c.send_error("invalid_field", "Field 'candidate' must start with 'candidate:'.",
                        "ice-candidate");
  auto mline = static_cast<uint32_t>(f.number("sdpMLineIndex").value_or(0));
  GramothiError e{};
  if (c.plugin.host->media_add_candidate(c.peer.get(), mline, candidate, &e) != GRAMOTHI_OK)
    c.send_error(e.code, e.message, "ice-candidate");
}

void handle_profile(Client &c, const JsonFields &f) {
  const char *profile = f.string("profile");
  if (!c.listening())
    return c.send_error("not_listening", "Send 'listen' before choosing a profile.", "profile");
  Signaling &s = c.plugin;
  GramothiError e{};
  if (s.host->media_set_profile(c.peer.get(), profile, &e) != GRAMOTHI_OK)
    return c.send_error(e.code, e.message, "profile");
  // Remember the choice, as the REST bandwidth-profile does.
  s.host->class_pin_profile(s.ctx, &c.who, c.class_id.c_str(), profile, ignore_result, nullptr);
}

void handle_bandwidth_report(Client &c, const JsonFields &f) {
  if (!c.listening())
    return c.send_error("not_listening", "Send 'listen' before bandwidth reports.",
                        "bandwidth-report");
  // Absent figures are unknown: negative.
  std::optional<int64_t> loss_pct = f.number("loss_pct");
  auto downlink = static_cast<int32_t>(f.number("downlink_kbps").value_or(-1));
  auto rtt = static_cast<int32_t>(f.number("rtt_ms").value_or(-1));
  double loss = loss_pct ? static_cast<double>(*loss_pct) / 100.0 : -1.0;
  std::optional<bool> downloading = f.maybe_boolean("downloading");
  const GramothiHost *host = c.plugin.host;
  GramothiError e{};
  if (GRAMOTHI_HOST_HAS(host, media_client_report_downloads))
    host->media_client_report_downloads(c.peer.get(), downlink, rtt, loss,
                                        downloading ? (*downloading ? 1 : 0) : -1, &e);
  else
    host->media_client_report(c.peer.get(), downlink, rtt, loss, &e);
}

void handle_stop_media(Client &c, const JsonFields &) {
  stop_media(c);
}

}  // namespace gramothi::signaling
