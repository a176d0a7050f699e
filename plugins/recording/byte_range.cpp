#include "byte_range.hpp"

#include <glib.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string_view>

namespace gramothi::recording {

namespace {

constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// 1*DIGIT; a number too large for int64 is kHuge (it is past the end of any file).
std::optional<int64_t> digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    int d = c - '0';
    v = v > (kHuge - d) / 10 ? kHuge : v * 10 + d;
  }
  return v;
}

}  // namespace

// RFC 9110 §14.1: "bytes" "=" one range-spec: first-pos "-" [last-pos], or "-" suffix-length.
// A header the server does not understand, or one with several ranges, is ignored (§14.2
// allows it): the whole file.
ByteRange byte_range(const std::string &range, int64_t size, int64_t max_chunk) {
  ByteRange res;
  int64_t from = 0, to = size - 1;
  std::string_view h = range;
  size_t eq = h.find('=');
  std::string_view unit = trim(h.substr(0, eq));
  if (eq != std::string_view::npos && unit.size() == 5 &&
      g_ascii_strncasecmp(unit.data(), "bytes", 5) == 0) {
    std::string_view spec = trim(h.substr(eq + 1));
    size_t dash = spec.find('-');
    if (dash != std::string_view::npos && spec.find(',') == std::string_view::npos) {
      bool has_last = dash + 1 < spec.size();
      std::optional<int64_t> first = dash ? digits(spec.substr(0, dash)) : std::nullopt;
      std::optional<int64_t> last = has_last ? digits(spec.substr(dash + 1)) : std::nullopt;
      if (dash == 0 && last) {  // -N: the last N bytes
        if (*last == 0 || size == 0) return {416, 0, -1};
        from = std::max<int64_t>(0, size - *last);
        res.status = 206;
      } else if (first && (!has_last || last)) {  // A- or A-B
        if (last && *last < *first) return {416, 0, -1};
        if (*first >= size) return {416, 0, -1};
        from = *first;
        if (last) to = std::min(*last, size - 1);
        res.status = 206;
      }
    }
  }
  if (to - from + 1 > max_chunk) {
    to = from + max_chunk - 1;
    res.status = 206;
  }
  res.from = from;
  res.to = to;
  return res;
}

}  // namespace gramothi::recording
