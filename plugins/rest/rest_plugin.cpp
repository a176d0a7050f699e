/* rest — the original module's REST API, over the host's class registry.
 *
 * Routes (JSON in and out; every error is {"error":{"code","message"}}). "Attending" and
 * "teaching" a class are the rights of api/rest.md's grant model (the token's "classes" and
 * "teaches" grants, open attendance, teachers assigned by an admin):
 *   POST /api/v1/streaming/start              {class_id}           a teacher of the class/admin
 *   POST /api/v1/streaming/stop               {class_id}           a teacher of the class/admin
 *   POST /api/v1/streaming/join               {class_id}           attending the class
 *   POST /api/v1/streaming/leave              {class_id}           any authenticated user
 *   POST /api/v1/streaming/bandwidth-profile  {class_id, profile}  attending the class
 *   GET  /api/v1/streaming/status/{class_id}                       attending the class
 *   GET  /api/v1/streaming/ice-servers                             any authenticated user
 *   POST /api/v1/streaming/slides/{class_id}   PDF or multipart    a teacher of the class/admin
 *   GET  /api/v1/streaming/slides/{class_id}                       attending the class
 *   GET  /api/v1/streaming/slides/images/{file}                    public (content-addressed)
 *   POST /api/v1/streaming/sync-slide  {class_id, action, slide_id?, order_no?}  a teacher
 *   PUT  /api/v1/classes/{class_id}           {teachers: [ids]}    admins: create, name teachers
 *   GET  /health                                                   public
 *   GET  /config                                                   public, no secrets
 * Requests carry "Authorization: Bearer <jwt>".
 *
 * Options ([plugin.rest] in the server config):
 *   max_body_bytes = 16384      largest accepted JSON request body (413 beyond it)
 *   max_upload_bytes = 52428800 largest accepted slide deck upload (413 beyond it)
 *
 * Example:
 *   [plugins]
 *   load = rest
 *   [plugin.rest]
 *   max_body_bytes = 8192
 */
#include <glib.h>
#include <json-glib/json-glib.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../common/http_json.hpp"
#include "../common/json_fields.hpp"
#include "gramothi/plugin.h"

namespace {

using gramothi::plugin::quote;

const GramothiHost *host = nullptr;
GramothiPluginContext *ctx = nullptr;

constexpr const char *kBase = "/api/v1/streaming";
constexpr size_t kMaxTeachers = 64;

struct Failure {
  unsigned status;
  const char *code;
  std::string message;
};

void respond_json(GramothiHttpExchange *ex, unsigned status, const std::string &json) {
  host->http_respond(ex, status, "application/json", json.data(), json.size());
}

void respond_failure(GramothiHttpExchange *ex, const Failure &f) {
  respond_json(ex, f.status, gramothi::plugin::error_json(f.code, f.message));
}

void respond_host_error(GramothiHttpExchange *ex, const GramothiError &e) {
  respond_failure(ex, {gramothi_status_http(e.status), e.code, e.message});
}

// Answers a host result: the JSON on success, the error otherwise. user_data: the exchange.
void on_result(const GramothiError *error, const char *json, void *user_data) {
  auto *ex = static_cast<GramothiHttpExchange *>(user_data);
  if (error)
    respond_host_error(ex, *error);
  else
    respond_json(ex, 200, json);
}

// Answers a class status (or a lifecycle result) to someone who attends but does not teach:
// without the recording state, which is for the class's teachers.
void on_result_for_attendee(const GramothiError *error, const char *json, void *user_data) {
  auto *ex = static_cast<GramothiHttpExchange *>(user_data);
  if (error) return respond_host_error(ex, *error);
  respond_json(ex, 200, gramothi::plugin::without_recording(json));
}

// Authenticates the request; on failure answers it and returns false.
bool authenticate(GramothiHttpExchange *ex, GramothiPrincipal *who) {
  GramothiError e{};
  if (host->auth_verify(ctx, host->http_header(ex, "Authorization"), who, &e) == GRAMOTHI_OK)
    return true;
  host->http_add_header(ex, "WWW-Authenticate", "Bearer");
  respond_host_error(ex, e);
  return false;
}

// A JSON request body: an object, with string fields read by name.
class Body {
 public:
  // On failure answers the request and returns false.
  bool parse(GramothiHttpExchange *ex) {
    // curl -d sends application/x-www-form-urlencoded unless told otherwise; the body must
    // still be a JSON object, so accepting that type loses nothing and saves a support call.
    const char *type = host->http_header(ex, "Content-Type");
    if (type && *type && g_ascii_strncasecmp(type, "application/json", 16) != 0 &&
        g_ascii_strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
      respond_failure(ex, {415, "unsupported_media_type",
                           "Send the body as application/json, not " + std::string(type) + "."});
      return false;
    }
    size_t len = 0;
    const uint8_t *data = host->http_body(ex, &len);
    if (len == 0) {
      respond_failure(ex, {400, "invalid_json", "The request needs a JSON object body."});
      return false;
    }
    // JSON-GLib hands strings out NUL-terminated: "A\u0000zzz" would read as "A".
    if (std::string_view(reinterpret_cast<const char *>(data), len).find("\\u0000") !=
        std::string_view::npos) {
      respond_failure(ex, {400, "invalid_json", "Strings may not contain NUL characters."});
      return false;
    }
    if (!gramothi::plugin::json_depth_within(reinterpret_cast<const char *>(data), len)) {
      respond_failure(ex, {400, "invalid_json", "The JSON nests deeper than 64 levels."});
      return false;
    }
    parser_ = json_parser_new_immutable();
    g_autoptr(GError) err = nullptr;
    if (!json_parser_load_from_data(parser_, reinterpret_cast<const char *>(data),
                                    static_cast<gssize>(len), &err)) {
      respond_failure(
          ex, {400, "invalid_json", std::string("The body is not valid JSON: ") + err->message});
      return false;
    }
    JsonNode *root = json_parser_get_root(parser_);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
      respond_failure(ex, {400, "invalid_json", "The body must be a JSON object."});
      return false;
    }
    object_ = json_node_get_object(root);
    return true;
  }

  // A required non-empty string field; on failure answers the request and returns nullptr.
  const char *string(GramothiHttpExchange *ex, const char *name) {
    if (!json_object_has_member(object_, name)) {
      respond_failure(ex, {400, "missing_field", std::string("Field '") + name + "' is required."});
      return nullptr;
    }
    JsonNode *n = json_object_get_member(object_, name);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING ||
        !*json_node_get_string(n)) {
      respond_failure(ex, {400, "invalid_field",
                           std::string("Field '") + name + "' must be a non-empty string."});
      return nullptr;
    }
    return json_node_get_string(n);
  }

  // An optional string field: "" when absent; on a wrong type answers and returns false.
  bool optional_string(GramothiHttpExchange *ex, const char *name, std::string *out) {
    out->clear();
    if (!json_object_has_member(object_, name)) return true;
    JsonNode *n = json_object_get_member(object_, name);
    if (JSON_NODE_HOLDS_NULL(n)) return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
      respond_failure(
          ex, {400, "invalid_field", std::string("Field '") + name + "' must be a string."});
      return false;
    }
    *out = json_node_get_string(n);
    return true;
  }
  // An optional whole number >= 1: 0 when absent; otherwise answers and returns false.
  bool optional_count(GramothiHttpExchange *ex, const char *name, int64_t *out) {
    *out = 0;
    if (!json_object_has_member(object_, name)) return true;
    JsonNode *n = json_object_get_member(object_, name);
    if (JSON_NODE_HOLDS_NULL(n)) return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 1) {
      respond_failure(ex, {400, "invalid_field",
                           std::string("Field '") + name + "' must be a whole number from 1."});
      return false;
    }
    *out = json_node_get_int(n);
    return true;
  }

  // A required array of at most `max` non-empty strings; otherwise answers and returns false.
  bool string_list(GramothiHttpExchange *ex, const char *name, size_t max,
                   std::vector<std::string> *out) {
    std::string why = std::string("Field '") + name + "' must be an array of at most " +
                      std::to_string(max) + " non-empty strings.";
    if (!json_object_has_member(object_, name)) {
      respond_failure(ex, {400, "missing_field", std::string("Field '") + name + "' is required."});
      return false;
    }
    JsonNode *n = json_object_get_member(object_, name);
    if (!JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) > max) {
      respond_failure(ex, {400, "invalid_field", why});
      return false;
    }
    JsonArray *a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonNode *e = json_array_get_element(a, i);
      if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING ||
          !*json_node_get_string(e)) {
        respond_failure(ex, {400, "invalid_field", why});
        return false;
      }
      out->emplace_back(json_node_get_string(e));
    }
    return true;
  }

  ~Body() {
    if (parser_) g_object_unref(parser_);
  }

 private:
  JsonParser *parser_ = nullptr;
  JsonObject *object_ = nullptr;
};

using ClassOp = void (*)(GramothiPluginContext *, const GramothiPrincipal *, const char *,
                         GramothiResultCallback, void *);

// POST {class_id} -> a class operation.
void class_op(GramothiHttpExchange *ex, ClassOp op, bool teachers_only) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who)) return;
  if (teachers_only && who.role == GRAMOTHI_ROLE_STUDENT) {
    respond_failure(ex, {403, "forbidden_role", "Only a teacher or an admin may do this."});
    return;
  }
  Body body;
  if (!body.parse(ex)) return;
  const char *class_id = body.string(ex, "class_id");
  if (!class_id) return;
  op(ctx, &who, class_id, who.role == GRAMOTHI_ROLE_STUDENT ? on_result_for_attendee : on_result,
     ex);
}

void handle_start(GramothiHttpExchange *ex, void *) {
  class_op(ex, host->class_start, true);
}
void handle_stop(GramothiHttpExchange *ex, void *) {
  class_op(ex, host->class_stop, true);
}
void handle_join(GramothiHttpExchange *ex, void *) {
  class_op(ex, host->class_join, false);
}
void handle_leave(GramothiHttpExchange *ex, void *) {
  class_op(ex, host->class_leave, false);
}

void handle_bandwidth_profile(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who)) return;
  Body body;
  if (!body.parse(ex)) return;
  const char *class_id = body.string(ex, "class_id");
  if (!class_id) return;
  const char *profile = body.string(ex, "profile");
  if (!profile) return;
  host->class_pin_profile(ctx, &who, class_id, profile,
                          who.role == GRAMOTHI_ROLE_STUDENT ? on_result_for_attendee : on_result,
                          ex);
}

// A read about one class (its status, its slides) for someone who may attend it.
using ClassRead = void (*)(GramothiPluginContext *, const char *, GramothiResultCallback, void *);

struct AttendCheck {
  GramothiHttpExchange *ex;
  std::string class_id;
  ClassRead read;
};

// Runs `read` for the class in the path once the host says the caller may attend it; answers
// 403 not_in_class otherwise.
void read_if_attending(GramothiHttpExchange *ex, const GramothiPrincipal &who, ClassRead read) {
  const char *class_id = host->http_param(ex, "class_id");
  auto *check = new AttendCheck{ex, class_id ? class_id : "", read};
  host->class_access(
      ctx, &who, check->class_id.c_str(),
      [](const GramothiError *error, const char *json, void *user_data) {
        std::unique_ptr<AttendCheck> c(static_cast<AttendCheck *>(user_data));
        if (error) return respond_host_error(c->ex, *error);
        if (!strstr(json, "\"attend\":true"))
          return respond_failure(
              c->ex, {403, "not_in_class", "You are not a member of class '" + c->class_id + "'."});
        bool status = c->read == host->class_status;
        bool teaches = strstr(json, "\"teach\":true") != nullptr;
        c->read(ctx, c->class_id.c_str(), status && !teaches ? on_result_for_attendee : on_result,
                c->ex);
      },
      check);
}

void handle_status(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who)) return;
  read_if_attending(ex, who, host->class_status);
}

// PUT /api/v1/classes/{class_id} {"teachers": [user ids]}: admins create a class and name its
// teachers (replacing the list).
void handle_set_teachers(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who)) return;
  if (who.role != GRAMOTHI_ROLE_ADMIN)
    return respond_failure(ex, {403, "forbidden_role", "Only admins assign teachers."});
  Body body;
  if (!body.parse(ex)) return;
  std::vector<std::string> teachers;
  if (!body.string_list(ex, "teachers", kMaxTeachers, &teachers)) return;
  std::vector<const char *> list;
  for (const auto &t : teachers)
    list.push_back(t.c_str());
  host->class_set_teachers(ctx, &who, host->http_param(ex, "class_id"), list.data(), list.size(),
                           on_result, ex);
}

void respond_owned_json(GramothiHttpExchange *ex, char *json) {
  respond_json(ex, 200, json);
  host->free(json);
}

void handle_ice_servers(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who)) return;
  host->http_add_header(ex, "Cache-Control", "private, no-store");
  respond_owned_json(ex, host->ice_servers_json(ctx, &who));
}

void handle_config(GramothiHttpExchange *ex, void *) {
  // A student page asks for it while its audio starts: on a slow link it goes at what the link
  // leaves beside the audio (?pace=PROFILE), as slide images do.
  const char *pace = host->http_query(ex, "pace");
  if (pace && GRAMOTHI_HOST_HAS(host, http_pace)) host->http_pace(ctx, ex, pace);
  respond_owned_json(ex, host->public_config_json(ctx));
}

void handle_health(GramothiHttpExchange *ex, void *) {
  host->health(
      ctx,
      [](const GramothiError *error, const char *json, void *user_data) {
        respond_json(static_cast<GramothiHttpExchange *>(user_data), error ? 503 : 200, json);
      },
      ex);
}

bool has_slides(GramothiHttpExchange *ex) {
  if (GRAMOTHI_HOST_HAS(host, slides_image)) return true;
  respond_failure(ex, {503, "slides_unavailable", "This server has no slides support."});
  return false;
}

void handle_slides_upload(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who) || !has_slides(ex)) return;
  size_t len = 0;
  const uint8_t *data = host->http_body(ex, &len);
  host->slides_upload(
      ctx, &who, host->http_param(ex, "class_id"), data, len, host->http_header(ex, "Content-Type"),
      [](const GramothiError *error, const char *json, void *user_data) {
        auto *e = static_cast<GramothiHttpExchange *>(user_data);
        if (error)
          respond_host_error(e, *error);
        else
          respond_json(e, 202, json);  // accepted: rendering goes on
      },
      ex);
}

void handle_slides_list(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who) || !has_slides(ex)) return;
  read_if_attending(ex, who, host->slides_list);
}

void handle_sync_slide(GramothiHttpExchange *ex, void *) {
  GramothiPrincipal who{};
  if (!authenticate(ex, &who) || !has_slides(ex)) return;
  Body body;
  if (!body.parse(ex)) return;
  const char *class_id = body.string(ex, "class_id");
  if (!class_id) return;
  const char *action = body.string(ex, "action");
  if (!action) return;
  std::string slide_id;
  int64_t order_no = 0;
  if (!body.optional_string(ex, "slide_id", &slide_id)) return;
  if (!body.optional_count(ex, "order_no", &order_no)) return;
  host->slides_sync(ctx, &who, class_id, action, slide_id.empty() ? nullptr : slide_id.c_str(),
                    order_no, on_result, ex);
}

// Images are named by the SHA-256 of their bytes: the URL never changes meaning, so caches
// may keep it forever, and its ETag is the hash.
void handle_slide_image(GramothiHttpExchange *ex, void *) {
  if (!has_slides(ex)) return;
  std::string file = host->http_param(ex, "file") ? host->http_param(ex, "file") : "";
  std::string etag = "\"" + file.substr(0, file.find('.')) + "\"";
  const char *match = host->http_header(ex, "If-None-Match");
  if (match && file.size() == 69 && (strstr(match, etag.c_str()) || strcmp(match, "*") == 0)) {
    host->http_add_header(ex, "Cache-Control", "public, max-age=31536000, immutable");
    host->http_add_header(ex, "ETag", etag.c_str());
    host->http_respond(ex, 304, nullptr, nullptr, 0);
    return;
  }
  // A listener's link may be slow: its image goes at what the link leaves beside the audio
  // (?pace=PROFILE is in the URLs the class socket gives listeners).
  const char *pace = host->http_query(ex, "pace");
  if (pace && GRAMOTHI_HOST_HAS(host, http_pace)) host->http_pace(ctx, ex, pace);
  host->slides_image(
      ctx, file.c_str(),
      [](const GramothiError *error, const uint8_t *data, size_t length, void *user_data) {
        auto *e = static_cast<GramothiHttpExchange *>(user_data);
        if (error) return respond_host_error(e, *error);
        std::string file = host->http_param(e, "file");
        std::string tag = "\"" + file.substr(0, file.find('.')) + "\"";
        host->http_add_header(e, "Cache-Control", "public, max-age=31536000, immutable");
        host->http_add_header(e, "ETag", tag.c_str());
        host->http_respond(e, 200, "image/webp", data, length);
      },
      ex);
}

int32_t rest_init(const GramothiHost *h, GramothiPluginContext *c, void **state, char *error,
                  size_t error_size) {
  if (h->abi_major != GRAMOTHI_PLUGIN_ABI_MAJOR || !GRAMOTHI_HOST_HAS(h, class_set_teachers)) {
    g_strlcpy(error, "the host lacks functions of plugin ABI 1.6", error_size);
    return GRAMOTHI_E_INTERNAL;
  }
  host = h;
  ctx = c;
  *state = nullptr;

  size_t max_body = 16 * 1024;
  if (const char *v = host->config_get(ctx, "max_body_bytes")) {
    guint64 n = 0;
    if (!g_ascii_string_to_unsigned(v, 10, 256, 1024 * 1024, &n, nullptr)) {
      g_snprintf(error, error_size,
                 "[plugin.rest] max_body_bytes: '%s' is not a whole number from 256 to 1048576", v);
      return GRAMOTHI_E_INVALID;
    }
    max_body = n;
  }

  size_t max_upload = 50 * 1024 * 1024;
  if (const char *v = host->config_get(ctx, "max_upload_bytes")) {
    guint64 n = 0;
    if (!g_ascii_string_to_unsigned(v, 10, 1024, G_GUINT64_CONSTANT(1) << 30, &n, nullptr)) {
      g_snprintf(error, error_size,
                 "[plugin.rest] max_upload_bytes: '%s' is not a whole number from 1024 to 2^30", v);
      return GRAMOTHI_E_INVALID;
    }
    max_upload = n;
  }

  struct {
    const char *method;
    std::string path;
    size_t max_body;
    GramothiHttpHandler handler;
  } routes[] = {
      {"POST", std::string(kBase) + "/start", max_body, handle_start},
      {"POST", std::string(kBase) + "/stop", max_body, handle_stop},
      {"POST", std::string(kBase) + "/join", max_body, handle_join},
      {"POST", std::string(kBase) + "/leave", max_body, handle_leave},
      {"POST", std::string(kBase) + "/bandwidth-profile", max_body, handle_bandwidth_profile},
      {"GET", std::string(kBase) + "/status/{class_id}", 0, handle_status},
      {"GET", std::string(kBase) + "/ice-servers", 0, handle_ice_servers},
      {"POST", std::string(kBase) + "/slides/{class_id}", max_upload, handle_slides_upload},
      {"GET", std::string(kBase) + "/slides/{class_id}", 0, handle_slides_list},
      {"GET", std::string(kBase) + "/slides/images/{file}", 0, handle_slide_image},
      {"POST", std::string(kBase) + "/sync-slide", max_body, handle_sync_slide},
      {"PUT", "/api/v1/classes/{class_id}", max_body, handle_set_teachers},
      {"GET", "/health", 0, handle_health},
      {"GET", "/config", 0, handle_config},
  };
  for (auto &r : routes) {
    if (host->http_route(ctx, r.method, r.path.c_str(), r.max_body, r.handler, nullptr) != 0) {
      g_snprintf(error, error_size, "cannot register %s %s", r.method, r.path.c_str());
      return GRAMOTHI_E_INTERNAL;
    }
  }
  return GRAMOTHI_OK;
}

void rest_shutdown(void *) {
  host = nullptr;
  ctx = nullptr;
}

const GramothiPluginDescriptor kDescriptor = {
    GRAMOTHI_PLUGIN_ABI_MAJOR,
    GRAMOTHI_PLUGIN_ABI_MINOR,
    sizeof(GramothiPluginDescriptor),
    0,
    "rest",
    "0.1.0",
    "The original module's REST API: class lifecycle, status, profiles, ICE servers, health",
    rest_init,
    rest_shutdown,
};

}  // namespace

extern "C" GRAMOTHI_PLUGIN_EXPORT const GramothiPluginDescriptor *gramothi_plugin_describe(void) {
  return &kDescriptor;
}
