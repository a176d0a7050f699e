#include "ogg_pages.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace gramothi {

uint32_t ogg_crc(const uint8_t *data, size_t len) {
  static uint32_t table[256];
  static bool ready = false;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t r = i << 24;
      for (int k = 0; k < 8; k++)
        r = (r & 0x80000000u) ? (r << 1) ^ 0x04c11db7u : r << 1;
      table[i] = r;
    }
    ready = true;
  }
  uint32_t crc = 0;
  for (size_t i = 0; i < len; i++)
    crc = (crc << 8) ^ table[((crc >> 24) ^ data[i]) & 0xff];
  return crc;
}

namespace {

uint32_t le32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Samples (at 48 kHz) in one Opus packet.
uint64_t opus_packet_samples(const uint8_t *p, size_t len) {
  if (len == 0) return 0;
  unsigned config = p[0] >> 3;
  uint64_t frame;  // in 48 kHz samples
  if (config < 12)
    frame = uint64_t(480) << (config & 3);  // SILK: 10, 20, 40, 60 ms
  else if (config < 16)
    frame = (config & 1) ? 960 : 480;  // hybrid: 10, 20 ms
  else
    frame = uint64_t(120) << (config & 3);  // CELT: 2.5, 5, 10, 20 ms
  if (config < 12 && (config & 3) == 3) frame = 2880;
  switch (p[0] & 3) {
    case 0:
      return frame;
    case 1:
    case 2:
      return 2 * frame;
    default:
      return len >= 2 ? frame * (p[1] & 0x3F) : 0;
  }
}

}  // namespace

OggInfo ogg_finalize(const std::string &path) {
  OggInfo info;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return info;
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return info;
  }
  // Recordings are small (about 11 MB an hour at 24 kbit/s): read it whole.
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  size_t pos = 0, good_end = 0;
  uint64_t samples = 0;
  uint16_t pre_skip = 0;
  bool saw_head = false, eos = false;
  while (pos + 27 <= data.size() && memcmp(&data[pos], "OggS", 4) == 0) {
    const uint8_t *h = &data[pos];
    size_t segments = h[26];
    if (pos + 27 + segments > data.size()) break;
    size_t body = 0;
    for (size_t i = 0; i < segments; i++)
      body += h[27 + i];
    size_t page_len = 27 + segments + body;
    if (pos + page_len > data.size()) break;
    std::vector<uint8_t> copy(h, h + page_len);
    memset(&copy[22], 0, 4);
    if (ogg_crc(copy.data(), copy.size()) != le32(h + 22)) break;
    const uint8_t *payload = h + 27 + segments;
    if (!saw_head && body >= 19 && memcmp(payload, "OpusHead", 8) == 0) {
      saw_head = true;
      pre_skip = static_cast<uint16_t>(payload[10] | payload[11] << 8);
    }
    // The audio's length: every Opus packet's duration from its TOC byte (RFC 6716 §3.1), so
    // it does not depend on where the muxer's granule positions started.
    size_t offset = 0, packet = 0;
    for (size_t i = 0; i < segments; i++) {
      packet += h[27 + i];
      if (h[27 + i] == 255 && i + 1 < segments) continue;
      if (h[27 + i] == 255) break;  // continues on the next page: counted there (rare for Opus)
      const uint8_t *pk = payload + offset;
      if (packet > 0 && memcmp(pk, "OpusHead", packet >= 8 ? 8 : packet) != 0 &&
          !(packet >= 8 && memcmp(pk, "OpusTags", 8) == 0))
        samples += opus_packet_samples(pk, packet);
      offset += packet;
      packet = 0;
    }
    eos = (h[5] & 0x04) != 0;
    pos += page_len;
    good_end = pos;
  }
  if (good_end < data.size()) {
    if (ftruncate(fd, static_cast<off_t>(good_end)) == 0) fsync(fd);
    eos = false;
  }
  close(fd);
  info.readable = saw_head;
  info.complete = saw_head && eos;
  info.bytes = static_cast<int64_t>(good_end);
  if (samples > pre_skip) info.duration_ms = static_cast<int64_t>((samples - pre_skip) / 48);
  return info;
}

}  // namespace gramothi
