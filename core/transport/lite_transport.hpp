// LiteTransport: the listeners' WebRTC transport without a webrtcbin per listener. One UDP
// socket per local address, shared by every listener, and one thread that serves them all:
//   - ICE-lite (RFC 8445 §2.5): the server answers the browser's connectivity checks and
//     never sends its own; the browser, as the full agent, picks the path. Only checks with
//     the right ufrag pair are answered, replayed ones never; media moves to another address
//     only on that address's own fresh nominating check, at most once per
//     path_switch_interval_ms; and it stops for good when no fresh check has come for
//     consent_timeout_ms (RFC 7675 consent). The rules are spelled out in lite_transport.cpp.
//   - DTLS-SRTP per listener (DtlsSrtpSession): keys from the handshake, the peer's certificate
//     checked against its SDP fingerprint.
//   - RTCP: a Sender Report every 2 s per listener; the listener's receiver reports come back
//     as LiteEvents::report (loss, jitter, round-trip time) for its BandwidthController.
// Encoders' streaming threads pack each Opus frame per listener (LiteSession::pack: RTP header,
// SRTP) and send the whole batch with one sendmmsg per socket, so a listener costs no thread,
// no pipeline and no queue; a listener that stops reading costs nothing but its UDP drops.
//
// Threads: create/remove/set_answer run on the main loop; pack/send on encoder threads; the
// transport thread reads the sockets and runs timers. LiteEvents callbacks run on the
// transport thread: the owner hops to its own loop. Ownership: the transport and the engine
// share each LiteSession; remove() makes the transport forget it and says goodbye (DTLS
// close_notify) to the peer. An event already under way when remove() is called may still
// arrive just after it: owners check that the listener is still theirs (MediaEngine does).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "transport/dtls_srtp.hpp"

namespace gramothi {

struct LiteSettings {
  std::vector<std::string> addresses;  // local IPs to serve on; empty = every interface's
  std::string advertised_address;      // a 1:1 NAT's public IP, offered first
  int port_min = 0, port_max = 0;      // the one UDP port comes from this range; 0 = any
  // Consent freshness (RFC 7675): nothing more is sent to a listener whose path has brought no
  // fresh connectivity check for this long. The RFC says 30 s; shorter only for tests.
  int consent_timeout_ms = 30000;
  // A nominated path moves to another address at most once per this interval.
  int path_switch_interval_ms = 2000;
};

// A session's link: kConnecting at the first check, kConnected once DTLS is done, kFailed
// (for good; the detail says why).
enum class LiteState { kNew, kConnecting, kConnected, kFailed };
std::string_view lite_state_name(LiteState state);  // "new", "connecting", ...

// Why a session failed: consent (no connectivity check in time, RFC 7675), or the connection
// itself (DTLS failed, the peer closed it).
enum class LiteFailure { kNone, kNoConsent, kConnection };

struct LiteEvents {
  std::function<void(LiteState state, LiteFailure failure, const std::string &detail)> state;
  // A receiver report about our stream: loss 0..1, jitter and round-trip time in ms (-1 unknown)
  std::function<void(double loss, double jitter_ms, double rtt_ms)> report;
};

// One datagram ready to go; filled by LiteSession::pack.
struct OutPacket {
  int fd = -1;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  int len = 0;
  uint8_t data[1500];
};

class LiteSession {
 public:
  ~LiteSession();
  const std::string &offer_sdp() const { return offer_; }
  // The listener's answer: its ICE credentials, fingerprint and DTLS role. Main loop.
  std::optional<Error> set_answer(const std::string &sdp);
  // One Opus frame (pts in nanoseconds on the shared media clock) as this listener's next SRTP
  // packet. False when the listener is not connected yet (the frame is simply not sent).
  // `redundancy` (0..rtp::kMaxRedundantFrames): how many of the frames sent before it the packet
  // repeats (RED, RFC 2198), when the listener's answer accepted RED; plain Opus otherwise.
  bool pack(const uint8_t *opus, size_t len, uint64_t pts_ns, OutPacket &out, int redundancy = 0);
  // The listener accepted RED in its answer.
  bool accepts_red() const;
  uint64_t packets_sent() const { return packets_total_.load(); }

  struct State;  // behind the mutex; defined in lite_transport.cpp

 private:
  friend class LiteTransport;
  LiteSession() = default;

  std::string ufrag_, pwd_, offer_, cname_;
  uint32_t ssrc_ = 0;
  uint8_t pt_ = 0, red_pt_ = 0;
  int64_t consent_timeout_us_ = 0;
  LiteEvents events_;
  std::shared_ptr<DtlsIdentity> identity_;
  std::atomic<uint64_t> packets_total_{0};
  mutable std::mutex mutex_;
  std::unique_ptr<State> state_;
};

class LiteTransport {
 public:
  // Binds the sockets and starts the thread. Errors: "media_error" naming the address/port.
  static Result<std::unique_ptr<LiteTransport>> start(const LiteSettings &settings);
  ~LiteTransport();
  LiteTransport(const LiteTransport &) = delete;
  LiteTransport &operator=(const LiteTransport &) = delete;

  // A new listener: its offer (send-only Opus, payload type `pt`, SSRC `ssrc`; and RED over
  // Opus at `red_pt` unless it is 0) is ready at once.
  std::shared_ptr<LiteSession> create(uint32_t ssrc, uint8_t pt, const std::string &cname,
                                      LiteEvents events, uint8_t red_pt = 0);
  // Forgets the session and tells its peer (DTLS close_notify).
  void remove(const std::shared_ptr<LiteSession> &session);
  // Sends packets[0..n) with as few system calls as the sockets allow. Any thread.
  static void send(OutPacket *packets, size_t n);
  // "ADDRESS:PORT" of each socket, for the log.
  std::vector<std::string> endpoints() const;

  struct Impl;

 private:
  LiteTransport() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gramothi
