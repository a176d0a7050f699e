#include "transport/lite_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <thread>

#include "base/log.hpp"
#include "transport/rtp_wire.hpp"
#include "transport/sdp_answer.hpp"
#include "transport/stun.hpp"

namespace gramothi {

std::string_view lite_state_name(LiteState state) {
  switch (state) {
    case LiteState::kNew:
      return "new";
    case LiteState::kConnecting:
      return "connecting";
    case LiteState::kConnected:
      return "connected";
    case LiteState::kFailed:
      return "failed";
  }
  return "failed";
}

namespace {

constexpr int64_t kSecondUs = 1000000;
// RTCP SR interval per listener: RFC 3550 gives a sender a quarter of 5 % of the session's
// bandwidth, one 100-byte SR every 2 s at 2g's 40 kbit/s.
constexpr int64_t kSenderReportUs = 2 * kSecondUs;
constexpr size_t kMaxAddressesPerSession = 8;  // checked paths remembered per listener
constexpr size_t kMaxHeldChecks = 8;           // checks before the answer, kept for it
// Transaction ids of the checks a session accepted, for replay protection. Every one is kept
// for the session's life: a window of recent ones ends, and a check captured before it becomes
// fresh again (a replay that moves the media, or keeps consent for an address the listener
// left). A browser checks every 0.9 to 2.5 s, so this is 8 hours at the fast pace; a session
// that would need more fails (its listener may connect again). 8 bytes each.
constexpr size_t kMaxTransactions = 32768;
constexpr int kSrtpTrailer = 16;  // the longest SRTP tag we use (AEAD_AES_128_GCM)

void log_lite(LogLevel level, const std::string &message) {
  log_message(level, "media", message);
}

int64_t now_us() {
  return g_get_monotonic_time();
}

std::string random_ice_string(size_t n) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes(n);
  RAND_bytes(bytes.data(), static_cast<int>(n));
  std::string out;
  for (unsigned char b : bytes)
    out += kChars[b % 64];
  return out;
}

std::string address_key(int fd, const sockaddr_storage &a, socklen_t len) {
  std::string key(reinterpret_cast<const char *>(&fd), sizeof fd);
  key.append(reinterpret_cast<const char *>(&a), len);
  return key;
}

std::string sockaddr_text(const sockaddr *a) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (a->sa_family == AF_INET) {
    auto *in = reinterpret_cast<const sockaddr_in *>(a);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (a->sa_family == AF_INET6) {
    auto *in = reinterpret_cast<const sockaddr_in6 *>(a);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

// A transaction id as remembered: 56 bits of its hash (ids are random; only checks that
// passed MESSAGE-INTEGRITY are remembered, so nobody else can fill the table) and, in the low
// 8 bits, the index of the path it came from.
uint64_t transaction_hash(const stun::TransactionId &id) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (uint8_t b : id)
    h = (h ^ b) * 1099511628211ull;
  return h & ~uint64_t{0xFF};
}

}  // namespace

// Everything about a session that more than one thread touches; guarded by LiteSession::mutex_.
struct LiteSession::State {
  bool removed = false;
  // from the answer
  bool answered = false;
  std::string remote_ufrag;
  DtlsSrtpSession::Role role = DtlsSrtpSession::Role::kServer;
  std::unique_ptr<DtlsSrtpSession> dtls;
  // Checks that came before the answer (its ufrag unknown): answered, or not, once it is set.
  struct HeldCheck {
    int fd;
    sockaddr_storage from;
    socklen_t from_len;
    std::vector<uint8_t> data;
  };
  std::vector<HeldCheck> held;
  // Every path (local socket + remote address) that passed a fresh check.
  struct Path {
    int fd;
    sockaddr_storage addr;
    socklen_t len;
    std::string key;  // address_key(): in LiteTransport::Impl::by_address
    int64_t checked_at;
  };
  std::vector<Path> paths;
  std::vector<uint64_t> seen;  // transaction_hash() | path index, sorted; kMaxTransactions
  // The path media goes to (ICE's selected pair), copied from `paths` for pack().
  int fd = -1;
  sockaddr_storage remote{};
  socklen_t remote_len = 0;
  size_t selected = 0;     // its index in `paths`, when fd >= 0
  bool nominated = false;  // the listener has sent USE-CANDIDATE for it
  int64_t moved_at = 0;    // the last time a nominated path moved (0: never)
  int64_t consent_at = 0;  // the last fresh check on the selected path (RFC 7675)
  // RTP
  uint16_t seq = 0;
  uint32_t ts_base = 0;
  bool first = true;
  uint32_t packets = 0, octets = 0;
  uint32_t last_ts = 0;
  int64_t last_ts_at = 0;
  // RED: the answer accepted it; the last frames sent, newest last, for repeating
  bool red = false;
  struct Sent {
    uint32_t ts = 0;
    std::vector<uint8_t> bytes;
  };
  std::array<Sent, rtp::kMaxRedundantFrames> recent;
  size_t n_recent = 0, next_recent = 0;
  // liveness, on the transport thread
  LiteState state = LiteState::kNew;
  int64_t created_at = 0, next_sr_at = 0;
  bool was_ready = false;
};

namespace {

bool has_consent(const LiteSession::State &st, int64_t now, int64_t timeout_us) {
  return st.fd >= 0 && st.state != LiteState::kFailed && now - st.consent_at <= timeout_us;
}

}  // namespace

struct LiteTransport::Impl {
  struct Socket {
    int fd = -1;
    std::string local, advertised;  // advertised: what the offer names
    int port = 0;
    int family = AF_INET;
  };
  std::vector<Socket> sockets;
  std::shared_ptr<DtlsIdentity> identity;
  int64_t consent_timeout_us = 30 * kSecondUs;
  int64_t switch_interval_us = 2 * kSecondUs;
  GMainContext *context = nullptr;
  GMainLoop *loop = nullptr;
  std::thread thread;

  std::mutex mutex;  // the tables below
  std::map<std::string, std::shared_ptr<LiteSession>> by_ufrag, by_address;

  ~Impl() {
    if (loop) {
      // Quit from inside the loop: a quit before the thread reached g_main_loop_run() is lost.
      GSource *quit = g_idle_source_new();
      g_source_set_callback(
          quit,
          [](gpointer l) -> gboolean {
            g_main_loop_quit(static_cast<GMainLoop *>(l));
            return G_SOURCE_REMOVE;
          },
          loop, nullptr);
      g_source_attach(quit, context);
      g_source_unref(quit);
      if (thread.joinable()) thread.join();
      g_main_loop_unref(loop);
    }
    if (context) g_main_context_unref(context);
    for (auto &s : sockets)
      if (s.fd >= 0) close(s.fd);
  }

  std::shared_ptr<LiteSession> session_at(const std::string &key) {
    std::lock_guard lock(mutex);
    auto it = by_address.find(key);
    return it == by_address.end() ? nullptr : it->second;
  }

  void on_datagram(int fd, uint8_t *data, size_t len, const sockaddr_storage &from,
                   socklen_t from_len);
  void on_binding_request(int fd, const uint8_t *data, size_t len, const stun::Message &m,
                          const sockaddr_storage &from, socklen_t from_len);
  // A check from the session's own listener (credentials and ufrags right); mutex_ held.
  // Returns whether to answer it.
  bool on_check(LiteSession &s, LiteSession::State &st, int fd, const stun::Message &m,
                const sockaddr_storage &from, socklen_t from_len, int64_t now,
                std::vector<std::string> &keys_added, std::vector<std::string> &keys_dropped,
                std::vector<std::vector<uint8_t>> &to_send,
                std::vector<std::function<void()>> &later);
  // Consent is gone (or never came): the session fails for good (mutex_ held).
  void lose_consent(LiteSession &s, LiteSession::State &st,
                    std::vector<std::function<void()>> &later);
  void on_dtls(const std::shared_ptr<LiteSession> &s, int fd, const uint8_t *data, size_t len,
               const sockaddr_storage &from, socklen_t from_len);
  void on_rtcp(const std::shared_ptr<LiteSession> &s, uint8_t *data, size_t len);
  void on_tick();
};

namespace {

void send_to(int fd, const std::vector<uint8_t> &data, const sockaddr_storage &to, socklen_t len) {
  sendto(fd, data.data(), data.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr *>(&to), len);
}

void send_all(int fd, std::vector<std::vector<uint8_t>> datagrams, const sockaddr_storage &to,
              socklen_t len) {
  for (auto &d : datagrams)
    send_to(fd, d, to, len);
}

// Tells the owner about a state change, once per state.
void change_state(LiteSession::State &st, const LiteEvents &events, LiteState state,
                  const std::string &detail, std::vector<std::function<void()>> &later,
                  LiteFailure failure = LiteFailure::kNone) {
  if (st.state == state || st.state == LiteState::kFailed || st.removed) return;
  st.state = state;
  if (events.state)
    later.push_back([cb = events.state, state, failure, detail] { cb(state, failure, detail); });
}

void fail_connection(LiteSession::State &st, const LiteEvents &events, const std::string &why,
                     std::vector<std::function<void()>> &later) {
  change_state(st, events, LiteState::kFailed, why, later, LiteFailure::kConnection);
}

}  // namespace

// ---- LiteSession ----

LiteSession::~LiteSession() = default;

std::optional<Error> LiteSession::set_answer(const std::string &text) {
  auto answer = parse_listener_answer(text, pt_, red_pt_);
  if (!answer) return answer.error();
  // "active" (what browsers answer) or absent: the listener starts the handshake.
  auto role =
      answer->setup == "passive" ? DtlsSrtpSession::Role::kClient : DtlsSrtpSession::Role::kServer;
  std::lock_guard lock(mutex_);
  State &st = *state_;
  if (st.answered)
    return Error{ErrorKind::kConflict, "unexpected_answer", "This listener has answered already."};
  // Checks held until now are answered (or not) by the transport thread; a DTLS client says
  // hello once a check has made a path.
  st.answered = true;
  st.remote_ufrag = answer->ice_ufrag;
  st.red = answer->red;
  st.role = role;
  st.dtls = std::make_unique<DtlsSrtpSession>(identity_, role, answer->fingerprint);
  return std::nullopt;
}

bool LiteSession::accepts_red() const {
  std::lock_guard lock(mutex_);
  return state_->red;
}

bool LiteSession::pack(const uint8_t *opus, size_t len, uint64_t pts_ns, OutPacket &out,
                       int redundancy) {
  constexpr size_t kRoom = sizeof out.data - 12 - kSrtpTrailer;
  if (len > kRoom) return false;
  int64_t now = now_us();
  std::lock_guard lock(mutex_);
  State &st = *state_;
  if (st.removed || !st.dtls || !st.dtls->ready() || !has_consent(st, now, consent_timeout_us_))
    return false;
  uint64_t pts_us = pts_ns / 1000;
  uint32_t ts = st.ts_base + static_cast<uint32_t>(pts_us * 48 / 1000);
  size_t payload = 0;
  if (st.red) {
    // RED from the first packet on (with no earlier frame yet, or none wanted, it carries the
    // primary alone), so the browser's decoder never changes payload type mid-stream.
    rtp::RedundantFrame earlier[rtp::kMaxRedundantFrames];
    size_t want = std::min<size_t>(static_cast<size_t>(std::max(redundancy, 0)), st.n_recent);
    for (size_t i = 0; i < want; i++) {
      // newest first: recent[next_recent - 1], recent[next_recent - 2], ...
      const auto &f = st.recent[(st.next_recent + st.recent.size() - 1 - i) % st.recent.size()];
      earlier[i] = {f.ts, f.bytes.data(), f.bytes.size()};
    }
    payload = rtp::write_red(out.data + 12, kRoom, pt_, ts, opus, len, earlier, want);
    if (payload == 0) return false;
    rtp::write_header(out.data, st.first, red_pt_, st.seq, ts, ssrc_);
    auto &slot = st.recent[st.next_recent];
    slot.ts = ts;
    slot.bytes.assign(opus, opus + len);
    st.next_recent = (st.next_recent + 1) % st.recent.size();
    st.n_recent = std::min(st.n_recent + 1, st.recent.size());
  } else {
    rtp::write_header(out.data, st.first, pt_, st.seq, ts, ssrc_);
    std::memcpy(out.data + 12, opus, len);
    payload = len;
  }
  int n = static_cast<int>(12 + payload);
  if (!st.dtls->protect_rtp(out.data, &n)) return false;
  st.first = false;
  st.seq++;
  st.packets++;
  st.octets += static_cast<uint32_t>(payload);
  st.last_ts = ts;
  st.last_ts_at = now;
  out.len = n;
  out.fd = st.fd;
  out.to = st.remote;
  out.to_len = st.remote_len;
  packets_total_++;
  return true;
}

// ---- LiteTransport ----

Result<std::unique_ptr<LiteTransport>> LiteTransport::start(const LiteSettings &settings) {
  auto fail = [](const std::string &why) {
    return Error{ErrorKind::kInternal, "media_error", why};
  };
  auto identity = DtlsIdentity::generate();
  if (!identity) return identity.error();

  std::vector<std::string> addresses = settings.addresses;
  if (addresses.empty()) {
    ifaddrs *list = nullptr;
    if (getifaddrs(&list) == 0) {
      for (ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
        char host[INET6_ADDRSTRLEN];
        if (i->ifa_addr->sa_family == AF_INET) {
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in *>(i->ifa_addr)->sin_addr, host,
                    sizeof host);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
          auto *a6 = reinterpret_cast<sockaddr_in6 *>(i->ifa_addr);
          if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;
          inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof host);
        } else {
          continue;
        }
        addresses.emplace_back(host);
      }
      freeifaddrs(list);
    }
  }
  if (addresses.empty())
    return fail("no network address to serve listeners on; set [media] ice_addresses");

  auto t = std::unique_ptr<LiteTransport>(new LiteTransport());
  t->impl_ = std::make_unique<Impl>();
  Impl &im = *t->impl_;
  im.identity = *identity;
  im.consent_timeout_us = int64_t{std::max(settings.consent_timeout_ms, 1)} * 1000;
  im.switch_interval_us = int64_t{std::max(settings.path_switch_interval_ms, 0)} * 1000;

  // One port for every address, so an operator opens one UDP port in the firewall.
  auto bind_all = [&](int port) -> bool {
    std::vector<Impl::Socket> made;
    for (const auto &a : addresses) {
      Impl::Socket s;
      sockaddr_storage ss{};
      socklen_t len = 0;
      if (inet_pton(AF_INET, a.c_str(), &reinterpret_cast<sockaddr_in *>(&ss)->sin_addr) == 1) {
        auto *in = reinterpret_cast<sockaddr_in *>(&ss);
        in->sin_family = AF_INET;
        in->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof(sockaddr_in);
        s.family = AF_INET;
      } else if (inet_pton(AF_INET6, a.c_str(),
                           &reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_addr) == 1) {
        auto *in6 = reinterpret_cast<sockaddr_in6 *>(&ss);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof(sockaddr_in6);
        s.family = AF_INET6;
      } else {
        continue;
      }
      s.fd = socket(s.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s.family == AF_INET6) {
        int one = 1;
        setsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      }
      int buf = 4 * 1024 * 1024;
      setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
      if (s.fd < 0 || bind(s.fd, reinterpret_cast<sockaddr *>(&ss), len) != 0) {
        if (s.fd >= 0) close(s.fd);
        for (auto &m : made)
          close(m.fd);
        return false;
      }
      getsockname(s.fd, reinterpret_cast<sockaddr *>(&ss), &len);
      s.port = s.family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port)
                                   : ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
      if (port == 0) port = s.port;  // the rest take the same port
      s.local = s.advertised = a;
      made.push_back(s);
    }
    im.sockets = std::move(made);
    return !im.sockets.empty();
  };
  bool bound = false;
  if (settings.port_min > 0) {
    for (int p = settings.port_min; p <= settings.port_max && !bound; p++)
      bound = bind_all(p);
  } else {
    bound = bind_all(0) || bind_all(0);
  }
  if (!bound)
    return fail(settings.port_min > 0
                    ? "no free UDP port in " + std::to_string(settings.port_min) + "-" +
                          std::to_string(settings.port_max) + " on every listener address"
                    : "cannot bind a UDP socket for listeners");
  if (!settings.advertised_address.empty()) {
    // The public address first: browsers try the highest-priority candidate first.
    Impl::Socket pub = im.sockets.front();
    pub.fd = -1;
    pub.advertised = settings.advertised_address;
    pub.family = settings.advertised_address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    im.sockets.insert(im.sockets.begin(), pub);
  }

  im.context = g_main_context_new();
  im.loop = g_main_loop_new(im.context, FALSE);
  for (auto &s : im.sockets) {
    if (s.fd < 0) continue;
    GSource *src = g_unix_fd_source_new(s.fd, G_IO_IN);
    struct Reader {
      Impl *impl;
      int fd;
    };
    g_source_set_callback(
        src, G_SOURCE_FUNC(+[](gint fd, GIOCondition, gpointer data) -> gboolean {
          auto *r = static_cast<Reader *>(data);
          uint8_t buf[2048];
          for (int i = 0; i < 256; i++) {  // then let the timers run
            sockaddr_storage from{};
            socklen_t from_len = sizeof from;
            ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr *>(&from), &from_len);
            if (n < 0) break;
            r->impl->on_datagram(r->fd, buf, static_cast<size_t>(n), from, from_len);
          }
          return G_SOURCE_CONTINUE;
        }),
        new Reader{&im, s.fd}, [](gpointer d) { delete static_cast<Reader *>(d); });
    g_source_attach(src, im.context);
    g_source_unref(src);
  }
  GSource *tick = g_timeout_source_new(50);
  g_source_set_callback(
      tick,
      [](gpointer d) -> gboolean {
        static_cast<Impl *>(d)->on_tick();
        return G_SOURCE_CONTINUE;
      },
      &im, nullptr);
  g_source_attach(tick, im.context);
  g_source_unref(tick);
  im.thread = std::thread([&im] {
    g_main_context_push_thread_default(im.context);
    g_main_loop_run(im.loop);
    g_main_context_pop_thread_default(im.context);
  });
  return t;
}

LiteTransport::~LiteTransport() = default;

std::vector<std::string> LiteTransport::endpoints() const {
  std::vector<std::string> out;
  for (const auto &s : impl_->sockets)
    out.push_back((s.family == AF_INET6 ? "[" + s.advertised + "]" : s.advertised) + ":" +
                  std::to_string(s.port));
  return out;
}

std::shared_ptr<LiteSession> LiteTransport::create(uint32_t ssrc, uint8_t pt,
                                                   const std::string &cname, LiteEvents events,
                                                   uint8_t red_pt) {
  std::shared_ptr<LiteSession> s(new LiteSession());
  s->ssrc_ = ssrc;
  s->pt_ = pt;
  s->red_pt_ = red_pt == pt ? 0 : red_pt;
  s->cname_ = cname;
  s->events_ = std::move(events);
  s->identity_ = impl_->identity;
  s->state_ = std::make_unique<LiteSession::State>();
  uint32_t r[2];
  RAND_bytes(reinterpret_cast<unsigned char *>(r), sizeof r);
  s->state_->seq = static_cast<uint16_t>(r[0]);
  s->state_->ts_base = r[1];
  s->state_->created_at = now_us();
  s->consent_timeout_us_ = impl_->consent_timeout_us;
  s->pwd_ = random_ice_string(24);
  {
    std::lock_guard lock(impl_->mutex);
    do {
      s->ufrag_ = random_ice_string(8);
    } while (impl_->by_ufrag.count(s->ufrag_));
    impl_->by_ufrag[s->ufrag_] = nullptr;  // reserved; published once complete
  }

  const auto &first = impl_->sockets.front();
  const char *ip = first.family == AF_INET6 ? "IP6" : "IP4";
  std::string o;
  o += "v=0\r\n";
  o += "o=- " + std::to_string(r[0] & 0x7fffffff) + " 2 IN IP4 127.0.0.1\r\n";
  o += "s=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=ice-lite\r\na=msid-semantic: WMS gramothi\r\n";
  std::string formats = std::to_string(pt);  // Opus first: who does not know RED gets Opus
  if (s->red_pt_) formats += " " + std::to_string(s->red_pt_);
  o += "m=audio " + std::to_string(first.port) + " UDP/TLS/RTP/SAVPF " + formats + "\r\n";
  o += std::string("c=IN ") + ip + " " + first.advertised + "\r\n";
  o += "a=ice-ufrag:" + s->ufrag_ + "\r\na=ice-pwd:" + s->pwd_ + "\r\n";
  o += "a=fingerprint:sha-256 " + impl_->identity->fingerprint() + "\r\n";
  o += "a=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n";
  o += "a=rtpmap:" + std::to_string(pt) + " opus/48000/2\r\n";
  o += "a=fmtp:" + std::to_string(pt) + " minptime=10;useinbandfec=1\r\n";
  if (s->red_pt_) {
    o += "a=rtpmap:" + std::to_string(s->red_pt_) + " red/48000/2\r\n";
    o += "a=fmtp:" + std::to_string(s->red_pt_) + " " + std::to_string(pt) + "/" +
         std::to_string(pt) + "\r\n";
  }
  o += "a=ssrc:" + std::to_string(ssrc) + " cname:" + cname + "\r\n";
  o += "a=msid:gramothi audio\r\n";
  unsigned index = 0;
  for (const auto &sock : impl_->sockets) {
    // Host candidates; priority (RFC 8445 §5.1.2.1) falls with the order given.
    uint32_t priority = (126u << 24) | ((65535u - index) << 8) | 255u;
    o += "a=candidate:" + std::to_string(index + 1) + " 1 udp " + std::to_string(priority) + " " +
         sock.advertised + " " + std::to_string(sock.port) + " typ host\r\n";
    index++;
  }
  o += "a=end-of-candidates\r\n";
  s->offer_ = std::move(o);
  {
    // Published only now, complete: the transport thread may find it from here on.
    std::lock_guard lock(impl_->mutex);
    impl_->by_ufrag[s->ufrag_] = s;
  }
  return s;
}

void LiteTransport::remove(const std::shared_ptr<LiteSession> &s) {
  if (!s) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->by_ufrag.erase(s->ufrag_);
    std::lock_guard slock(s->mutex_);
    for (const auto &p : s->state_->paths) {
      auto it = impl_->by_address.find(p.key);
      if (it != impl_->by_address.end() && it->second == s) impl_->by_address.erase(it);
    }
  }
  std::vector<std::vector<uint8_t>> bye;
  int fd = -1;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    st.removed = true;
    // Goodbye only to a path that still consents (RFC 7675: nothing else may be sent to it).
    if (st.dtls && st.dtls->ready() && has_consent(st, now_us(), impl_->consent_timeout_us)) {
      st.dtls->shutdown();
      bye = st.dtls->take_outgoing();
      fd = st.fd;
      to = st.remote;
      to_len = st.remote_len;
    }
  }
  if (fd >= 0) send_all(fd, std::move(bye), to, to_len);
}

void LiteTransport::send(OutPacket *packets, size_t n) {
  constexpr size_t kBatch = 64;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  size_t i = 0;
  while (i < n) {
    int fd = packets[i].fd;
    size_t count = 0;
    while (i + count < n && count < kBatch && packets[i + count].fd == fd) {
      OutPacket &p = packets[i + count];
      iov[count] = {p.data, static_cast<size_t>(p.len)};
      std::memset(&msgs[count], 0, sizeof(mmsghdr));
      msgs[count].msg_hdr.msg_name = &p.to;
      msgs[count].msg_hdr.msg_namelen = p.to_len;
      msgs[count].msg_hdr.msg_iov = &iov[count];
      msgs[count].msg_hdr.msg_iovlen = 1;
      count++;
    }
    size_t done = 0;
    while (done < count) {
      int sent = sendmmsg(fd, msgs + done, static_cast<unsigned>(count - done), MSG_DONTWAIT);
      if (sent <= 0) {
        // A full send buffer drops this packet for this listener only; go on with the rest.
        if (sent < 0 && errno == EINTR) continue;
        done++;
        continue;
      }
      done += static_cast<size_t>(sent);
    }
    i += count;
  }
}

// ---- the transport thread ----

void LiteTransport::Impl::on_datagram(int fd, uint8_t *data, size_t len,
                                      const sockaddr_storage &from, socklen_t from_len) {
  if (stun::looks_like_stun(data, len)) {
    // Binding indications (keepalives) are not authenticated: they prove nothing, not even
    // consent, so they are ignored like every other STUN message but requests.
    auto m = stun::parse(data, len);
    if (m && m->type == stun::kBindingRequest)
      on_binding_request(fd, data, len, *m, from, from_len);
    return;
  }
  auto s = session_at(address_key(fd, from, from_len));
  if (!s || len == 0) return;  // not from a path that passed a connectivity check, or empty
  if (data[0] >= 20 && data[0] <= 63)
    on_dtls(s, fd, data, len, from, from_len);
  else if (rtp::looks_like_rtcp(data, len))
    on_rtcp(s, data, len);
}

// ICE-lite (RFC 8445 §2.5, §7.3) with the rules that keep a listener's media where the
// listener is:
//   - A check gets an answer only when its USERNAME is "<our ufrag>:<the answer's ufrag>" and
//     its MESSAGE-INTEGRITY is right. Before the answer the second half is unknown: the check
//     is held (up to kMaxHeldChecks) and answered once the answer names that ufrag.
//   - Replay protection: the session remembers the transaction ids of all the checks it
//     accepted (up to kMaxTransactions, then it fails) and the path each came on. The same id again
//     on the same path is a retransmission (answered again, changes nothing); on another path it is
//     a replay (no answer, no effect).
//   - A fresh check (an id not seen) from a path makes it a known path. The first one chooses
//     where media goes. A fresh check with USE-CANDIDATE from another path moves the media
//     there, at once while the listener has nominated nothing yet, and afterwards at most once
//     per path_switch_interval_ms.
//   - Consent (RFC 7675): media, sender reports and DTLS go to the selected path only while its
//     last fresh check is at most consent_timeout_ms old. After that the session is failed
//     (LiteFailure::kNoConsent) for good: nothing more is sent.
void LiteTransport::Impl::on_binding_request(int fd, const uint8_t *data, size_t len,
                                             const stun::Message &m, const sockaddr_storage &from,
                                             socklen_t from_len) {
  auto colon = m.username.find(':');
  if (colon == std::string::npos) return;
  std::shared_ptr<LiteSession> s;
  {
    std::lock_guard lock(mutex);
    auto it = by_ufrag.find(m.username.substr(0, colon));
    if (it != by_ufrag.end()) s = it->second;
  }
  // An unknown user or a wrong MESSAGE-INTEGRITY gets no answer at all (RFC 8445 §7.3).
  if (!s || !stun::integrity_ok(data, len, m, s->pwd_)) return;

  std::vector<std::function<void()>> later;
  std::vector<std::vector<uint8_t>> to_send;
  std::vector<std::string> keys_added, keys_dropped;
  bool answer = false;
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    if (st.removed || st.state == LiteState::kFailed) return;
    if (!st.answered) {
      if (st.held.size() < kMaxHeldChecks)
        st.held.push_back({fd, from, from_len, std::vector<uint8_t>(data, data + len)});
      return;
    }
    if (std::string_view(m.username).substr(colon + 1) != st.remote_ufrag) return;
    int64_t now = now_us();
    if (st.fd >= 0 && !has_consent(st, now, consent_timeout_us))
      lose_consent(*s, st, later);  // before the timer noticed: over all the same
    else
      answer =
          on_check(*s, st, fd, m, from, from_len, now, keys_added, keys_dropped, to_send, later);
  }
  if (!keys_added.empty() || !keys_dropped.empty()) {
    std::lock_guard lock(mutex);
    for (const auto &k : keys_dropped) {
      auto it = by_address.find(k);
      if (it != by_address.end() && it->second == s) by_address.erase(it);
    }
    if (by_ufrag.count(s->ufrag_))
      for (const auto &k : keys_added)
        by_address[k] = s;
  }
  if (answer)
    send_to(
        fd,
        stun::binding_success(m.transaction, reinterpret_cast<const sockaddr *>(&from), s->pwd_),
        from, from_len);
  send_all(fd, std::move(to_send), from, from_len);
  for (auto &f : later)
    f();
}

void LiteTransport::Impl::lose_consent(LiteSession &s, LiteSession::State &st,
                                       std::vector<std::function<void()>> &later) {
  std::string window = consent_timeout_us % kSecondUs == 0
                           ? std::to_string(consent_timeout_us / kSecondUs) + " s"
                           : std::to_string(consent_timeout_us / 1000) + " ms";
  std::string why = st.fd < 0 ? "no connectivity check arrived within " + window
                              : "consent expired: no connectivity check from the listener for " +
                                    window + " (RFC 7675); nothing more is sent";
  log_lite(LogLevel::kInfo, "listener " + s.ufrag_ + ": " + why);
  change_state(st, s.events_, LiteState::kFailed, why, later, LiteFailure::kNoConsent);
}

bool LiteTransport::Impl::on_check(LiteSession &s, LiteSession::State &st, int fd,
                                   const stun::Message &m, const sockaddr_storage &from,
                                   socklen_t from_len, int64_t now,
                                   std::vector<std::string> &keys_added,
                                   std::vector<std::string> &keys_dropped,
                                   std::vector<std::vector<uint8_t>> &to_send,
                                   std::vector<std::function<void()>> &later) {
  std::string key = address_key(fd, from, from_len);
  size_t path = st.paths.size();
  for (size_t i = 0; i < st.paths.size(); i++)
    if (st.paths[i].key == key) path = i;

  uint64_t id = transaction_hash(m.transaction);
  // Sorted by id first (the high 56 bits): the entry for this id, if any, is the first one not
  // below it.
  auto found = std::lower_bound(st.seen.begin(), st.seen.end(), id);
  if (found != st.seen.end() && (*found & ~uint64_t{0xFF}) == id) {
    bool same_path = path < st.paths.size() && (*found & 0xFF) == path;
    if (!same_path)
      log_lite(LogLevel::kDebug, "listener " + s.ufrag_ + ": replayed check from " +
                                     sockaddr_text(reinterpret_cast<const sockaddr *>(&from)) +
                                     " ignored");
    return same_path;  // a retransmission is answered again; a replay is not
  }

  if (st.seen.size() >= kMaxTransactions) {
    // Forgetting old ids would let their checks be replayed: the session ends instead.
    fail_connection(st, s.events_,
                    "the listener made more than " + std::to_string(kMaxTransactions) +
                        " connectivity checks; connect again",
                    later);
    return false;
  }
  // A fresh check: its path becomes (or stays) a known one.
  if (path == st.paths.size()) {
    if (st.paths.size() >= kMaxAddressesPerSession) {
      // Forget the path checked longest ago, never the selected one.
      size_t oldest = st.fd >= 0 && st.selected == 0 ? 1 : 0;
      for (size_t i = 0; i < st.paths.size(); i++)
        if ((st.fd < 0 || i != st.selected) && st.paths[i].checked_at < st.paths[oldest].checked_at)
          oldest = i;
      keys_dropped.push_back(st.paths[oldest].key);
      st.paths.erase(st.paths.begin() + static_cast<std::ptrdiff_t>(oldest));
      if (st.fd >= 0 && st.selected > oldest) st.selected--;
      // Remembered transactions name paths by index: those of the forgotten path now name
      // no path (0xFF), and the ones after it move down by one (the order, by id, stays).
      for (uint64_t &seen : st.seen) {
        uint64_t p = seen & 0xFF;
        if (p == oldest)
          seen |= 0xFF;
        else if (p > oldest && p != 0xFF)
          seen--;
      }
    }
    path = st.paths.size();
    st.paths.push_back({fd, from, from_len, key, now});
    keys_added.push_back(key);
  }
  st.paths[path].checked_at = now;
  st.seen.insert(std::lower_bound(st.seen.begin(), st.seen.end(), id), id | path);

  bool first_path = st.fd < 0;
  bool on_selected = !first_path && path == st.selected;
  if (on_selected) {
    st.consent_at = now;
    st.nominated = st.nominated || m.use_candidate;
  } else if (first_path || (m.use_candidate && (!st.nominated || st.moved_at == 0 ||
                                                now - st.moved_at >= switch_interval_us))) {
    if (!first_path) {
      if (st.nominated) st.moved_at = now;
      log_lite(LogLevel::kInfo, "listener " + s.ufrag_ + ": path moved to " +
                                    sockaddr_text(reinterpret_cast<const sockaddr *>(&from)));
    }
    st.selected = path;
    st.fd = fd;
    st.remote = from;
    st.remote_len = from_len;
    st.consent_at = now;
    st.nominated = st.nominated || m.use_candidate;
  } else if (m.use_candidate) {
    log_lite(LogLevel::kDebug, "listener " + s.ufrag_ + ": path stays; it moved less than " +
                                   std::to_string(switch_interval_us / 1000) + " ms ago");
  }
  // Checks go on after connecting (consent freshness, other candidate pairs): they do not make
  // a connected session "connecting" again.
  change_state(st, s.events_, st.was_ready ? LiteState::kConnected : LiteState::kConnecting, "",
               later);
  // As the DTLS client, say hello once a path exists.
  if (first_path && st.dtls && st.role == DtlsSrtpSession::Role::kClient) {
    st.dtls->start();
    to_send = st.dtls->take_outgoing();
  }
  return true;
}

void LiteTransport::Impl::on_dtls(const std::shared_ptr<LiteSession> &s, int fd,
                                  const uint8_t *data, size_t len, const sockaddr_storage &from,
                                  socklen_t from_len) {
  std::vector<std::function<void()>> later;
  std::vector<std::vector<uint8_t>> to_send;
  bool may_answer = false;
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    if (st.removed || st.state == LiteState::kFailed || !st.dtls) return;
    if (!st.dtls->ready() && has_plaintext_alert(data, len)) {
      log_lite(LogLevel::kDebug, "listener " + s->ufrag_ + ": plaintext DTLS alert ignored");
      return;
    }
    st.dtls->receive(data, len);
    to_send = st.dtls->take_outgoing();
    if (st.dtls->failed()) {
      fail_connection(st, s->events_, st.dtls->failure(), later);
    } else if (st.dtls->ready() && !st.was_ready) {
      st.was_ready = true;
      st.next_sr_at = now_us();
      log_lite(LogLevel::kDebug,
               "listener " + s->ufrag_ + ": DTLS done, " + st.dtls->srtp_profile());
      change_state(st, s->events_, LiteState::kConnected, "", later);
    } else if (st.dtls->closed_by_peer()) {
      fail_connection(st, s->events_, "the listener closed the connection", later);
    }
    // The reply goes back the way the record came, if that path still consents.
    std::string key = address_key(fd, from, from_len);
    int64_t now = now_us();
    for (const auto &p : st.paths)
      if (p.key == key && now - p.checked_at <= consent_timeout_us) may_answer = true;
  }
  if (may_answer) send_all(fd, std::move(to_send), from, from_len);
  for (auto &f : later)
    f();
}

void LiteTransport::Impl::on_rtcp(const std::shared_ptr<LiteSession> &s, uint8_t *data,
                                  size_t len) {
  int n = static_cast<int>(len);
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    if (st.removed || st.state == LiteState::kFailed || !st.dtls || !st.dtls->ready() ||
        !st.dtls->unprotect_rtcp(data, &n))
      return;
  }
  uint64_t arrival = rtp::ntp_from_unix_us(g_get_real_time());
  for (const auto &b : rtp::report_blocks(data, static_cast<size_t>(n))) {
    if (b.ssrc != s->ssrc_ || !s->events_.report) continue;
    s->events_.report(b.fraction_lost / 256.0, b.jitter / 48.0, rtp::round_trip_ms(b, arrival));
  }
}

void LiteTransport::Impl::on_tick() {
  std::vector<std::shared_ptr<LiteSession>> all;
  {
    std::lock_guard lock(mutex);
    all.reserve(by_ufrag.size());
    for (auto &[u, s] : by_ufrag)
      if (s) all.push_back(s);
  }
  int64_t now = now_us();
  std::vector<std::function<void()>> later;
  for (auto &s : all) {
    std::vector<std::vector<uint8_t>> to_send;
    std::vector<LiteSession::State::HeldCheck> held;
    int fd = -1;
    sockaddr_storage to{};
    socklen_t to_len = 0;
    {
      std::lock_guard lock(s->mutex_);
      LiteSession::State &st = *s->state_;
      if (st.removed || st.state == LiteState::kFailed) continue;
      if (st.answered) held = std::exchange(st.held, {});
      if ((st.fd < 0 && now - st.created_at > consent_timeout_us) ||
          (st.fd >= 0 && !has_consent(st, now, consent_timeout_us))) {
        lose_consent(*s, st, later);
        continue;
      }
      fd = st.fd;
      to = st.remote;
      to_len = st.remote_len;
      if (st.dtls && !st.dtls->ready() && fd >= 0) {
        st.dtls->on_timer();
        if (st.dtls->failed()) fail_connection(st, s->events_, st.dtls->failure(), later);
      }
      if (st.dtls && st.dtls->ready() && now >= st.next_sr_at && fd >= 0) {
        st.next_sr_at = now + kSenderReportUs;
        uint32_t ts = st.last_ts + static_cast<uint32_t>((now - st.last_ts_at) * 48 / 1000);
        if (st.packets == 0) ts = st.ts_base;
        auto sr = rtp::sender_report(s->ssrc_, rtp::ntp_from_unix_us(g_get_real_time()), ts,
                                     st.packets, st.octets, s->cname_);
        sr.resize(sr.size() + 4 + kSrtpTrailer);  // room for the SRTCP index and tag
        int n = static_cast<int>(sr.size() - 4 - kSrtpTrailer);
        if (st.dtls->protect_rtcp(sr.data(), &n)) {
          sr.resize(static_cast<size_t>(n));
          to_send.push_back(std::move(sr));
        }
      }
      if (st.dtls)
        for (auto &d : st.dtls->take_outgoing())
          to_send.push_back(std::move(d));
    }
    if (fd >= 0) send_all(fd, std::move(to_send), to, to_len);
    // Checks that came before the answer, now that it is known.
    for (auto &h : held)
      if (auto m = stun::parse(h.data.data(), h.data.size()))
        on_binding_request(h.fd, h.data.data(), h.data.size(), *m, h.from, h.from_len);
  }
  for (auto &f : later)
    f();
}

}  // namespace gramothi
