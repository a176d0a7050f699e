#include "byte_range.hpp"

#include <algorithm>
#include <cstdio>

namespace gramothi::recording {

// bytes=A-B, bytes=A-, bytes=-N; anything else (several ranges) gets the whole file.
ByteRange byte_range(const std::string &range, int64_t size, int64_t max_chunk) {
  ByteRange res;
  int64_t from = 0, to = size - 1;
  if (!range.empty()) {
    long long a = -1, b = -1;
    int fields = sscanf(range.c_str(), "bytes=%lld-%lld", &a, &b);
    if (fields == 2 && (a < 0 || b < a)) {
      res.status = 416;  // bytes=5-3 and the like
      return res;
    }
    if (fields == 2) {
      from = a;
      to = std::min<int64_t>(b, size - 1);
      res.status = 206;
    } else if (fields == 1 && a >= 0 && range.find(',') == std::string::npos) {
      from = a;
      res.status = 206;
    } else if (sscanf(range.c_str(), "bytes=-%lld", &b) == 1 && b > 0) {
      from = std::max<int64_t>(0, size - b);
      res.status = 206;
    }
    if (res.status == 206 && from >= size) {
      res.status = 416;
      return res;
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
