#include "transport/rtp_wire.hpp"

#include <algorithm>
#include <cstring>
#include <span>

namespace gramothi::rtp {
namespace {

uint32_t be32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
void put32(uint8_t *p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void append32(std::vector<uint8_t> &out, uint32_t v) {
  out.resize(out.size() + 4);
  put32(out.data() + out.size() - 4, v);
}

}  // namespace

void write_header(uint8_t *out, bool marker, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc) {
  out[0] = 0x80;
  out[1] = static_cast<uint8_t>((marker ? 0x80 : 0) | (pt & 0x7F));
  out[2] = static_cast<uint8_t>(seq >> 8);
  out[3] = static_cast<uint8_t>(seq);
  put32(out + 4, ts);
  put32(out + 8, ssrc);
}

bool looks_like_rtp(const uint8_t *data, size_t len) {
  return len >= 12 && data[0] >= 128 && data[0] <= 191;
}

size_t write_red(uint8_t *out, size_t cap, uint8_t pt, uint32_t ts, const uint8_t *primary,
                 size_t len, const RedundantFrame *earlier, size_t n_earlier) {
  constexpr uint32_t kMaxOffset = (1u << 14) - 1;
  constexpr size_t kMaxBlock = (1u << 10) - 1;
  const RedundantFrame *kept_[kMaxRedundantFrames];
  size_t n_kept = 0;
  size_t total = 1 + len;
  for (size_t i = 0; i < n_earlier && n_kept < kMaxRedundantFrames; i++) {
    const RedundantFrame &f = earlier[i];
    uint32_t offset = ts - f.ts;
    if (offset == 0 || offset > kMaxOffset || f.len == 0 || f.len > kMaxBlock) continue;
    if (total + 4 + f.len > cap) continue;
    total += 4 + f.len;
    kept_[n_kept++] = &f;
  }
  if (total > cap) return 0;
  std::span<const RedundantFrame *> kept(kept_, n_kept);
  std::stable_sort(kept.begin(), kept.end(),
                   [ts](const RedundantFrame *a, const RedundantFrame *b) {
                     return ts - a->ts > ts - b->ts;  // oldest first
                   });
  uint8_t *p = out;
  for (const RedundantFrame *f : kept) {
    uint32_t offset = ts - f->ts;
    p[0] = static_cast<uint8_t>(0x80 | (pt & 0x7F));
    p[1] = static_cast<uint8_t>(offset >> 6);
    p[2] = static_cast<uint8_t>((offset & 0x3F) << 2 | (f->len >> 8));
    p[3] = static_cast<uint8_t>(f->len & 0xFF);
    p += 4;
  }
  *p++ = static_cast<uint8_t>(pt & 0x7F);
  for (const RedundantFrame *f : kept) {
    std::memcpy(p, f->data, f->len);
    p += f->len;
  }
  std::memcpy(p, primary, len);
  p += len;
  return static_cast<size_t>(p - out);
}

bool looks_like_rtcp(const uint8_t *data, size_t len) {
  return len >= 8 && data[0] >= 128 && data[0] <= 191 && data[1] >= 192 && data[1] <= 223;
}

uint64_t ntp_from_unix_us(int64_t unix_us) {
  constexpr uint64_t kUnixToNtp = 2208988800ull;
  uint64_t secs = static_cast<uint64_t>(unix_us / 1000000) + kUnixToNtp;
  uint64_t frac = (static_cast<uint64_t>(unix_us % 1000000) << 32) / 1000000;
  return secs << 32 | frac;
}

std::vector<uint8_t> sender_report(uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                                   uint32_t octets, const std::string &cname) {
  std::vector<uint8_t> out;
  out.reserve(28 + 12 + cname.size() + 4);
  // SR, no report blocks: 7 words.
  out.insert(out.end(), {0x80, 200, 0, 6});
  append32(out, ssrc);
  append32(out, static_cast<uint32_t>(ntp >> 32));
  append32(out, static_cast<uint32_t>(ntp));
  append32(out, rtp_ts);
  append32(out, packets);
  append32(out, octets);
  // SDES with one chunk: SSRC, CNAME item, end, padded to a word.
  size_t sdes_at = out.size();
  std::string name = cname.substr(0, 255);
  out.insert(out.end(), {0x81, 202, 0, 0});
  append32(out, ssrc);
  out.push_back(1);  // CNAME
  out.push_back(static_cast<uint8_t>(name.size()));
  out.insert(out.end(), name.begin(), name.end());
  out.push_back(0);  // end of items
  while (out.size() % 4)
    out.push_back(0);
  size_t words = (out.size() - sdes_at) / 4 - 1;
  out[sdes_at + 2] = static_cast<uint8_t>(words >> 8);
  out[sdes_at + 3] = static_cast<uint8_t>(words);
  return out;
}

std::vector<ReportBlock> report_blocks(const uint8_t *data, size_t len) {
  std::vector<ReportBlock> blocks;
  size_t at = 0;
  while (len - at >= 4) {
    const uint8_t *p = data + at;
    if ((p[0] >> 6) != 2) break;
    size_t bytes = (size_t(p[2]) << 8 | p[3]) * 4 + 4;
    if (bytes > len - at) break;
    unsigned count = p[0] & 0x1F;
    size_t first = 0;
    if (p[1] == 201)
      first = 8;  // RR: header, SSRC of the receiver
    else if (p[1] == 200)
      first = 28;  // SR: header, SSRC, sender info
    if (first && first + count * 24 <= bytes) {
      for (unsigned i = 0; i < count; i++) {
        const uint8_t *b = p + first + i * 24;
        ReportBlock r;
        r.ssrc = be32(b);
        r.fraction_lost = b[4];
        uint32_t lost = uint32_t(b[5]) << 16 | uint32_t(b[6]) << 8 | b[7];
        r.cumulative_lost = (lost & 0x800000) ? static_cast<int32_t>(lost | 0xFF000000u)
                                              : static_cast<int32_t>(lost);
        r.highest_seq = be32(b + 8);
        r.jitter = be32(b + 12);
        r.lsr = be32(b + 16);
        r.dlsr = be32(b + 20);
        blocks.push_back(r);
      }
    }
    at += bytes;
  }
  return blocks;
}

double round_trip_ms(const ReportBlock &b, uint64_t arrival_ntp) {
  if (b.lsr == 0) return -1;
  uint32_t now = static_cast<uint32_t>(arrival_ntp >> 16);  // middle 32 bits
  uint32_t rtt = now - b.lsr - b.dlsr;                      // 1/65536 s, modulo 2^32
  if (rtt > 65536u * 60) return -1;                         // clock trouble, not a real RTT
  return rtt * 1000.0 / 65536.0;
}

}  // namespace gramothi::rtp
