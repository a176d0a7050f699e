// What the host-table files (host_*.cpp) share: the per-plugin context behind the ABI's opaque
// GramothiPluginContext, and the conversions between core's types and the C ABI's: errors,
// principals, result callbacks, log lines. Internal to core/plugin_host.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gmodule.h>

#include "auth/jwt.hpp"
#include "base/error.hpp"
#include "base/lifetime.hpp"
#include "base/log.hpp"
#include "domain/class_registry.hpp"
#include "gramothi/plugin.h"
#include "plugin_host/plugin_host.hpp"

namespace gramothi {

// One WebSocket route of a plugin: "/prefix/{param}". Owned by the plugin's context; it tracks
// its open connections, which host_ws.cpp owns until they close or the plugin unloads.
struct WsRoute {
  GramothiPluginContext *ctx = nullptr;
  std::string prefix, param;
  size_t max_message = 0;
  GramothiWsHandlers handlers{};
  void *user_data = nullptr;
  std::set<GramothiWsConnection *> connections;
};

}  // namespace gramothi

// One loaded plugin. Owned by its PluginHost (which outlives every callback into the plugin);
// `host` and `services` are borrowed from it. The context owns the plugin's module handle and
// WebSocket routes, and remembers its subscriptions so that unloading can drop them.
struct GramothiPluginContext {
  // Ended at unload: callbacks still on their way (recordings) then stay away from the plugin.
  gramothi::Lifetime lifetime;
  gramothi::PluginHost *host = nullptr;
  gramothi::HostServices *services = nullptr;
  std::string name;
  std::map<std::string, std::string> settings;  // [plugin.NAME] of the configuration
  GModule *module = nullptr;
  const GramothiPluginDescriptor *descriptor = nullptr;
  void *state = nullptr;  // the plugin's, from init()
  std::vector<int64_t> subscriptions;
  std::vector<std::unique_ptr<gramothi::WsRoute>> ws_routes;
};

namespace gramothi {

// An Error as the plugin ABI carries it (status, code, message); `out` may be null.
void fill_error(GramothiError *out, const Error &e);

// A log line under the plugin's name ("plugin:NAME").
void plugin_log(GramothiPluginContext *ctx, LogLevel level, const std::string &message);

// Whether `who` carries a NUL-terminated, valid user id.
bool valid_principal_user(const GramothiPrincipal *who);
// A principal a plugin hands back to us: it may have been built by the plugin, so check it. Its
// class grants are those of the token it came from (GrantBook).
std::optional<TokenClaims> claims_from(GramothiPluginContext *ctx, const GramothiPrincipal *who);

// Calls back into the plugin with either an error or a JSON object (borrowed for the call).
void deliver(GramothiResultCallback done, void *user_data, const Error *error,
             const std::string &json);
// Calls back with `error` on a later main-loop iteration: never from inside a host call.
void deliver_later(GramothiResultCallback done, void *user_data, Error error);
// The caller's claims, or nullopt after answering `done` (later) that the principal is bad.
std::optional<TokenClaims> caller_or_answer(GramothiPluginContext *ctx,
                                            const GramothiPrincipal *who,
                                            GramothiResultCallback done, void *user_data);
// Answers a JSON result or its error.
ClassRegistry::JsonCallback answer(GramothiResultCallback done, void *user_data);

// Not in the table: the loader drops a plugin's WebSocket routes with it, closing what is still
// open without calling the plugin back (host_ws.cpp).
void ws_remove_routes(GramothiPluginContext *ctx);

}  // namespace gramothi
