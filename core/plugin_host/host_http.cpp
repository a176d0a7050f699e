// HTTP for plugins: routes on core's HttpRouter (dropped with the plugin), the request body and
// response of an exchange, and the two documents about the server itself: its public
// configuration and its health.
#include <string>
#include <vector>

#include "base/json.hpp"
#include "build_config.h"
#include "http/http_router.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {

int32_t host_http_route(GramothiPluginContext *ctx, const char *method, const char *pattern,
                        size_t max_body, GramothiHttpHandler handler, void *user_data) {
  if (!method || !pattern || !handler) return GRAMOTHI_E_INVALID;
  std::string why;
  if (!ctx->services->router->add_route(
          method, pattern, max_body,
          [handler, user_data](GramothiHttpExchange *ex) { handler(ex, user_data); }, ctx, &why)) {
    plugin_log(ctx, LogLevel::kError, "cannot add route: " + why);
    return GRAMOTHI_E_INVALID;
  }
  return GRAMOTHI_OK;
}

const uint8_t *host_http_body(GramothiHttpExchange *ex, size_t *length) {
  std::string_view body = exchange_body(ex);
  if (length) *length = body.size();
  return reinterpret_cast<const uint8_t *>(body.data());
}

void host_http_respond(GramothiHttpExchange *ex, uint32_t status, const char *content_type,
                       const void *body, size_t length) {
  exchange_respond(ex, status, content_type, body ? body : "", body ? length : 0);
}

void host_http_pace(GramothiPluginContext *ctx, GramothiHttpExchange *ex, const char *profile) {
  if (!ctx || !ex || !profile) return;
  exchange_set_pace(ex, ctx->services->profiles->image_pace_bytes_per_s(profile));
}

char *host_public_config_json(GramothiPluginContext *ctx) {
  const HostServices &s = *ctx->services;
  std::string json = JsonObjectWriter()
                         .str("service", "gramothi-live")
                         .str("version", GRAMOTHI_VERSION)
                         .str("api_base", "/api/v1/streaming")
                         .str("websocket_path", "/api/v1/streaming/ws/{class_id}")
                         .str("ice_servers_path", "/api/v1/streaming/ice-servers")
                         .str("public_url", s.config->public_url)
                         .raw("profiles", s.profiles->to_json())
                         .str("default_profile", "auto")
                         .boolean("turn", !s.config->turn_urls.empty())
                         .finish();
  return g_strdup(json.c_str());
}

void host_health(GramothiPluginContext *ctx, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  HostServices *s = ctx->services;
  std::vector<std::string> plugins = ctx->host->loaded_names();
  s->classes->health([s, plugins, done, user_data](Result<int> r) {
    std::string names = "[";
    for (const auto &n : plugins)
      names += (names.size() > 1 ? "," : "") + json_quote(n);
    names += "]";
    JsonObjectWriter storage;
    storage.str("backend", s->storage_backend).str("status", r ? "ok" : "unavailable");
    if (r)
      storage.num("schema_version", int64_t{*r});
    else
      storage.str("error", r.error().message);
    std::string json =
        JsonObjectWriter()
            .str("status", r ? "ok" : "degraded")
            .str("version", GRAMOTHI_VERSION)
            .num("uptime_seconds", (g_get_monotonic_time() - s->started_at_us) / G_USEC_PER_SEC)
            .raw("storage", storage.finish())
            .raw("plugins", names)
            .finish();
    if (r) return done(nullptr, json.c_str(), user_data);
    GramothiError e{};
    fill_error(&e, r.error());
    done(&e, json.c_str(), user_data);
  });
}

}  // namespace gramothi
