// The event bus for plugins. Subscriptions are remembered in the plugin's context so that
// unloading drops them; payloads must be JSON objects.
#include <cstring>
#include <string>
#include <vector>

#include "base/event_bus.hpp"
#include "base/json.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {

int64_t host_event_subscribe(GramothiPluginContext *ctx, const char *prefix,
                             GramothiEventCallback callback, void *user_data) {
  if (!prefix || !callback) return GRAMOTHI_E_INVALID;
  int64_t id = ctx->services->bus->subscribe(
      prefix, [callback, user_data](const std::string &topic, const std::string &payload) {
        callback(topic.c_str(), payload.c_str(), user_data);
      });
  ctx->subscriptions.push_back(id);
  return id;
}

void host_event_unsubscribe(GramothiPluginContext *ctx, int64_t id) {
  std::erase(ctx->subscriptions, id);
  ctx->services->bus->unsubscribe(id);
}

int32_t host_event_publish(GramothiPluginContext *ctx, const char *topic, const char *payload) {
  if (!topic || !*topic || strlen(topic) > 128 || !payload) return GRAMOTHI_E_INVALID;
  if (!parse_json_object(payload)) {
    plugin_log(
        ctx, LogLevel::kWarning,
        std::string("event '") + topic + "' not published: the payload is not a JSON object");
    return GRAMOTHI_E_INVALID;
  }
  ctx->services->bus->publish(topic, payload);
  return GRAMOTHI_OK;
}

}  // namespace gramothi
