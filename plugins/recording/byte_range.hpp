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
// at most `max_chunk` of them (a longer answer is cut short and becomes a 206). One range is
// understood: "bytes=A-B", "bytes=A-" or "bytes=-N" (the unit in any case, spaces around);
// several ranges, or a header that is not of that form, get the whole file (RFC 9110 §14.2
// lets a server ignore Range). A range that starts past the end, "bytes=-0", or B < A: 416.
ByteRange byte_range(const std::string &range, int64_t size, int64_t max_chunk);

}  // namespace gramothi::recording
