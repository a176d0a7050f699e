// Small helpers the HTTP-serving plugins share: JSON string quoting and the error body. The HTTP
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

}  // namespace gramothi::plugin
