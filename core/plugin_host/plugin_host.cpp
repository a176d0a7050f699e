// PluginHost: opens plugin modules, checks their descriptor's ABI version, and runs init with the
// host table; at shutdown it runs shutdown() in reverse order and drops what each plugin
// registered. The table's functions live in host_*.cpp by subject (host_table.hpp lists them);
// only the plugin's own context (log, configuration, data folder) is served here.
#include "plugin_host/plugin_host.hpp"

#include <gmodule.h>

#include <memory>
#include <string>

#include "base/log.hpp"
#include "gramothi/plugin.h"
#include "http/http_router.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {

void host_free(void *p) {
  g_free(p);
}

void host_log(GramothiPluginContext *ctx, int32_t level, const char *message) {
  LogLevel l = level <= GRAMOTHI_LOG_DEBUG     ? LogLevel::kDebug
               : level == GRAMOTHI_LOG_INFO    ? LogLevel::kInfo
               : level == GRAMOTHI_LOG_WARNING ? LogLevel::kWarning
                                               : LogLevel::kError;
  plugin_log(ctx, l, message ? message : "");
}

const char *host_config_get(GramothiPluginContext *ctx, const char *key) {
  auto it = ctx->settings.find(key ? key : "");
  return it == ctx->settings.end() ? nullptr : it->second.c_str();
}

const char *host_data_dir(GramothiPluginContext *ctx) {
  return ctx->services->config->data_dir.c_str();
}

namespace {

constexpr size_t kDescriptorV1Size =
    offsetof(GramothiPluginDescriptor, shutdown) + sizeof(GramothiPluginDescriptor::shutdown);

// Every slot named, in declaration order: the compiler refuses a missing or misplaced one.
const GramothiHost kHostTable = {
    .abi_major = GRAMOTHI_PLUGIN_ABI_MAJOR,
    .abi_minor = GRAMOTHI_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(GramothiHost),
    .reserved = 0,

    // 1.0
    .free = host_free,
    .log = host_log,
    .config_get = host_config_get,
    .http_route = host_http_route,
    .http_method = exchange_method,
    .http_path = exchange_path,
    .http_param = exchange_param,
    .http_query = exchange_query,
    .http_header = exchange_header,
    .http_body = host_http_body,
    .http_add_header = exchange_add_header,
    .http_respond = host_http_respond,
    .auth_verify = host_auth_verify,
    .class_start = host_class_start,
    .class_stop = host_class_stop,
    .class_join = host_class_join,
    .class_leave = host_class_leave,
    .class_status = host_class_status,
    .class_pin_profile = host_class_pin_profile,
    .ice_servers_json = host_ice_servers_json,
    .public_config_json = host_public_config_json,
    .health = host_health,
    .event_subscribe = host_event_subscribe,
    .event_unsubscribe = host_event_unsubscribe,
    .event_publish = host_event_publish,

    // 1.1: WebSocket
    .ws_route = host_ws_route,
    .ws_param = host_ws_param,
    .ws_query = host_ws_query,
    .ws_header = host_ws_header,
    .ws_send = host_ws_send,
    .ws_close = host_ws_close,
    .ws_set_data = host_ws_set_data,
    .ws_get_data = host_ws_get_data,

    // 1.1: media
    .media_publish = host_media_publish,
    .media_listen = host_media_listen,
    .media_answer = host_media_answer,
    .media_add_candidate = host_media_add_candidate,
    .media_set_profile = host_media_set_profile,
    .media_client_report = host_media_client_report,
    .media_close = host_media_close,
    .media_listener_count = host_media_listener_count,
    .class_pinned_profile = host_class_pinned_profile,

    // 1.2: slides
    .slides_upload = host_slides_upload,
    .slides_list = host_slides_list,
    .slides_sync = host_slides_sync,
    .slides_image = host_slides_image,

    // 1.2: chat
    .chat_post = host_chat_post,
    .chat_recent = host_chat_recent,
    .chat_remove = host_chat_remove,

    // 1.3: listener link view
    .media_stats = host_media_stats,

    // 1.4: recording
    .data_dir = host_data_dir,
    .media_record_start = host_media_record_start,
    .media_record_stop = host_media_record_stop,
    .class_attended = host_class_attended,

    // 1.5: enrolment
    .auth_token_has_class = host_auth_token_has_class,
    .class_access = host_class_access,
    .class_set_teachers = host_class_set_teachers,
    .auth_ticket = host_auth_ticket,
    .auth_verify_ticket = host_auth_verify_ticket,
    .http_pace = host_http_pace,
    .media_listen_held = host_media_listen_held,
    .media_play = host_media_play,
    .media_rebind = host_media_rebind,

    // 1.9: the client's downloads
    .media_client_report_downloads = host_media_client_report_downloads,
};

Error refuse(const std::string &code, const std::string &message) {
  log_message(LogLevel::kError, "plugins", message);
  return Error{ErrorKind::kInternal, code, message};
}

}  // namespace

PluginHost::PluginHost(HostServices services) : services_(std::move(services)) {}

PluginHost::~PluginHost() {
  unload_all();
}

std::optional<Error> PluginHost::load_all(const std::vector<PluginSpec> &specs,
                                          const std::string &dir) {
  for (const auto &spec : specs) {
    std::string file = "gramothi-" + spec.name + "." + G_MODULE_SUFFIX;
    std::string path = dir + "/" + spec.name + "/" + file;
    if (!g_file_test(path.c_str(), G_FILE_TEST_EXISTS)) path = dir + "/" + file;
    auto error = load_file(spec.name, path);
    if (!error) continue;
    if (!spec.optional) return error;
    log_message(LogLevel::kWarning, "plugins",
                "optional plugin '" + spec.name + "' is not loaded; the server runs without it");
  }
  return std::nullopt;
}

std::optional<Error> PluginHost::load_file(const std::string &name, const std::string &path) {
  GModule *module = g_module_open(
      path.c_str(), static_cast<GModuleFlags>(G_MODULE_BIND_LOCAL | G_MODULE_BIND_LAZY));
  if (!module)
    return refuse("plugin_open_failed",
                  "plugin '" + name + "' refused: cannot open " + path + ": " + g_module_error());
  auto fail = [module](Error e) {
    g_module_close(module);
    return e;
  };

  gpointer sym = nullptr;
  if (!g_module_symbol(module, GRAMOTHI_PLUGIN_ENTRY, &sym) || !sym) {
    return fail(refuse("plugin_no_entry", "plugin '" + name + "' refused: " + path +
                                              " does not export " GRAMOTHI_PLUGIN_ENTRY));
  }
  const GramothiPluginDescriptor *d = reinterpret_cast<GramothiPluginDescribeFn>(sym)();
  if (!d) return fail(refuse("plugin_invalid", "plugin '" + name + "' refused: no descriptor"));
  std::string host_v =
      std::to_string(GRAMOTHI_PLUGIN_ABI_MAJOR) + "." + std::to_string(GRAMOTHI_PLUGIN_ABI_MINOR);
  if (d->abi_major != GRAMOTHI_PLUGIN_ABI_MAJOR) {
    return fail(refuse("plugin_abi_mismatch",
                       "plugin '" + name + "' refused: built for plugin ABI " +
                           std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) +
                           ", this server provides ABI " + host_v + " (major versions differ)"));
  }
  if (d->struct_size < kDescriptorV1Size || !d->init || !d->name) {
    return fail(refuse("plugin_invalid", "plugin '" + name +
                                             "' refused: its descriptor is incomplete (size " +
                                             std::to_string(d->struct_size) + ")"));
  }
  if (name != d->name) {
    return fail(refuse("plugin_invalid", "plugin '" + name + "' refused: " + path +
                                             " calls itself '" + d->name + "'"));
  }
  for (const auto &p : plugins_)
    if (p->name == name)
      return fail(refuse("plugin_invalid", "plugin '" + name + "' refused: already loaded"));

  auto ctx = std::make_unique<GramothiPluginContext>();
  ctx->host = this;
  ctx->services = &services_;
  ctx->name = name;
  ctx->module = module;
  ctx->descriptor = d;
  if (auto it = services_.config->plugin_settings.find(name);
      it != services_.config->plugin_settings.end())
    ctx->settings = it->second;

  char error[256] = "";
  int32_t rc = d->init(&kHostTable, ctx.get(), &ctx->state, error, sizeof error);
  if (rc != 0) {
    error[sizeof error - 1] = '\0';
    services_.router->remove_routes(ctx.get());
    ws_remove_routes(ctx.get());
    for (int64_t id : ctx->subscriptions)
      services_.bus->unsubscribe(id);
    return fail(refuse("plugin_init_failed", "plugin '" + name + "' refused: init failed (" +
                                                 std::to_string(rc) +
                                                 "): " + (*error ? error : "no reason given")));
  }
  log_message(LogLevel::kInfo, "plugins",
              "loaded plugin '" + name + "' " + (d->version ? d->version : "?") + " (ABI " +
                  std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor) + ")");
  plugins_.push_back(std::move(ctx));
  return std::nullopt;
}

void PluginHost::unload_all() {
  while (!plugins_.empty()) {
    std::unique_ptr<GramothiPluginContext> ctx = std::move(plugins_.back());
    plugins_.pop_back();
    // Connections go first, without calling the plugin back, so shutdown() sees no callbacks.
    ws_remove_routes(ctx.get());
    ctx->lifetime.end();  // from here on no recording news reaches the plugin
    if (ctx->descriptor->shutdown) ctx->descriptor->shutdown(ctx->state);
    services_.router->remove_routes(ctx.get());
    for (int64_t id : ctx->subscriptions)
      services_.bus->unsubscribe(id);
    g_module_close(ctx->module);
    log_message(LogLevel::kDebug, "plugins", "unloaded plugin '" + ctx->name + "'");
  }
}

std::vector<std::string> PluginHost::loaded_names() const {
  std::vector<std::string> out;
  for (const auto &p : plugins_)
    out.push_back(p->name);
  return out;
}

}  // namespace gramothi
