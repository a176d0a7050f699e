// Every function of the host table (GramothiHost in api/gramothi/plugin.h, which documents
// them), grouped by subject, each group with the file that defines it. plugin_host.cpp puts them
// into kHostTable; the HTTP exchange accessors come straight from http/http_router.hpp.
// Ownership is the ABI's: strings returned as `char *` are the plugin's (host_free).
#pragma once

#include <cstddef>
#include <cstdint>

#include "gramothi/plugin.h"

namespace gramothi {

// --- the plugin's own context (plugin_host.cpp) ---
void host_free(void *p);
void host_log(GramothiPluginContext *ctx, int32_t level, const char *message);
const char *host_config_get(GramothiPluginContext *ctx, const char *key);
const char *host_data_dir(GramothiPluginContext *ctx);

// --- HTTP routes and exchanges, server health and public configuration (host_http.cpp) ---
int32_t host_http_route(GramothiPluginContext *ctx, const char *method, const char *pattern,
                        size_t max_body, GramothiHttpHandler handler, void *user_data);
const uint8_t *host_http_body(GramothiHttpExchange *ex, size_t *length);
void host_http_pace(GramothiPluginContext *ctx, GramothiHttpExchange *ex, const char *profile);
void host_http_respond(GramothiHttpExchange *ex, uint32_t status, const char *content_type,
                       const void *body, size_t length);
char *host_public_config_json(GramothiPluginContext *ctx);
void host_health(GramothiPluginContext *ctx, GramothiResultCallback done, void *user_data);

// --- tokens and the ICE servers they unlock (host_auth.cpp) ---
int32_t host_auth_verify(GramothiPluginContext *ctx, const char *authorization,
                         GramothiPrincipal *out, GramothiError *error);
int32_t host_auth_token_has_class(GramothiPluginContext *ctx, const char *authorization,
                                  const char *class_id);
char *host_ice_servers_json(GramothiPluginContext *ctx, const GramothiPrincipal *who);
char *host_auth_ticket(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *scope,
                       int64_t ttl_s);
int32_t host_auth_verify_ticket(GramothiPluginContext *ctx, const char *ticket, const char *scope,
                                GramothiPrincipal *out, GramothiError *error);

// --- class lifecycle and attendance (host_classes.cpp) ---
void host_class_start(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data);
void host_class_stop(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data);
void host_class_join(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data);
void host_class_leave(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data);
void host_class_status(GramothiPluginContext *ctx, const char *class_id,
                       GramothiResultCallback done, void *user_data);
void host_class_pin_profile(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                            const char *class_id, const char *profile, GramothiResultCallback done,
                            void *user_data);
void host_class_pinned_profile(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                               const char *class_id, GramothiResultCallback done, void *user_data);
void host_class_attended(GramothiPluginContext *ctx, const char *class_id, const char *user_id,
                         GramothiResultCallback done, void *user_data);
void host_class_access(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                       const char *class_id, GramothiResultCallback done, void *user_data);
void host_class_set_teachers(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                             const char *class_id, const char *const *teachers, size_t n,
                             GramothiResultCallback done, void *user_data);

// --- the event bus (host_events.cpp) ---
int64_t host_event_subscribe(GramothiPluginContext *ctx, const char *prefix,
                             GramothiEventCallback callback, void *user_data);
void host_event_unsubscribe(GramothiPluginContext *ctx, int64_t id);
int32_t host_event_publish(GramothiPluginContext *ctx, const char *topic, const char *payload);

// --- WebSocket routes and connections (host_ws.cpp) ---
int32_t host_ws_route(GramothiPluginContext *ctx, const char *pattern, size_t max_message,
                      const GramothiWsHandlers *handlers, void *user_data);
const char *host_ws_param(GramothiWsConnection *c, const char *name);
const char *host_ws_query(GramothiWsConnection *c, const char *name);
const char *host_ws_header(GramothiWsConnection *c, const char *name);
int32_t host_ws_send(GramothiWsConnection *c, const char *text);
void host_ws_close(GramothiWsConnection *c, uint16_t code, const char *reason);
void host_ws_set_data(GramothiWsConnection *c, void *data);
void *host_ws_get_data(GramothiWsConnection *c);

// --- media peers, listener links and recordings (host_media.cpp) ---
GramothiMediaPeer *host_media_publish(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                      const char *class_id, const char *offer_sdp,
                                      const GramothiMediaCallbacks *callbacks, void *user_data,
                                      GramothiError *error);
GramothiMediaPeer *host_media_listen(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                     const char *class_id, const char *profile,
                                     const GramothiMediaCallbacks *callbacks, void *user_data,
                                     GramothiError *error);
GramothiMediaPeer *host_media_listen_held(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                          const char *class_id, const char *profile,
                                          const GramothiMediaCallbacks *callbacks, void *user_data,
                                          GramothiError *error);
int32_t host_media_play(GramothiMediaPeer *p, GramothiError *error);
void host_media_rebind(GramothiMediaPeer *p, void *user_data);
int32_t host_media_answer(GramothiMediaPeer *p, const char *sdp, GramothiError *error);
int32_t host_media_add_candidate(GramothiMediaPeer *p, uint32_t mline, const char *candidate,
                                 GramothiError *error);
int32_t host_media_set_profile(GramothiMediaPeer *p, const char *profile, GramothiError *error);
int32_t host_media_client_report(GramothiMediaPeer *p, int32_t downlink_kbps, int32_t rtt_ms,
                                 double loss, GramothiError *error);
int32_t host_media_client_report_downloads(GramothiMediaPeer *p, int32_t downlink_kbps,
                                           int32_t rtt_ms, double loss, int32_t downloading,
                                           GramothiError *error);
void host_media_close(GramothiMediaPeer *p);
uint32_t host_media_listener_count(GramothiPluginContext *ctx, const char *class_id);
char *host_media_stats(GramothiMediaPeer *p);
uint64_t host_media_record_start(GramothiPluginContext *ctx, const char *class_id, const char *path,
                                 int32_t bitrate_bps, GramothiRecordingCallback on_state,
                                 void *user_data, GramothiError *error);
void host_media_record_stop(GramothiPluginContext *ctx, uint64_t id);

// --- slides (host_slides.cpp) ---
void host_slides_upload(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                        const char *class_id, const uint8_t *body, size_t length,
                        const char *content_type, GramothiResultCallback done, void *user_data);
void host_slides_list(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data);
void host_slides_sync(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *action, const char *slide_id,
                      int64_t order_no, GramothiResultCallback done, void *user_data);
void host_slides_image(GramothiPluginContext *ctx, const char *file, GramothiBytesCallback done,
                       void *user_data);

// --- chat (host_chat.cpp) ---
void host_chat_post(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                    const char *text, GramothiResultCallback done, void *user_data);
void host_chat_recent(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data);
void host_chat_remove(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *message_id, GramothiResultCallback done,
                      void *user_data);

}  // namespace gramothi
