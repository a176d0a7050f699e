#include "plugin_host/plugin_host.hpp"

#include <gmodule.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "auth/turn.hpp"
#include "base/ids.hpp"
#include "base/json.hpp"
#include "base/lifetime.hpp"
#include "base/log.hpp"
#include "base/main_loop.hpp"
#include "build_config.h"
#include "domain/slide_service.hpp"
#include "gramothi/plugin.h"
#include "media/media_engine.hpp"
#include "plugin_host/host_ws_media.hpp"

struct GramothiPluginContext {
  // Ended at unload: callbacks still on their way (recordings) then stay away from the plugin.
  gramothi::Lifetime lifetime;
  gramothi::PluginHost *host = nullptr;
  gramothi::HostServices *services = nullptr;
  std::string name;
  std::map<std::string, std::string> settings;
  GModule *module = nullptr;
  const GramothiPluginDescriptor *descriptor = nullptr;
  void *state = nullptr;
  std::vector<int64_t> subscriptions;
  std::vector<std::unique_ptr<gramothi::WsRoute>> ws_routes;
};

namespace gramothi {
namespace {

constexpr size_t kDescriptorV1Size =
    offsetof(GramothiPluginDescriptor, shutdown) + sizeof(GramothiPluginDescriptor::shutdown);

GramothiStatus status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return GRAMOTHI_E_INVALID;
    case ErrorKind::kUnauthorized:
      return GRAMOTHI_E_UNAUTHORIZED;
    case ErrorKind::kForbidden:
      return GRAMOTHI_E_FORBIDDEN;
    case ErrorKind::kNotFound:
      return GRAMOTHI_E_NOT_FOUND;
    case ErrorKind::kConflict:
      return GRAMOTHI_E_CONFLICT;
    case ErrorKind::kTooLarge:
      return GRAMOTHI_E_TOO_LARGE;
    case ErrorKind::kUnavailable:
      return GRAMOTHI_E_UNAVAILABLE;
    case ErrorKind::kInternal:
      return GRAMOTHI_E_INTERNAL;
  }
  return GRAMOTHI_E_INTERNAL;
}

}  // namespace

void fill_error(GramothiError *out, const Error &e) {
  if (!out) return;
  out->status = status_for(e.kind);
  g_strlcpy(out->code, e.code.c_str(), sizeof out->code);
  g_strlcpy(out->message, e.message.c_str(), sizeof out->message);
}

namespace {

void plugin_log(GramothiPluginContext *ctx, LogLevel level, const std::string &message) {
  log_message(level, "plugin:" + ctx->name, message);
}

// A principal a plugin hands back to us: it may have been built by the plugin, so check it.
std::optional<TokenClaims> claims_from(const GramothiPrincipal *who) {
  if (!who || !memchr(who->user_id, '\0', sizeof who->user_id)) return std::nullopt;
  if (!valid_user_id(who->user_id)) return std::nullopt;
  TokenClaims c;
  c.user_id = who->user_id;
  switch (who->role) {
    case GRAMOTHI_ROLE_STUDENT:
      c.role = Role::kStudent;
      break;
    case GRAMOTHI_ROLE_TEACHER:
      c.role = Role::kTeacher;
      break;
    case GRAMOTHI_ROLE_ADMIN:
      c.role = Role::kAdmin;
      break;
    default:
      return std::nullopt;
  }
  c.expires_at = who->expires_at;
  return c;
}

// --- the host table -------------------------------------------------------------------------

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

int32_t host_auth_verify(GramothiPluginContext *ctx, const char *authorization,
                         GramothiPrincipal *out, GramothiError *error) {
  auto token = bearer_token(authorization);
  if (!token) {
    fill_error(error, token.error());
    return status_for(token.error().kind);
  }
  auto claims = ctx->services->jwt->verify(*token, g_get_real_time() / G_USEC_PER_SEC);
  if (!claims) {
    fill_error(error, claims.error());
    return status_for(claims.error().kind);
  }
  if (out) {
    *out = GramothiPrincipal{};
    g_strlcpy(out->user_id, claims->user_id.c_str(), sizeof out->user_id);
    out->role = claims->role == Role::kAdmin     ? GRAMOTHI_ROLE_ADMIN
                : claims->role == Role::kTeacher ? GRAMOTHI_ROLE_TEACHER
                                                 : GRAMOTHI_ROLE_STUDENT;
    out->expires_at = claims->expires_at;
  }
  return GRAMOTHI_OK;
}

// Calls back into the plugin with either an error or a JSON object.
void deliver(GramothiResultCallback done, void *user_data, const Error *error,
             const std::string &json) {
  if (error) {
    GramothiError e{};
    fill_error(&e, *error);
    done(&e, nullptr, user_data);
  } else {
    done(nullptr, json.c_str(), user_data);
  }
}

using RegistryOp = void (ClassRegistry::*)(const TokenClaims &, const std::string &,
                                           ClassRegistry::ChangeCallback);

void run_class_op(GramothiPluginContext *ctx, RegistryOp op, const GramothiPrincipal *who,
                  const char *class_id, GramothiResultCallback done, void *user_data,
                  const char *profile = nullptr) {
  if (!done) return;
  ClassRegistry::ChangeCallback cb = [done, user_data](Result<ClassChange> r) {
    if (!r) return deliver(done, user_data, &r.error(), "");
    deliver(done, user_data, nullptr,
            JsonObjectWriter()
                .boolean("changed", r->changed)
                .raw("class", ClassRegistry::status_json(r->status))
                .finish());
  };
  auto claims = claims_from(who);
  if (!claims) {
    Error e{ErrorKind::kInvalid, "invalid_principal", "The principal is not valid."};
    // Still answer later, never from inside the call.
    ctx->services->classes->pin_profile(TokenClaims{}, "", "",
                                        [cb, e](Result<ClassChange>) { cb(e); });
    return;
  }
  std::string id = class_id ? class_id : "";
  if (profile)
    ctx->services->classes->pin_profile(*claims, id, profile, std::move(cb));
  else
    (ctx->services->classes->*op)(*claims, id, std::move(cb));
}

void host_class_start(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::start, who, class_id, done, user_data);
}
void host_class_stop(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::stop, who, class_id, done, user_data);
}
void host_class_join(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::join, who, class_id, done, user_data);
}
void host_class_leave(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::leave, who, class_id, done, user_data);
}
void host_class_pin_profile(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                            const char *class_id, const char *profile, GramothiResultCallback done,
                            void *user_data) {
  run_class_op(ctx, nullptr, who, class_id, done, user_data, profile ? profile : "");
}

void host_class_status(GramothiPluginContext *ctx, const char *class_id,
                       GramothiResultCallback done, void *user_data) {
  if (!done) return;
  ctx->services->classes->status(
      class_id ? class_id : "", [done, user_data](Result<ClassStatus> r) {
        if (!r) return deliver(done, user_data, &r.error(), "");
        deliver(done, user_data, nullptr, ClassRegistry::status_json(*r));
      });
}

void host_class_pinned_profile(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                               const char *class_id, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = claims_from(who);
  std::string user = claims ? claims->user_id : "";
  // An invalid principal has no stored choice; still answer on a later iteration.
  ctx->services->classes->pinned_profile(user, class_id ? class_id : "",
                                         [done, user_data](Result<std::optional<std::string>> r) {
                                           if (!r) return deliver(done, user_data, &r.error(), "");
                                           JsonObjectWriter w;
                                           if (*r)
                                             w.str("profile", **r);
                                           else
                                             w.null("profile");
                                           deliver(done, user_data, nullptr, w.finish());
                                         });
}

char *host_ice_servers_json(GramothiPluginContext *ctx, const GramothiPrincipal *who) {
  const Config &c = *ctx->services->config;
  auto url_array = [](const std::vector<std::string> &urls) {
    std::string a = "[";
    for (const auto &u : urls)
      a += (a.size() > 1 ? "," : "") + json_quote(u);
    return a + "]";
  };
  std::string servers = "[";
  if (!c.stun_urls.empty())
    servers += JsonObjectWriter().raw("urls", url_array(c.stun_urls)).finish();
  int64_t now_s = g_get_real_time() / G_USEC_PER_SEC;
  int64_t expires = 0;
  if (!c.turn_urls.empty()) {
    std::string user = who && memchr(who->user_id, '\0', sizeof who->user_id) && *who->user_id
                           ? who->user_id
                           : "anonymous";
    TurnCredential cred =
        make_turn_credential(c.turn_shared_secret, user, now_s, c.turn_credential_ttl_s);
    expires = cred.expires_at;
    if (servers.size() > 1) servers += ",";
    servers += JsonObjectWriter()
                   .raw("urls", url_array(c.turn_urls))
                   .str("username", cred.username)
                   .str("credential", cred.password)
                   .str("credentialType", "password")
                   .finish();
  }
  servers += "]";
  JsonObjectWriter w;
  w.raw("ice_servers", servers);
  if (expires) {
    w.num("ttl_seconds", c.turn_credential_ttl_s)
        .str("expires_at", iso8601_from_ms(expires * 1000));
  } else {
    w.null("ttl_seconds").null("expires_at");
  }
  return g_strdup(w.finish().c_str());
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

int32_t host_ws_route(GramothiPluginContext *ctx, const char *pattern, size_t max_message,
                      const GramothiWsHandlers *handlers, void *user_data) {
  std::string why;
  int32_t rc = ws_add_route(ctx->services, ctx, &ctx->ws_routes, pattern, max_message, handlers,
                            user_data, &why);
  if (rc != GRAMOTHI_OK) plugin_log(ctx, LogLevel::kError, "cannot add WebSocket route: " + why);
  return rc;
}

bool media_available(GramothiPluginContext *ctx, GramothiError *error) {
  if (ctx->services->media) return true;
  fill_error(error, {ErrorKind::kUnavailable, "media_unavailable", "Live audio is not available."});
  return false;
}

GramothiMediaPeer *host_media_publish(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                      const char *class_id, const char *offer_sdp,
                                      const GramothiMediaCallbacks *callbacks, void *user_data,
                                      GramothiError *error) {
  if (!media_available(ctx, error)) return nullptr;
  return media_publish(ctx->services, who, class_id, offer_sdp, callbacks, user_data, error);
}

GramothiMediaPeer *host_media_listen(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                                     const char *class_id, const char *profile,
                                     const GramothiMediaCallbacks *callbacks, void *user_data,
                                     GramothiError *error) {
  if (!media_available(ctx, error)) return nullptr;
  return media_listen(ctx->services, who, class_id, profile, callbacks, user_data, error);
}

uint32_t host_media_listener_count(GramothiPluginContext *ctx, const char *class_id) {
  if (!ctx->services->media || !class_id) return 0;
  return static_cast<uint32_t>(ctx->services->media->listener_count(class_id));
}

// Answers a JSON result or its error.
ClassRegistry::JsonCallback answer(GramothiResultCallback done, void *user_data) {
  return [done, user_data](Result<std::string> r) {
    if (!r) return deliver(done, user_data, &r.error(), "");
    deliver(done, user_data, nullptr, *r);
  };
}

Error slides_unavailable() {
  return Error{ErrorKind::kUnavailable, "slides_unavailable", "Slides are not available."};
}

// The slide service, or null after answering `done` (later) why it cannot serve `claims`.
SlideService *ready_slides(GramothiPluginContext *ctx, const std::optional<TokenClaims> &claims,
                           GramothiResultCallback done, void *user_data) {
  SlideService *slides = ctx->services->slides;
  if (claims && slides) return slides;
  Error e = slides ? Error{ErrorKind::kUnauthorized, "invalid_principal", "Not a valid caller."}
                   : slides_unavailable();
  run_later([done, user_data, e] { deliver(done, user_data, &e, ""); });
  return nullptr;
}

void host_slides_upload(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                        const char *class_id, const uint8_t *body, size_t length,
                        const char *content_type, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = claims_from(who);
  SlideService *slides = ready_slides(ctx, claims, done, user_data);
  if (!slides) return;
  g_autoptr(GBytes) bytes = g_bytes_new(body, length);
  slides->upload(*claims, class_id ? class_id : "", bytes, content_type ? content_type : "",
                 answer(done, user_data));
}

void host_slides_list(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data) {
  if (!done) return;
  if (!ctx->services->slides) {
    Error e = slides_unavailable();
    run_later([done, user_data, e] { deliver(done, user_data, &e, ""); });
    return;
  }
  ctx->services->slides->list(class_id ? class_id : "", answer(done, user_data));
}

void host_slides_sync(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *action, const char *slide_id,
                      int64_t order_no, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = claims_from(who);
  SlideService *slides = ready_slides(ctx, claims, done, user_data);
  if (!slides) return;
  slides->sync(*claims, class_id ? class_id : "", action ? action : "", slide_id ? slide_id : "",
               order_no, answer(done, user_data));
}

void host_slides_image(GramothiPluginContext *ctx, const char *file, GramothiBytesCallback done,
                       void *user_data) {
  if (!done) return;
  auto fail = [done, user_data](const Error &e) {
    GramothiError ge{};
    fill_error(&ge, e);
    done(&ge, nullptr, 0, user_data);
  };
  if (!ctx->services->slides) {
    Error e = slides_unavailable();
    run_later([fail, e] { fail(e); });
    return;
  }
  ctx->services->slides->image(file ? file : "", [done, user_data, fail](Result<GBytes *> r) {
    if (!r) return fail(r.error());
    gsize len = 0;
    const void *data = g_bytes_get_data(*r, &len);
    done(nullptr, static_cast<const uint8_t *>(data), len, user_data);
  });
}

// The caller's claims, or nullopt after answering `done` (later) that the principal is bad.
std::optional<TokenClaims> caller_or_answer(const GramothiPrincipal *who,
                                            GramothiResultCallback done, void *user_data) {
  auto claims = claims_from(who);
  if (!claims) {
    Error e{ErrorKind::kUnauthorized, "invalid_principal", "Not a valid caller."};
    run_later([done, user_data, e] { deliver(done, user_data, &e, ""); });
  }
  return claims;
}

void host_chat_post(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                    const char *text, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = caller_or_answer(who, done, user_data);
  if (!claims) return;
  ctx->services->classes->chat_post(*claims, class_id ? class_id : "", text ? text : "",
                                    answer(done, user_data));
}

void host_chat_recent(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data) {
  if (!done) return;
  ctx->services->classes->chat_recent(class_id ? class_id : "", answer(done, user_data));
}

void host_chat_remove(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *message_id, GramothiResultCallback done,
                      void *user_data) {
  if (!done) return;
  auto claims = caller_or_answer(who, done, user_data);
  if (!claims) return;
  ctx->services->classes->chat_remove(*claims, class_id ? class_id : "",
                                      message_id ? message_id : "", answer(done, user_data));
}

const char *host_data_dir(GramothiPluginContext *ctx) {
  return ctx->services->config->data_dir.c_str();
}

uint64_t host_media_record_start(GramothiPluginContext *ctx, const char *class_id, const char *path,
                                 int32_t bitrate_bps, GramothiRecordingCallback on_state,
                                 void *user_data, GramothiError *error) {
  if (!ctx->services->media) {
    fill_error(error, Error{ErrorKind::kUnavailable, "media_unavailable",
                            "The server runs without live audio."});
    return 0;
  }
  if (!class_id || !valid_class_id(class_id) || !path || !*path || bitrate_bps < 6000 ||
      bitrate_bps > 510000) {
    fill_error(error, Error{ErrorKind::kInvalid, "invalid_argument",
                            "A class id, a path and a bitrate of 6000..510000 bit/s are needed."});
    return 0;
  }
  Lifetime::Watch plugin = ctx->lifetime.watch();
  auto id = ctx->services->media->record(
      class_id, path, bitrate_bps,
      [plugin, on_state, user_data](RecordingState state, const std::string &detail) {
        if (plugin.alive() && on_state)
          on_state(std::string(recording_state_name(state)).c_str(), detail.c_str(), user_data);
      });
  if (!id) {
    fill_error(error, id.error());
    return 0;
  }
  return *id;
}

void host_media_record_stop(GramothiPluginContext *ctx, uint64_t id) {
  if (ctx->services->media) ctx->services->media->stop_recording(id);
}

void host_class_attended(GramothiPluginContext *ctx, const char *class_id, const char *user_id,
                         GramothiResultCallback done, void *user_data) {
  if (!done) return;
  if (!class_id || !user_id || !valid_class_id(class_id) || !valid_user_id(user_id)) {
    Error e{ErrorKind::kInvalid, "invalid_argument", "A class id and a user id are needed."};
    return deliver(done, user_data, &e, "");
  }
  ctx->services->classes->attended(class_id, user_id, [done, user_data](Result<bool> r) {
    if (!r) return deliver(done, user_data, &r.error(), "");
    deliver(done, user_data, nullptr, *r ? "{\"attended\":true}" : "{\"attended\":false}");
  });
}

int32_t host_auth_token_has_class(GramothiPluginContext *ctx, const char *authorization,
                                  const char *class_id) {
  auto token = bearer_token(authorization);
  if (!token || !class_id) return 0;
  auto claims = ctx->services->jwt->verify(*token, g_get_real_time() / G_USEC_PER_SEC);
  if (!claims) return 0;
  return std::find(claims->classes.begin(), claims->classes.end(), class_id) !=
                 claims->classes.end()
             ? 1
             : 0;
}

const GramothiHost kHostTable = {
    GRAMOTHI_PLUGIN_ABI_MAJOR,
    GRAMOTHI_PLUGIN_ABI_MINOR,
    sizeof(GramothiHost),
    0,
    host_free,
    host_log,
    host_config_get,
    host_http_route,
    exchange_method,
    exchange_path,
    exchange_param,
    exchange_query,
    exchange_header,
    host_http_body,
    exchange_add_header,
    host_http_respond,
    host_auth_verify,
    host_class_start,
    host_class_stop,
    host_class_join,
    host_class_leave,
    host_class_status,
    host_class_pin_profile,
    host_ice_servers_json,
    host_public_config_json,
    host_health,
    host_event_subscribe,
    host_event_unsubscribe,
    host_event_publish,
    host_ws_route,
    host_ws_param,
    host_ws_query,
    host_ws_header,
    host_ws_send,
    host_ws_close,
    host_ws_set_data,
    host_ws_get_data,
    host_media_publish,
    host_media_listen,
    host_media_answer,
    host_media_add_candidate,
    host_media_set_profile,
    host_media_client_report,
    host_media_close,
    host_media_listener_count,
    host_class_pinned_profile,
    host_slides_upload,
    host_slides_list,
    host_slides_sync,
    host_slides_image,
    host_chat_post,
    host_chat_recent,
    host_chat_remove,
    host_media_stats,
    host_data_dir,
    host_media_record_start,
    host_media_record_stop,
    host_class_attended,
    host_auth_token_has_class,
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
    ws_remove_routes(&services_, &ctx->ws_routes);
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
    ws_remove_routes(&services_, &ctx->ws_routes);
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
