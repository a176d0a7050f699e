// RTP and RTCP as the lite transport reads them from a listener (LiteTransport::Impl::
// on_datagram, on_rtcp): the demultiplexing tests, SRTCP/SRTP unprotection of hostile bytes
// (libsrtp through DtlsSrtpSession, keyed by a real DTLS handshake made once in memory), and
// the report blocks of a compound RTCP packet that passed authentication, with the round-trip
// time computed from them.
//
// Input: the first byte picks what the rest is:
//   0: raw bytes through the report-block parser (as if they had been unprotected),
//   1: a hostile SRTCP datagram, unprotected by the server side,
//   2: a hostile SRTP datagram, unprotected by the server side,
//   3: RTCP that a keyed listener protects and the server unprotects and reads (the real path
//      of a receiver report: authenticated bytes, whatever their content).
#include <memory>
#include <vector>

#include "fuzz_support.hpp"
#include "transport/dtls_srtp.hpp"
#include "transport/rtp_wire.hpp"

using namespace gramothi;

namespace {

constexpr size_t kMaxDatagram = 2048;  // the transport's receive buffer
constexpr size_t kTrailer = 64;        // room for the SRTP/SRTCP trailer

struct KeyedPair {
  std::unique_ptr<DtlsSrtpSession> server, client;
};

// The server's and a listener's sessions after a handshake in memory (as tests/transport does).
KeyedPair &keyed_pair() {
  static KeyedPair pair = [] {
    auto server_id = DtlsIdentity::generate();
    auto client_id = DtlsIdentity::generate();
    FUZZ_CHECK(server_id && client_id);
    KeyedPair p;
    p.server = std::make_unique<DtlsSrtpSession>(*server_id, DtlsSrtpSession::Role::kServer,
                                                 "sha-256 " + (*client_id)->fingerprint());
    p.client = std::make_unique<DtlsSrtpSession>(*client_id, DtlsSrtpSession::Role::kClient,
                                                 "sha-256 " + (*server_id)->fingerprint());
    p.client->start();
    for (int round = 0; round < 20; round++) {
      auto from_client = p.client->take_outgoing();
      auto from_server = p.server->take_outgoing();
      if (from_client.empty() && from_server.empty()) break;
      for (auto &d : from_client)
        p.server->receive(d.data(), d.size());
      for (auto &d : from_server)
        p.client->receive(d.data(), d.size());
    }
    FUZZ_CHECK(p.server->ready() && p.client->ready());
    return p;
  }();
  return pair;
}

// What on_rtcp does with bytes that passed SRTCP: every report block, and its round trip.
void read_reports(const uint8_t *data, size_t len, uint64_t arrival_ntp) {
  auto blocks = rtp::report_blocks(data, len);
  FUZZ_CHECK(blocks.size() * 24 <= len);
  for (const auto &b : blocks) {
    double rtt = rtp::round_trip_ms(b, arrival_ntp);
    FUZZ_CHECK(rtt == -1 || (rtt >= 0 && rtt <= 60000));
    double loss = b.fraction_lost / 256.0;
    FUZZ_CHECK(loss >= 0 && loss < 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > kMaxDatagram + 1) return 0;
  uint8_t mode = data[0] % 4;
  data++;
  size--;
  bool rtcp = rtp::looks_like_rtcp(data, size);
  bool rtp_like = rtp::looks_like_rtp(data, size);
  FUZZ_CHECK(!rtcp || size >= 8);
  FUZZ_CHECK(!rtp_like || size >= 12);
  uint64_t arrival = rtp::ntp_from_unix_us(1'700'000'000'000'000);
  std::vector<uint8_t> buf(data, data + size);
  buf.resize(size + kTrailer);
  int len = static_cast<int>(size);
  KeyedPair &pair = keyed_pair();
  switch (mode) {
    case 0:
      read_reports(data, size, arrival);
      break;
    case 1:
      if (!rtcp) break;
      if (pair.server->unprotect_rtcp(buf.data(), &len)) {
        FUZZ_CHECK(len >= 0 && static_cast<size_t>(len) <= size);
        read_reports(buf.data(), static_cast<size_t>(len), arrival);
      }
      break;
    case 2:
      if (!rtp_like) break;
      if (pair.server->unprotect_rtp(buf.data(), &len))
        FUZZ_CHECK(len >= 0 && static_cast<size_t>(len) <= size);
      break;
    case 3:
      if (!rtcp || !pair.client->protect_rtcp(buf.data(), &len)) break;
      FUZZ_CHECK(static_cast<size_t>(len) <= size + kTrailer);
      FUZZ_CHECK(pair.server->unprotect_rtcp(buf.data(), &len));
      FUZZ_CHECK(static_cast<size_t>(len) == size);
      read_reports(buf.data(), static_cast<size_t>(len), arrival);
      break;
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  fuzz::quiet_logs();
  return 0;
}
