// The lite transport's wire formats: STUN against the RFC 5769 test vectors, RTCP sender and
// receiver reports, a DTLS-SRTP handshake between two sessions in memory (both SRTP profiles),
// and the checks a listener's SDP answer passes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

#include "transport/dtls_srtp.hpp"
#include "transport/rtp_wire.hpp"
#include "transport/sdp_answer.hpp"
#include "transport/stun.hpp"

using namespace gramothi;

namespace {

// RFC 5769 §2.1: a Binding request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
// MESSAGE-INTEGRITY and FINGERPRINT.
const uint8_t kRfcRequest[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};
// RFC 5769 §2.2: the IPv4 success response (XOR-MAPPED-ADDRESS 192.0.2.1:32853).
const uint8_t kRfcResponse[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};
const char kRfcPassword[] = "VOkJxbRl1RmTxUk/WvJxBt";

}  // namespace

TEST(Stun, ParsesTheRfc5769RequestAndChecksItsIntegrity) {
  auto m = stun::parse(kRfcRequest, sizeof kRfcRequest);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, stun::kBindingRequest);
  EXPECT_EQ(m->username, "evtj:h6vY");
  EXPECT_FALSE(m->use_candidate);
  EXPECT_FALSE(m->ice_controlling);  // the sample carries ICE-CONTROLLED
  EXPECT_TRUE(stun::integrity_ok(kRfcRequest, sizeof kRfcRequest, *m, kRfcPassword));
  EXPECT_FALSE(stun::integrity_ok(kRfcRequest, sizeof kRfcRequest, *m, "wrong-password"));
}

TEST(Stun, RefusesATamperedOrTruncatedRequest) {
  uint8_t copy[sizeof kRfcRequest];
  std::memcpy(copy, kRfcRequest, sizeof copy);
  copy[70] ^= 1;  // inside USERNAME: the FINGERPRINT no longer matches
  EXPECT_FALSE(stun::parse(copy, sizeof copy));
  EXPECT_FALSE(stun::parse(kRfcRequest, sizeof kRfcRequest - 4));
  EXPECT_FALSE(stun::parse(kRfcRequest, 19));
  const uint8_t rtp[] = {0x80, 0x6f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(stun::looks_like_stun(rtp, sizeof rtp));
}

TEST(Stun, BuildsTheRfc5769SuccessResponseByteForByte) {
  stun::TransactionId tx;
  std::memcpy(tx.data(), kRfcRequest + 8, 12);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(32853);
  inet_pton(AF_INET, "192.0.2.1", &peer.sin_addr);
  auto out =
      stun::binding_success(tx, reinterpret_cast<sockaddr *>(&peer), kRfcPassword, "test vector");
  ASSERT_EQ(out.size(), sizeof kRfcResponse);
  EXPECT_EQ(0, std::memcmp(out.data(), kRfcResponse, out.size()));
}

TEST(Stun, ARequestWeBuildParsesWithUseCandidateAndValidIntegrity) {
  stun::TransactionId tx{};
  tx[0] = 7;
  auto req =
      stun::binding_request(tx, "srv1:cli2", "server-password-0123456789", 0x6e0001ff, 42, true);
  auto m = stun::parse(req.data(), req.size());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->username, "srv1:cli2");
  EXPECT_TRUE(m->use_candidate);
  EXPECT_TRUE(m->ice_controlling);
  EXPECT_EQ(m->transaction, tx);
  EXPECT_TRUE(stun::integrity_ok(req.data(), req.size(), *m, "server-password-0123456789"));
}

TEST(Rtcp, ASenderReportIsWellFormedAndCarriesTheCname) {
  auto sr = rtp::sender_report(0x11223344, 0xAABBCCDD00112233ull, 48000, 50, 4000, "gramothi-7");
  ASSERT_EQ(sr.size() % 4, 0u);
  EXPECT_EQ(sr[0], 0x80);
  EXPECT_EQ(sr[1], 200);
  EXPECT_EQ((sr[2] << 8 | sr[3]) * 4 + 4, 28);  // SR without report blocks
  EXPECT_EQ(sr[28 + 1], 202);                   // then SDES
  EXPECT_EQ((sr[30] << 8 | sr[31]) * 4 + 4, static_cast<int>(sr.size()) - 28);
  EXPECT_EQ(sr[28 + 8], 1);  // CNAME
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(&sr[28 + 10]), sr[28 + 9]), "gramothi-7");
  EXPECT_TRUE(rtp::looks_like_rtcp(sr.data(), sr.size()));
  EXPECT_TRUE(rtp::report_blocks(sr.data(), sr.size()).empty());
}

TEST(Rtcp, ReadsLossJitterAndRoundTripFromAReceiverReport) {
  // RR from SSRC 0x01020304 about 0x11223344: 10 % lost (26/256), cumulative -1 (duplicates),
  // jitter 480 ticks, LSR/DLSR such that the round trip is 250 ms.
  uint64_t sr_ntp = rtp::ntp_from_unix_us(1'700'000'000'000'000);
  uint32_t lsr = static_cast<uint32_t>(sr_ntp >> 16);
  uint32_t dlsr = 65536;  // 1 s held at the receiver
  uint64_t arrival = rtp::ntp_from_unix_us(1'700'000'001'250'000);
  uint8_t rr[32] = {0x81, 201, 0, 7, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 26, 0xFF, 0xFF, 0xFF};
  rr[16 + 3] = 9;  // highest sequence 9
  rr[20 + 2] = 480 >> 8;
  rr[20 + 3] = 480 & 0xFF;
  for (int i = 0; i < 4; i++) {
    rr[24 + i] = static_cast<uint8_t>(lsr >> (24 - 8 * i));
    rr[28 + i] = static_cast<uint8_t>(dlsr >> (24 - 8 * i));
  }
  auto blocks = rtp::report_blocks(rr, sizeof rr);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].ssrc, 0x11223344u);
  EXPECT_EQ(blocks[0].fraction_lost, 26);
  EXPECT_EQ(blocks[0].cumulative_lost, -1);
  EXPECT_EQ(blocks[0].highest_seq, 9u);
  EXPECT_EQ(blocks[0].jitter, 480u);
  EXPECT_NEAR(rtp::round_trip_ms(blocks[0], arrival), 250.0, 0.1);
  blocks[0].lsr = 0;
  EXPECT_EQ(rtp::round_trip_ms(blocks[0], arrival), -1);
  // A length that runs past the end stops the parse instead of reading beyond it.
  rr[3] = 9;
  EXPECT_TRUE(rtp::report_blocks(rr, sizeof rr).empty());
}

namespace {

// Carries datagrams between two sessions until neither has anything to say.
void pump(DtlsSrtpSession &a, DtlsSrtpSession &b) {
  for (int round = 0; round < 20; round++) {
    auto from_a = a.take_outgoing();
    auto from_b = b.take_outgoing();
    if (from_a.empty() && from_b.empty()) return;
    for (auto &d : from_a)
      b.receive(d.data(), d.size());
    for (auto &d : from_b)
      a.receive(d.data(), d.size());
  }
}

}  // namespace

// Both sides offer AEAD_AES_128_GCM first (as Chromium does): it is chosen, and its 16-byte tag
// is on every packet.
TEST(DtlsSrtp, AHandshakeInMemoryKeysBothSidesAndRtpRoundTrips) {
  auto server_id = DtlsIdentity::generate();
  auto client_id = DtlsIdentity::generate();
  ASSERT_TRUE(server_id && client_id);
  EXPECT_EQ((*server_id)->fingerprint().size(), 32u * 3 - 1);  // "AB:" x 32
  DtlsSrtpSession server(*server_id, DtlsSrtpSession::Role::kServer,
                         "sha-256 " + (*client_id)->fingerprint());
  DtlsSrtpSession client(*client_id, DtlsSrtpSession::Role::kClient,
                         "sha-256 " + (*server_id)->fingerprint());
  client.start();
  pump(client, server);
  ASSERT_FALSE(server.failed()) << server.failure();
  ASSERT_FALSE(client.failed()) << client.failure();
  ASSERT_TRUE(server.ready());
  ASSERT_TRUE(client.ready());
  EXPECT_EQ(server.srtp_profile(), "SRTP_AEAD_AES_128_GCM");
  EXPECT_EQ(client.srtp_profile(), "SRTP_AEAD_AES_128_GCM");

  uint8_t packet[12 + 100 + 16];
  rtp::write_header(packet, true, 111, 1000, 48000, 0xCAFE);
  for (int i = 0; i < 100; i++)
    packet[12 + i] = static_cast<uint8_t>(i);
  int len = 112;
  ASSERT_TRUE(server.protect_rtp(packet, &len));
  EXPECT_EQ(len, 112 + 16);        // AEAD_AES_128_GCM adds a 128-bit tag
  EXPECT_NE(packet[12 + 50], 50);  // the payload is encrypted
  ASSERT_TRUE(client.unprotect_rtp(packet, &len));
  EXPECT_EQ(len, 112);
  EXPECT_EQ(packet[12 + 50], 50);
  EXPECT_EQ(packet[1], 0x80 | 111);

  // RTCP the other way (the listener's receiver reports).
  auto sr = rtp::sender_report(0xBEEF, 1, 2, 3, 4, "c");
  std::vector<uint8_t> buf(sr.begin(), sr.end());
  buf.resize(sr.size() + 20);
  int rlen = static_cast<int>(sr.size());
  ASSERT_TRUE(client.protect_rtcp(buf.data(), &rlen));
  ASSERT_TRUE(server.unprotect_rtcp(buf.data(), &rlen));
  EXPECT_EQ(rlen, static_cast<int>(sr.size()));
  // A replayed packet is refused.
  uint8_t next[12 + 16] = {};
  rtp::write_header(next, false, 111, 1001, 48960, 0xCAFE);
  int nlen = 12;
  ASSERT_TRUE(server.protect_rtp(next, &nlen));
  uint8_t replay[sizeof next];
  std::memcpy(replay, next, sizeof next);
  int replay_len = nlen;
  EXPECT_TRUE(client.unprotect_rtp(next, &nlen));
  EXPECT_FALSE(client.unprotect_rtp(replay, &replay_len));
}

// A peer that offers only AES128_CM_SHA1_80 gets it, in either DTLS role, and packets pass.
TEST(DtlsSrtp, APeerOfferingOnlyAesCmSha1GetsIt) {
  auto ours = DtlsIdentity::generate();
  auto theirs = DtlsIdentity::generate("SRTP_AES128_CM_SHA1_80");
  ASSERT_TRUE(ours && theirs);
  for (bool we_serve : {true, false}) {
    DtlsSrtpSession us(*ours,
                       we_serve ? DtlsSrtpSession::Role::kServer : DtlsSrtpSession::Role::kClient,
                       "sha-256 " + (*theirs)->fingerprint());
    DtlsSrtpSession peer(*theirs,
                         we_serve ? DtlsSrtpSession::Role::kClient : DtlsSrtpSession::Role::kServer,
                         "sha-256 " + (*ours)->fingerprint());
    (we_serve ? peer : us).start();
    pump(us, peer);
    ASSERT_TRUE(us.ready()) << us.failure();
    ASSERT_TRUE(peer.ready()) << peer.failure();
    EXPECT_EQ(us.srtp_profile(), "SRTP_AES128_CM_SHA1_80");
    uint8_t packet[12 + 20 + 16];
    rtp::write_header(packet, false, 111, 7, 960, 0xCAFE);
    std::memset(packet + 12, 0x42, 20);
    int len = 32;
    ASSERT_TRUE(us.protect_rtp(packet, &len));
    EXPECT_EQ(len, 32 + 10);  // an 80-bit HMAC-SHA1 tag
    ASSERT_TRUE(peer.unprotect_rtp(packet, &len));
    EXPECT_EQ(len, 32);
    EXPECT_EQ(packet[12 + 19], 0x42);
  }
}

TEST(DtlsSrtp, APeerWhoseCertificateDoesNotMatchItsFingerprintIsRefused) {
  auto server_id = DtlsIdentity::generate();
  auto client_id = DtlsIdentity::generate();
  auto stranger = DtlsIdentity::generate();
  ASSERT_TRUE(server_id && client_id && stranger);
  // The server was told the stranger's fingerprint: the client's certificate must not pass.
  DtlsSrtpSession server(*server_id, DtlsSrtpSession::Role::kServer,
                         "sha-256 " + (*stranger)->fingerprint());
  DtlsSrtpSession client(*client_id, DtlsSrtpSession::Role::kClient,
                         "sha-256 " + (*server_id)->fingerprint());
  client.start();
  pump(client, server);
  EXPECT_TRUE(server.failed());
  EXPECT_FALSE(server.ready());
  EXPECT_NE(server.failure().find("fingerprint"), std::string::npos) << server.failure();
  uint8_t packet[64] = {0x80, 111};
  int len = 12;
  EXPECT_FALSE(server.protect_rtp(packet, &len));
}

TEST(DtlsSrtp, GarbageInsteadOfAHandshakeIsDroppedWithoutHarm) {
  auto server_id = DtlsIdentity::generate();
  ASSERT_TRUE(server_id);
  DtlsSrtpSession server(*server_id, DtlsSrtpSession::Role::kServer, "sha-256 00");
  uint8_t junk[300];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = static_cast<uint8_t>(i * 37 + 22);
  junk[0] = 22;  // a handshake record's content type, then nonsense
  server.receive(junk, sizeof junk);
  EXPECT_FALSE(server.ready());
  server.on_timer();
  EXPECT_FALSE(server.ready());
}

namespace {

const std::string kAnswerHead = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const std::string kAnswerMedia =
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Ab+/\r\na=ice-pwd:0123456789abcdef012345\r\n"
    "a=fingerprint:sha-256 "
    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
    "67:89\r\na=setup:active\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n";

std::string answer_with(const std::string &from, const std::string &to) {
  std::string m = kAnswerMedia;
  m.replace(m.find(from), from.size(), to);
  return kAnswerHead + m;
}

}  // namespace

TEST(ListenerAnswer, AUsableAnswerGivesItsCredentialsFingerprintAndSetup) {
  auto a = parse_listener_answer(kAnswerHead + kAnswerMedia, 111);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->ice_ufrag, "Ab+/");
  EXPECT_EQ(a->ice_pwd, "0123456789abcdef012345");
  EXPECT_EQ(a->fingerprint.substr(0, 11), "sha-256 AB:");
  EXPECT_EQ(a->setup, "active");
  // Session-level credentials and fingerprint count too; no a=setup means active.
  std::string session_level = kAnswerHead +
                              "a=ice-ufrag:Ab+/\r\na=ice-pwd:0123456789abcdef012345\r\n" +
                              answer_with("a=setup:active\r\n", "").substr(kAnswerHead.size());
  auto b = parse_listener_answer(session_level, 111);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->setup, "");
}

TEST(ListenerAnswer, EachUnusableAnswerIsInvalidSdpWithAReason) {
  const std::string bad[] = {
      "",
      " \r\n\t",
      "garbage",
      std::string("v=0\r\n\0m=audio", 12),
      kAnswerHead,
      kAnswerHead + kAnswerMedia + kAnswerMedia,  // two m-lines for a one-line offer
      answer_with("m=audio 9", "m=video 9"),
      answer_with("m=audio 9", "m=audio 0"),
      answer_with("UDP/TLS/RTP/SAVPF", "RTP/AVP"),
      answer_with("SAVPF 111", "SAVPF 0"),
      answer_with("a=recvonly", "a=inactive"),
      answer_with("a=ice-ufrag:Ab+/\r\n", ""),
      answer_with("a=ice-pwd:0123456789abcdef012345\r\n", ""),
      answer_with("a=ice-ufrag:Ab+/", "a=ice-ufrag:abc"),  // shorter than 4
      answer_with("a=ice-ufrag:Ab+/", "a=ice-ufrag:ab:cd"),
      answer_with("a=ice-pwd:0123456789abcdef012345", "a=ice-pwd:short"),
      answer_with("a=fingerprint:sha-256 AB", "a=fingerprint:md5 AB"),
      answer_with("a=fingerprint:sha-256 AB:CD", "a=fingerprint:sha-256 ZZ:CD"),
      answer_with("a=setup:active", "a=setup:holdconn"),
      answer_with("a=setup:active", "a=setup:sideways"),
      kAnswerHead + kAnswerMedia + "a=x:" + std::string(kMaxAnswerBytes, 'x') + "\r\n",
  };
  for (const auto &sdp : bad) {
    auto a = parse_listener_answer(sdp, 111);
    ASSERT_FALSE(a) << "accepted: " << sdp.substr(0, 200);
    EXPECT_EQ(a.error().code, "invalid_sdp");
    EXPECT_EQ(a.error().kind, ErrorKind::kInvalid);
    EXPECT_FALSE(a.error().message.empty());
  }
  auto no_fingerprint = answer_with("a=fingerprint:", "a=x-fingerprint:");
  auto e = parse_listener_answer(no_fingerprint, 111);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("fingerprint"), std::string::npos);
}
