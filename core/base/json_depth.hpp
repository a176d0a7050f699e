// How deep arrays and objects nest in a JSON text, without parsing it: JSON-GLib recurses once
// per level, so a few hundred kilobytes of "[[[[" overflow the stack of whoever parses them.
// Header-only and free of other dependencies, so that the slide library (built before core)
// uses it too. (Plugins, built against the ABI only, keep their own copy in
// plugins/common/json_fields.hpp.)
#pragma once

#include <string_view>

namespace gramothi {

// Whether arrays and objects in `data` nest at most `max_depth` deep (strings are skipped).
inline bool json_depth_within(std::string_view data, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char ch : data) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (ch == '\\')
        escaped = true;
      else if (ch == '"')
        in_string = false;
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > max_depth) return false;
    } else if (ch == ']' || ch == '}') {
      depth--;
    }
  }
  return true;
}

}  // namespace gramothi
