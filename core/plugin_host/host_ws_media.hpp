// The WebSocket and media functions of the plugin host table (ABI 1.1). plugin_host.cpp puts
// them in the table; each plugin's WebSocket routes are kept with its context and dropped
// (connections closed without calling the plugin back) when it unloads.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gramothi/plugin.h"
#include "plugin_host/plugin_host.hpp"

namespace gramothi {

// One WebSocket route of a plugin: "/prefix/{param}".
struct WsRoute {
  GramothiPluginContext *ctx = nullptr;
  std::string prefix, param;
  size_t max_message = 0;
  GramothiWsHandlers handlers{};
  void *user_data = nullptr;
  std::set<GramothiWsConnection *> connections;
};

int32_t ws_add_route(HostServices *services, GramothiPluginContext *ctx,
                     std::vector<std::unique_ptr<WsRoute>> *routes, const char *pattern,
                     size_t max_message, const GramothiWsHandlers *handlers, void *user_data,
                     std::string *why);
void ws_remove_routes(HostServices *services, std::vector<std::unique_ptr<WsRoute>> *routes);

const char *host_ws_param(GramothiWsConnection *c, const char *name);
const char *host_ws_query(GramothiWsConnection *c, const char *name);
const char *host_ws_header(GramothiWsConnection *c, const char *name);
int32_t host_ws_send(GramothiWsConnection *c, const char *text);
void host_ws_close(GramothiWsConnection *c, uint16_t code, const char *reason);
void host_ws_set_data(GramothiWsConnection *c, void *data);
void *host_ws_get_data(GramothiWsConnection *c);

GramothiMediaPeer *media_publish(HostServices *s, const GramothiPrincipal *who,
                                 const char *class_id, const char *offer,
                                 const GramothiMediaCallbacks *cb, void *user_data,
                                 GramothiError *error);
GramothiMediaPeer *media_listen(HostServices *s, const GramothiPrincipal *who, const char *class_id,
                                const char *profile, const GramothiMediaCallbacks *cb,
                                void *user_data, GramothiError *error);
int32_t host_media_answer(GramothiMediaPeer *p, const char *sdp, GramothiError *error);
int32_t host_media_add_candidate(GramothiMediaPeer *p, uint32_t mline, const char *candidate,
                                 GramothiError *error);
int32_t host_media_set_profile(GramothiMediaPeer *p, const char *profile, GramothiError *error);
int32_t host_media_client_report(GramothiMediaPeer *p, int32_t downlink_kbps, int32_t rtt_ms,
                                 double loss, GramothiError *error);
char *host_media_stats(GramothiMediaPeer *p);
void host_media_close(GramothiMediaPeer *p);

}  // namespace gramothi
