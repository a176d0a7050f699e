#include "base/ids.hpp"

#include <glib.h>

#include <cstddef>

namespace gramothi {
namespace {

bool valid_id(std::string_view id, size_t max) {
  if (id.empty() || id.size() > max) return false;
  for (char ch : id) {
    bool ok = g_ascii_isalnum(ch) || ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '-';
    if (!ok) return false;
  }
  // "." and ".." are path components, never ids.
  return id != "." && id != "..";
}

}  // namespace

bool valid_class_id(std::string_view id) {
  return valid_id(id, 64);
}
bool valid_user_id(std::string_view id) {
  return valid_id(id, 128);
}

}  // namespace gramothi
