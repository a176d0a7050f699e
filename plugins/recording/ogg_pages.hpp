// Reading an Ogg/Opus recording's page headers (RFC 3533, RFC 7845) to learn its length, and
// cutting off a page that a crash left half-written. Not a muxer: the media engine writes the
// file with GStreamer's oggmux.
#pragma once

#include <cstdint>
#include <string>

namespace gramothi {

struct OggInfo {
  bool readable = false;  // at least the Opus headers are there
  bool complete = false;  // the last page ends the stream (EOS flag)
  int64_t duration_ms = 0;
  int64_t bytes = 0;  // the file's size after finalizing
};

// Scans `path`; when it ends in a partial or corrupt page, truncates it after the last good
// page. Safe to run on a complete file (changes nothing).
OggInfo ogg_finalize(const std::string &path);

// The Ogg CRC-32 (polynomial 0x04c11db7, no reflection) of `len` bytes.
uint32_t ogg_crc(const uint8_t *data, size_t len);

}  // namespace gramothi
