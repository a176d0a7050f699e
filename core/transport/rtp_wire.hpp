// RTP and RTCP on the wire, as a send-only audio sender needs them: the RTP header of each
// packet, a compound Sender Report (SR + SDES CNAME), and the report blocks of the receiver's
// RTCP (RFC 3550), from which loss, jitter and round-trip time are read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gramothi::rtp {

// Writes a 12-byte RTP header (version 2, no CSRC, no extension) at `out`.
void write_header(uint8_t *out, bool marker, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc);

// An earlier frame repeated in a RED packet (RFC 2198), and its RTP timestamp.
struct RedundantFrame {
  uint32_t ts = 0;
  const uint8_t *data = nullptr;
  size_t len = 0;
};

// A RED payload (RFC 2198) at `out` (at most `cap` bytes): a 4-byte header per earlier frame
// (oldest first; at most kMaxRedundantFrames are looked at), the primary's 1-byte header, then
// the frames' bytes in the same order. Every block has payload type `pt`. Earlier frames that RED
// cannot carry (a timestamp offset of 0 or beyond 14 bits, more than 1023 bytes) or that do not fit
// in `cap` are left out. Returns the payload's length, or 0 when not even the primary fits.
constexpr size_t kMaxRedundantFrames = 8;
size_t write_red(uint8_t *out, size_t cap, uint8_t pt, uint32_t ts, const uint8_t *primary,
                 size_t len, const RedundantFrame *earlier, size_t n_earlier);

// True for RTCP under RFC 5761 multiplexing (packet type 192..223 in the second byte).
bool looks_like_rtcp(const uint8_t *data, size_t len);
// True for RTP/RTCP at all (version 2: first byte 128..191).
bool looks_like_rtp(const uint8_t *data, size_t len);

// NTP time (RFC 5905: seconds since 1900 in the high 32 bits) from Unix microseconds.
uint64_t ntp_from_unix_us(int64_t unix_us);

// SR + SDES(CNAME), ready for SRTCP protection.
std::vector<uint8_t> sender_report(uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                                   uint32_t octets, const std::string &cname);

struct ReportBlock {
  uint32_t ssrc = 0;          // the source reported on (ours)
  uint8_t fraction_lost = 0;  // /256 since the last report
  int32_t cumulative_lost = 0;
  uint32_t highest_seq = 0;
  uint32_t jitter = 0;         // RTP timestamp units
  uint32_t lsr = 0, dlsr = 0;  // for the round-trip time
};

// The report blocks of every RR and SR in a compound packet (after SRTCP unprotection); other
// packet types are skipped. Stops at the first malformed packet.
std::vector<ReportBlock> report_blocks(const uint8_t *data, size_t len);

// Round-trip time in milliseconds from a report block and the NTP time it arrived, or -1 when
// the receiver has not yet seen a Sender Report (LSR 0).
double round_trip_ms(const ReportBlock &b, uint64_t arrival_ntp);

}  // namespace gramothi::rtp
