/* signaling — the class WebSocket: auth, WebRTC negotiation for the teacher (publish) and the
 * students (listen), profile choice and bandwidth reports, presence, slides, chat, and the end
 * of the class. The protocol, message by message, is in api/signaling.md.
 *
 * Endpoint: GET /api/v1/streaming/ws/{class_id} (WebSocket). The token comes as the first
 * message {"type":"authenticate","token":…}, an "Authorization: Bearer" header, or the
 * subprotocols "gramothi, gramothi.bearer.<jwt>" (a browser's way to send it with the upgrade);
 * a socket with ?token= in its URL is closed (4401 token_in_url). A socket is closed when its
 * token expires (4401 token_expired) unless it sent a new token for the same user before.
 *
 * Options ([plugin.signaling] in the server config):
 *   max_message_bytes = 65536   larger messages get an error ("message_too_large"); 1024..1048576
 *   auth_timeout_ms   = 10000   a socket that does not authenticate in time is closed; 100..600000
 *   rate_per_second   = 20      messages per second a client may send (burst: 5 s worth); beyond
 *                               it one rate_limited a second, and a flood is closed (1008);
 *                               1..10000
 *   chat_per_minute   = 20      chat messages a user may send per minute (burst: 5); 1..6000
 *   max_sockets_per_user = 5    authenticated sockets of one user in one class; one more closes
 *                               the oldest (4409 too_many_sockets); 1..1000
 *
 * Example:
 *   [plugins]
 *   load = rest;signaling
 *
 *   [plugin.signaling]
 *   max_message_bytes = 16384
 *   chat_per_minute = 10
 *
 * The parts, one file each: connection.cpp (a socket's life and authentication), dispatch.cpp
 * (message checks and routing), media.cpp, slides.cpp, chat.cpp (the messages by subject),
 * rooms.cpp (who is in which class, presence, class events), client.cpp (one socket).
 */
#include <memory>
#include <string>
#include <vector>

#include "handlers.hpp"

namespace gramothi::signaling {

namespace {

constexpr const char *kWsPath = "/api/v1/streaming/ws/{class_id}";
constexpr guint kListenersIntervalMs = 3000;

// The bus events the plugin follows (user_data: the Signaling).
struct Subscription {
  const char *topic;
  GramothiEventCallback callback;
};
constexpr Subscription kSubscriptions[] = {
    {"class.stopped", on_class_stopped},     {"class.started", on_class_started},
    {"recording.state", on_recording_state}, {"slides.sync", on_slides_sync},
    {"slides.progress", on_slides_progress}, {"chat.message", on_chat_message},
    {"chat.removed", on_chat_removed},       {"class.teachers", on_class_teachers},
};

int64_t option(const GramothiHost *host, GramothiPluginContext *ctx, const char *key,
               int64_t fallback, int64_t lo, int64_t hi, bool *ok) {
  const char *v = host->config_get(ctx, key);
  if (!v) return fallback;
  gint64 out = 0;
  if (!g_ascii_string_to_signed(v, 10, lo, hi, &out, nullptr)) {
    *ok = false;
    return fallback;
  }
  return out;
}

// Link figures move without any message: the teachers' lists are checked now and then (with
// the other changes, at most once per presence interval).
gboolean refresh_all_listeners(gpointer signaling) {
  auto &s = *static_cast<Signaling *>(signaling);
  for (const auto &[id, room] : s.rooms)
    roster_changed(s, id);
  return G_SOURCE_CONTINUE;
}

int32_t signaling_init(const GramothiHost *host, GramothiPluginContext *ctx, void **state,
                       char *error, size_t error_size) {
  if (!GRAMOTHI_HOST_HAS(host, class_access)) {
    g_strlcpy(error, "the host is older than plugin ABI 1.6 (no class grants)", error_size);
    return GRAMOTHI_E_INVALID;
  }
  bool ok = true;
  Options o;
  o.max_message = static_cast<size_t>(
      option(host, ctx, "max_message_bytes", 64 * 1024, 1024, 1024 * 1024, &ok));
  o.auth_timeout_ms = option(host, ctx, "auth_timeout_ms", 10000, 100, 600000, &ok);
  o.rate_per_second = static_cast<double>(option(host, ctx, "rate_per_second", 20, 1, 10000, &ok));
  o.chat_per_minute = static_cast<double>(option(host, ctx, "chat_per_minute", 20, 1, 6000, &ok));
  o.max_sockets_per_user =
      static_cast<size_t>(option(host, ctx, "max_sockets_per_user", 5, 1, 1000, &ok));
  if (!ok) {
    g_strlcpy(error,
              "bad option: max_message_bytes 1024..1048576, auth_timeout_ms 100..600000, "
              "rate_per_second 1..10000, chat_per_minute 1..6000, max_sockets_per_user 1..1000",
              error_size);
    return GRAMOTHI_E_INVALID;
  }
  auto s = std::make_unique<Signaling>(host, ctx, o);
  int32_t rc = host->ws_route(ctx, kWsPath, o.max_message, &kWsHandlers, s.get());
  if (rc != GRAMOTHI_OK) {
    g_strlcpy(error, "cannot register the WebSocket route", error_size);
    return rc;
  }
  for (const Subscription &sub : kSubscriptions)
    s->subscriptions.push_back(host->event_subscribe(ctx, sub.topic, sub.callback, s.get()));
  if (GRAMOTHI_HOST_HAS(host, media_stats))
    s->listeners_timer = g_timeout_add(kListenersIntervalMs, refresh_all_listeners, s.get());
  host->log(ctx, GRAMOTHI_LOG_DEBUG, (std::string("WebSocket at ") + kWsPath).c_str());
  *state = s.release();
  return GRAMOTHI_OK;
}

void signaling_shutdown(void *state) {
  delete static_cast<Signaling *>(state);
}

const GramothiPluginDescriptor kDescriptor = {
    .abi_major = GRAMOTHI_PLUGIN_ABI_MAJOR,
    .abi_minor = GRAMOTHI_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(GramothiPluginDescriptor),
    .reserved = 0,
    .name = "signaling",
    .version = "0.1.0",
    .description = "The class WebSocket: auth, WebRTC negotiation, profiles, presence",
    .init = signaling_init,
    .shutdown = signaling_shutdown,
};

}  // namespace

Signaling::~Signaling() {
  if (listeners_timer) g_source_remove(listeners_timer);
  if (presence_timer) g_source_remove(presence_timer);
  for (int64_t id : subscriptions)
    if (id > 0) host->event_unsubscribe(ctx, id);
}

}  // namespace gramothi::signaling

extern "C" GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &gramothi::signaling::kDescriptor;
}
