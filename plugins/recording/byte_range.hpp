// The part of a file that an HTTP Range header asks for (RFC 9110 §14), as the recording's
// audio route answers it. Pure: no file, no host; the fuzz target and the unit test call it
// directly.
#pragma once

#include <cstdint>
#include <string>

namespace gramothi::recording {

struct ByteRange {
  int status = 200;  // 200: the whole file, 206: bytes [from, to], 416: not satisfiable
  int64_t from = 0, to = -1;
};

// The bytes of a file of `size` bytes that answer `range` ("" when the request had none),
// at most `max_chunk` of them (a longer answer is cut short and becomes a 206).
ByteRange byte_range(const std::string &range, int64_t size, int64_t max_chunk);

}  // namespace gramothi::recording
