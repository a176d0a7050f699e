// A light listener, for load (bench/live_audio_bench) and for tests: the protocol a browser
// speaks to the server's lite transport — ICE as the controlling agent (a Binding request with
// USE-CANDIDATE to the offer's first candidate, then a consent check every 5 s), a DTLS client
// handshake checked against the offer's fingerprint, and SRTP decryption of every packet —
// without a webrtcbin, a jitter buffer or a decoder. It costs a socket and a few microseconds a
// packet, so a benchmark's load clients do not crowd the server off the machine. Runs on the
// default main context.
#pragma once

#include <arpa/inet.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <sstream>

#include "../tests/media/webrtc_peer.hpp"
#include "transport/dtls_srtp.hpp"
#include "transport/stun.hpp"

namespace gramothi {

class LiteClient {
 public:
  LiteClient(WsClient &ws, std::shared_ptr<DtlsIdentity> identity)
      : ws_(ws), identity_(std::move(identity)) {
    ws_.on_media_message = [this](const WsMessage &m) {
      if (m.type == "offer") on_offer(m.str("sdp"));
    };
  }
  ~LiteClient() {
    ws_.on_media_message = nullptr;
    if (watch_) g_source_remove(watch_);
    if (timer_) g_source_remove(timer_);
    if (fd_ >= 0) close(fd_);
  }
  LiteClient(const LiteClient &) = delete;
  LiteClient &operator=(const LiteClient &) = delete;

  void listen(const std::string &profile) {
    ws_.send(profile.empty() ? json_msg("listen", {}) : json_msg("listen", {{"profile", profile}}));
  }
  std::vector<ListenerPeer::RtpPacket> packets() const { return packets_; }
  size_t packet_count() const { return packets_.size(); }
  bool connected() const { return dtls_ && dtls_->ready(); }
  // A client that stops checking (a test of consent freshness): no more Binding requests.
  void stop_checks() { checking_ = false; }
  // Consent checks every `ms` once connected (5 s by default, as RFC 7675 suggests).
  void set_check_interval_ms(int ms) { check_interval_us_ = int64_t{ms} * 1000; }

 private:
  void on_offer(const std::string &sdp) {
    std::istringstream lines(sdp);
    std::string line, fingerprint, host;
    int port = 0;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto value = [&](const char *key) { return line.substr(strlen(key)); };
      if (line.rfind("a=ice-ufrag:", 0) == 0) remote_ufrag_ = value("a=ice-ufrag:");
      if (line.rfind("a=ice-pwd:", 0) == 0) remote_pwd_ = value("a=ice-pwd:");
      if (line.rfind("a=fingerprint:", 0) == 0) fingerprint = value("a=fingerprint:");
      if (line.rfind("a=candidate:", 0) == 0 && port == 0) {
        // candidate:F C udp PRIO HOST PORT typ host
        std::istringstream c(line);
        std::string f, comp, proto, prio;
        c >> f >> comp >> proto >> prio >> host >> port;
      }
    }
    if (host.empty() || port == 0 || fingerprint.empty()) return;
    std::memset(&server_, 0, sizeof server_);
    server_.sin_family = AF_INET;
    server_.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &server_.sin_addr);
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
    bind(fd_, reinterpret_cast<sockaddr *>(&local), sizeof local);
    watch_ = g_unix_fd_add(
        fd_, G_IO_IN,
        [](gint, GIOCondition, gpointer self) -> gboolean {
          static_cast<LiteClient *>(self)->on_readable();
          return G_SOURCE_CONTINUE;
        },
        this);
    dtls_ =
        std::make_unique<DtlsSrtpSession>(identity_, DtlsSrtpSession::Role::kClient, fingerprint);
    ufrag_ = random_text(8);
    pwd_ = random_text(24);
    std::string answer =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
        "a=ice-ufrag:" +
        ufrag_ + "\r\na=ice-pwd:" + pwd_ +
        "\r\n"
        "a=fingerprint:sha-256 " +
        identity_->fingerprint() +
        "\r\n"
        "a=setup:active\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000/2\r\n";
    ws_.send(json_msg("answer", {{"sdp", answer}}));
    send_check();
    timer_ = g_timeout_add(
        100,
        [](gpointer self) -> gboolean {
          static_cast<LiteClient *>(self)->on_timer();
          return G_SOURCE_CONTINUE;
        },
        this);
  }

  static std::string random_text(size_t n) {
    static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string out;
    for (size_t i = 0; i < n; i++)
      out += kChars[g_random_int_range(0, 36)];
    return out;
  }

  void send_check() {
    stun::TransactionId tx;
    RAND_bytes(tx.data(), static_cast<int>(tx.size()));
    auto req = stun::binding_request(tx, remote_ufrag_ + ":" + ufrag_, remote_pwd_, 0x6e0001ff,
                                     0x1234567890abcdefull, true);
    send(req.data(), req.size());
    last_check_us_ = g_get_monotonic_time();
  }

  void send(const uint8_t *data, size_t len) {
    sendto(fd_, data, len, MSG_DONTWAIT, reinterpret_cast<const sockaddr *>(&server_),
           sizeof server_);
  }

  void flush_dtls() {
    for (auto &d : dtls_->take_outgoing())
      send(d.data(), d.size());
  }

  void on_timer() {
    int64_t now = g_get_monotonic_time();
    // Checks until the first answer, then consent checks every 5 s as browsers do.
    if (checking_ && now - last_check_us_ > (ice_ok_ ? check_interval_us_ : 200000)) send_check();
    if (ice_ok_ && !dtls_->ready()) {
      dtls_->on_timer();
      flush_dtls();
    }
  }

  void on_readable() {
    uint8_t buf[2048];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return;
      auto len = static_cast<size_t>(n);
      if (stun::looks_like_stun(buf, len)) {
        auto m = stun::parse(buf, len);
        if (m && m->type == stun::kBindingSuccess && !ice_ok_) {
          ice_ok_ = true;
          dtls_->start();
          flush_dtls();
        }
      } else if (buf[0] >= 20 && buf[0] <= 63) {
        dtls_->receive(buf, len);
        flush_dtls();
      } else if (buf[0] >= 128 && buf[0] <= 191 && len >= 12 && !(buf[1] >= 192 && buf[1] <= 223)) {
        int plain = static_cast<int>(len);
        if (!dtls_->unprotect_rtp(buf, &plain)) continue;
        ListenerPeer::RtpPacket p;
        p.ssrc = uint32_t(buf[8]) << 24 | uint32_t(buf[9]) << 16 | uint32_t(buf[10]) << 8 | buf[11];
        p.seq = static_cast<guint16>(buf[2] << 8 | buf[3]);
        p.ts = uint32_t(buf[4]) << 24 | uint32_t(buf[5]) << 16 | uint32_t(buf[6]) << 8 | buf[7];
        p.arrival_us = g_get_monotonic_time();
        packets_.push_back(p);
      }
    }
  }

  WsClient &ws_;
  std::shared_ptr<DtlsIdentity> identity_;
  std::unique_ptr<DtlsSrtpSession> dtls_;
  std::string remote_ufrag_, remote_pwd_, ufrag_, pwd_;
  sockaddr_in server_{};
  int fd_ = -1;
  guint watch_ = 0, timer_ = 0;
  bool ice_ok_ = false;
  bool checking_ = true;
  int64_t check_interval_us_ = 5000000;
  int64_t last_check_us_ = 0;
  std::vector<ListenerPeer::RtpPacket> packets_;
};

}  // namespace gramothi
