// LiteTransport over real UDP on 127.0.0.1, with a listener made in the test from the same
// parts a browser has (a controlling ICE check, a DTLS client, SRTP): checks, the handshake,
// packets, sender and receiver reports, and goodbye.
#include <arpa/inet.h>
#include <glib.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <sstream>

#include "transport/dtls_srtp.hpp"
#include "transport/lite_transport.hpp"
#include "transport/rtp_wire.hpp"
#include "transport/stun.hpp"

using namespace gramothi;

namespace {

std::string sdp_value(const std::string &sdp, const std::string &prefix) {
  std::istringstream in(sdp);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

// What the transport told its owner.
struct Recorder {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> states;
  std::vector<double> losses;

  LiteEvents events() {
    LiteEvents e;
    e.state = [this](LiteState state, const std::string &) {
      std::string s(lite_state_name(state));
      std::lock_guard lock(mutex);
      states.push_back(s);
      changed.notify_all();
    };
    e.report = [this](double loss, double, double) {
      std::lock_guard lock(mutex);
      losses.push_back(loss);
      changed.notify_all();
    };
    return e;
  }
  bool wait(const std::function<bool()> &done, int ms = 3000) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::milliseconds(ms), done);
  }
};

class TestListener {
 public:
  explicit TestListener(const std::string &offer) {
    server_ufrag_ = sdp_value(offer, "a=ice-ufrag:");
    server_pwd_ = sdp_value(offer, "a=ice-pwd:");
    server_fingerprint_ = sdp_value(offer, "a=fingerprint:");
    std::istringstream c(sdp_value(offer, "a=candidate:"));
    std::string f, comp, proto, prio, host;
    int port = 0;
    c >> f >> comp >> proto >> prio >> host >> port;
    server_.sin_family = AF_INET;
    server_.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &server_.sin_addr);
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
    bind(fd_, reinterpret_cast<sockaddr *>(&local), sizeof local);
    identity_ = *DtlsIdentity::generate();
    dtls_ = std::make_unique<DtlsSrtpSession>(identity_, DtlsSrtpSession::Role::kClient,
                                              server_fingerprint_);
  }
  ~TestListener() { close(fd_); }

  std::string answer() const {
    return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
           "a=ice-ufrag:cli1\r\na=ice-pwd:client-password-0123456789\r\n"
           "a=fingerprint:sha-256 " +
           identity_->fingerprint() +
           "\r\na=setup:active\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
           "a=rtpmap:111 opus/48000/2\r\n";
  }
  void check(const std::string &password, bool use_candidate = true) {
    stun::TransactionId tx{};
    tx[0] = static_cast<uint8_t>(++checks_);
    auto req = stun::binding_request(tx, server_ufrag_ + ":cli1", password, 1, 2, use_candidate);
    send(req.data(), req.size());
  }
  void send(const uint8_t *d, size_t n) {
    sendto(fd_, d, n, 0, reinterpret_cast<sockaddr *>(&server_), sizeof server_);
  }
  // One datagram, or empty after `ms`.
  std::vector<uint8_t> receive(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return {};
    std::vector<uint8_t> buf(2048);
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
  bool handshake() {
    dtls_->start();
    for (int i = 0; i < 40 && !dtls_->ready() && !dtls_->failed(); i++) {
      for (auto &d : dtls_->take_outgoing())
        send(d.data(), d.size());
      auto in = receive(100);
      if (!in.empty() && in[0] >= 20 && in[0] <= 63) dtls_->receive(in.data(), in.size());
      if (in.empty()) dtls_->on_timer();
    }
    return dtls_->ready();
  }

  std::string server_ufrag_, server_pwd_, server_fingerprint_;
  sockaddr_in server_{};
  int fd_ = -1;
  int checks_ = 0;
  std::shared_ptr<DtlsIdentity> identity_;
  std::unique_ptr<DtlsSrtpSession> dtls_;
};

std::unique_ptr<LiteTransport> loopback_transport() {
  LiteSettings s;
  s.addresses = {"127.0.0.1"};
  auto t = LiteTransport::start(s);
  EXPECT_TRUE(t) << (t ? "" : t.error().message);
  return t ? std::move(*t) : nullptr;
}

}  // namespace

TEST(LiteTransport, TheOfferIsIceLiteWithOneHostCandidateAndOurFingerprint) {
  auto t = loopback_transport();
  ASSERT_TRUE(t);
  Recorder rec;
  auto s = t->create(0x1234, 111, "gramothi-1", rec.events());
  const std::string &offer = s->offer_sdp();
  EXPECT_NE(offer.find("a=ice-lite\r\n"), std::string::npos);
  EXPECT_NE(offer.find("a=sendonly\r\n"), std::string::npos);
  EXPECT_NE(offer.find("a=setup:actpass\r\n"), std::string::npos);
  EXPECT_NE(offer.find("a=ssrc:4660 cname:gramothi-1\r\n"), std::string::npos);
  EXPECT_NE(offer.find(" 127.0.0.1 "), std::string::npos);
  EXPECT_EQ(sdp_value(offer, "a=ice-pwd:").size(), 24u);
  EXPECT_EQ(t->endpoints().size(), 1u);
  t->remove(s);
}

TEST(LiteTransport, AListenerThatChecksAndHandshakesReceivesDecryptablePackets) {
  auto t = loopback_transport();
  ASSERT_TRUE(t);
  Recorder rec;
  auto s = t->create(0x1234, 111, "gramothi-1", rec.events());
  TestListener l(s->offer_sdp());
  ASSERT_FALSE(s->set_answer(l.answer()));

  // A check with the wrong password gets no answer, and nothing is sent before connecting.
  l.check("not-the-password-at-all");
  EXPECT_TRUE(l.receive(300).empty());
  OutPacket early;
  const uint8_t opus[] = {0xF8, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_FALSE(s->pack(opus, sizeof opus, 1'000'000'000, early));

  l.check(l.server_pwd_);
  auto response = l.receive(1000);
  auto m = stun::parse(response.data(), response.size());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, stun::kBindingSuccess);
  EXPECT_TRUE(stun::integrity_ok(response.data(), response.size(), *m, l.server_pwd_));
  ASSERT_TRUE(l.handshake()) << l.dtls_->failure();
  ASSERT_TRUE(rec.wait([&] { return !rec.states.empty() && rec.states.back() == "connected"; }));
  EXPECT_EQ(rec.states.front(), "connecting");

  // Browsers keep checking (consent freshness, other candidate pairs): a connected session
  // answers and stays connected.
  size_t states_before = rec.states.size();
  l.check(l.server_pwd_, false);
  EXPECT_FALSE(l.receive(1000).empty());
  EXPECT_FALSE(rec.wait([&] { return rec.states.size() > states_before; }, 300))
      << "state went to " << rec.states.back();

  // Two frames 20 ms apart: one SRTP packet each, timestamps 960 ticks apart.
  OutPacket p[2];
  ASSERT_TRUE(s->pack(opus, sizeof opus, 2'000'000'000, p[0]));
  ASSERT_TRUE(s->pack(opus, sizeof opus, 2'020'000'000, p[1]));
  LiteTransport::send(p, 2);
  std::vector<std::vector<uint8_t>> rtp_packets;
  bool saw_sender_report = false;
  for (int i = 0; i < 30 && (rtp_packets.size() < 2 || !saw_sender_report); i++) {
    auto d = l.receive(200);
    if (d.empty()) continue;
    int len = static_cast<int>(d.size());
    if (rtp::looks_like_rtcp(d.data(), d.size())) {
      if (l.dtls_->unprotect_rtcp(d.data(), &len) && d[1] == 200) saw_sender_report = true;
    } else if (l.dtls_->unprotect_rtp(d.data(), &len)) {
      d.resize(static_cast<size_t>(len));
      rtp_packets.push_back(d);
    }
  }
  ASSERT_EQ(rtp_packets.size(), 2u);
  EXPECT_TRUE(saw_sender_report);
  auto &a = rtp_packets[0], &b = rtp_packets[1];
  EXPECT_EQ(a[1] & 0x7F, 111);
  EXPECT_TRUE(a[1] & 0x80);  // marker on the first packet
  EXPECT_FALSE(b[1] & 0x80);
  EXPECT_EQ(static_cast<uint16_t>((b[2] << 8 | b[3]) - (a[2] << 8 | a[3])), 1);
  uint32_t ts_a = uint32_t(a[4]) << 24 | uint32_t(a[5]) << 16 | uint32_t(a[6]) << 8 | a[7];
  uint32_t ts_b = uint32_t(b[4]) << 24 | uint32_t(b[5]) << 16 | uint32_t(b[6]) << 8 | b[7];
  EXPECT_EQ(ts_b - ts_a, 960u);
  EXPECT_EQ(a[8] << 24 | a[9] << 16 | a[10] << 8 | a[11], 0x1234);
  EXPECT_EQ(std::vector<uint8_t>(a.begin() + 12, a.end()),
            std::vector<uint8_t>(opus, opus + sizeof opus));
  EXPECT_EQ(s->packets_sent(), 2u);

  // The listener's receiver report (10 % lost) reaches the owner.
  uint8_t rr[32 + 20] = {0x81, 201, 0, 7, 0, 0, 0, 9, 0, 0, 0x12, 0x34, 26};
  int rr_len = 32;
  ASSERT_TRUE(l.dtls_->protect_rtcp(rr, &rr_len));
  l.send(rr, static_cast<size_t>(rr_len));
  ASSERT_TRUE(rec.wait([&] { return !rec.losses.empty(); }));
  EXPECT_NEAR(rec.losses.front(), 26 / 256.0, 1e-9);

  // Goodbye: the listener hears a DTLS close_notify, and nothing is sent after.
  t->remove(s);
  bool closed = false;
  for (int i = 0; i < 10 && !closed; i++) {
    auto d = l.receive(200);
    if (!d.empty() && d[0] >= 20 && d[0] <= 63) {
      l.dtls_->receive(d.data(), d.size());
      closed = l.dtls_->closed_by_peer();
    }
  }
  EXPECT_TRUE(closed);
  OutPacket after;
  EXPECT_FALSE(s->pack(opus, sizeof opus, 2'040'000'000, after));
}

TEST(LiteTransport, AnAnswerWithoutCredentialsOrOpusIsRefused) {
  auto t = loopback_transport();
  ASSERT_TRUE(t);
  Recorder rec;
  auto s = t->create(1, 111, "c", rec.events());
  TestListener l(s->offer_sdp());
  std::string good = l.answer();
  auto without = [&](const std::string &line) {
    std::string a = good;
    a.erase(a.find(line), line.size());
    return a;
  };
  EXPECT_TRUE(s->set_answer("not sdp"));
  EXPECT_TRUE(s->set_answer(without("a=ice-pwd:client-password-0123456789\r\n")));
  EXPECT_TRUE(
      s->set_answer(without("a=fingerprint:sha-256 " + l.identity_->fingerprint() + "\r\n")));
  std::string no_opus = good;
  no_opus.replace(no_opus.find("SAVPF 111"), 9, "SAVPF 0");
  EXPECT_TRUE(s->set_answer(no_opus));
  EXPECT_FALSE(s->set_answer(good));
  EXPECT_TRUE(s->set_answer(good));  // only once
  t->remove(s);
}
