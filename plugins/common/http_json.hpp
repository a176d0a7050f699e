// Small helpers the HTTP-serving plugins share: JSON string quoting, the error body, and a
// class status without its teachers-only part. The HTTP
// status for a host status code is gramothi_status_http (gramothi/plugin.h). Header-only: each
// plugin is its own module.
#pragma once

#include <json-glib/json-glib.h>

#include <string>

#include "gramothi/plugin.h"

namespace gramothi::plugin {

inline std::string quote(const std::string &s) {
  g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), s.c_str());
  g_autofree char *out = json_to_string(n, FALSE);
  return out;
}

// {"error": {"code": …, "message": …}}
inline std::string error_json(const std::string &code, const std::string &message) {
  return "{\"error\":{\"code\":" + quote(code) + ",\"message\":" + quote(message) + "}}";
}

// A class status (or a lifecycle result {"changed", "class": status}) for someone who attends
// the class but does not teach it: its "recording" (the recording state, for its teachers) is
// null. Text that is not such an object comes back as it was.
inline std::string without_recording(const char *json) {
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json || !json_parser_load_from_data(p, json, -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    return json ? json : "";
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  JsonObject *status = json_object_has_member(o, "class") &&
                               JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "class"))
                           ? json_object_get_object_member(o, "class")
                           : o;
  if (json_object_has_member(status, "recording")) json_object_set_null_member(status, "recording");
  g_autofree char *text = json_to_string(json_parser_get_root(p), FALSE);
  return text;
}

}  // namespace gramothi::plugin
