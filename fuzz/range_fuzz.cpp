// The recording audio route's Range header (plugins/recording/byte_range.hpp): whatever the
// header and the file's size, the answer is the whole file, a part of it inside the file and
// at most one chunk long, or "not satisfiable"; never a part outside the file.
//
// Input: eight bytes of file size (little-endian, taken modulo 2^40), then the header value.
#include <cstring>

#include "byte_range.hpp"
#include "fuzz_support.hpp"

using namespace gramothi;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8 || size > 4096) return 0;
  uint64_t raw = 0;
  std::memcpy(&raw, data, 8);
  int64_t file_size = static_cast<int64_t>(raw % (uint64_t{1} << 40));
  std::string range(reinterpret_cast<const char *>(data + 8), size - 8);
  if (range.find('\0') != std::string::npos) return 0;  // a header value has no NUL
  for (int64_t max_chunk : {int64_t{64} * 1024 * 1024, int64_t{1000}}) {
    auto r = recording::byte_range(range, file_size, max_chunk);
    FUZZ_CHECK(r.status == 200 || r.status == 206 || r.status == 416);
    if (r.status == 416) continue;
    FUZZ_CHECK(r.from >= 0);
    FUZZ_CHECK(r.to - r.from + 1 <= max_chunk);
    if (r.status == 200) {
      FUZZ_CHECK(r.from == 0 && r.to == file_size - 1);
    } else {
      FUZZ_CHECK(r.from <= r.to && r.to < file_size);
    }
    if (range.empty()) FUZZ_CHECK(r.status == 200 || r.to - r.from + 1 == max_chunk);
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  fuzz::quiet_logs();
  return 0;
}
