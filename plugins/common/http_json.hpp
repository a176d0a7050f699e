// Small helpers the HTTP-serving plugins share: JSON string quoting and the HTTP status for a
// host status code. Header-only: each plugin is its own module.
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

inline unsigned http_status(int32_t status) {
  switch (status) {
    case GRAMOTHI_E_INVALID:
      return 400;
    case GRAMOTHI_E_UNAUTHORIZED:
      return 401;
    case GRAMOTHI_E_FORBIDDEN:
      return 403;
    case GRAMOTHI_E_NOT_FOUND:
      return 404;
    case GRAMOTHI_E_CONFLICT:
      return 409;
    case GRAMOTHI_E_TOO_LARGE:
      return 413;
    case GRAMOTHI_E_UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

// {"error": {"code": …, "message": …}}
inline std::string error_json(const std::string &code, const std::string &message) {
  return "{\"error\":{\"code\":" + quote(code) + ",\"message\":" + quote(message) + "}}";
}

}  // namespace gramothi::plugin
