#include "transport/lite_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <gst/sdp/sdp.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <map>
#include <thread>

#include "base/log.hpp"
#include "transport/rtp_wire.hpp"
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
constexpr int64_t kSilenceFailsUs = 30 * kSecondUs;  // nothing heard from a peer this long
constexpr int64_t kSenderReportUs = 1 * kSecondUs;   // RTCP SR interval per listener
constexpr size_t kMaxAddressesPerSession = 8;        // checked paths remembered per listener
constexpr size_t kMaxEarlyDatagrams = 8;             // DTLS before the answer, kept for later
constexpr int kSrtpTrailer = 16;

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

// The SDP attribute `key` of the first media, else of the session; "" if absent.
std::string sdp_attribute(const GstSDPMessage *sdp, const GstSDPMedia *m, const char *key) {
  const char *v = gst_sdp_media_get_attribute_val(m, key);
  if (!v) v = gst_sdp_message_get_attribute_val(sdp, key);
  return v ? v : "";
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
  std::vector<std::vector<uint8_t>> early;  // DTLS that came before the answer
  // the path ICE chose
  int fd = -1;
  sockaddr_storage remote{};
  socklen_t remote_len = 0;
  bool nominated = false;
  std::vector<std::string> address_keys;  // every path that passed a check
  // RTP
  uint16_t seq = 0;
  uint32_t ts_base = 0;
  bool first = true;
  uint32_t packets = 0, octets = 0;
  uint32_t last_ts = 0;
  int64_t last_ts_at = 0;
  // liveness, on the transport thread
  LiteState state = LiteState::kNew;
  int64_t created_at = 0, heard_at = 0, next_sr_at = 0;
  bool was_ready = false;
};

struct LiteTransport::Impl {
  struct Socket {
    int fd = -1;
    std::string local, advertised;  // advertised: what the offer names
    int port = 0;
    int family = AF_INET;
  };
  std::vector<Socket> sockets;
  std::shared_ptr<DtlsIdentity> identity;
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
                  const std::string &detail, std::vector<std::function<void()>> &later) {
  if (st.state == state || st.state == LiteState::kFailed || st.removed) return;
  st.state = state;
  if (events.state) later.push_back([cb = events.state, state, detail] { cb(state, detail); });
}

}  // namespace

// ---- LiteSession ----

LiteSession::~LiteSession() = default;

std::optional<Error> LiteSession::set_answer(const std::string &text) {
  auto bad = [](const std::string &why) { return Error{ErrorKind::kInvalid, "invalid_sdp", why}; };
  GstSDPMessage *sdp = nullptr;
  // An empty text would fail an assertion in GStreamer's parser (a GLib critical).
  if (text.empty() || gst_sdp_message_new_from_text(text.c_str(), &sdp) != GST_SDP_OK || !sdp) {
    if (sdp) gst_sdp_message_free(sdp);
    return bad("The answer is not a usable SDP.");
  }
  std::unique_ptr<GstSDPMessage, decltype(&gst_sdp_message_free)> owner(sdp, gst_sdp_message_free);
  if (gst_sdp_message_medias_len(sdp) == 0) return bad("The answer has no media.");
  const GstSDPMedia *m = gst_sdp_message_get_media(sdp, 0);
  if (g_strcmp0(gst_sdp_media_get_media(m), "audio") != 0 || gst_sdp_media_get_port(m) == 0)
    return bad("The answer rejects the audio.");
  bool has_pt = false;
  std::string pt = std::to_string(pt_);
  for (guint i = 0; i < gst_sdp_media_formats_len(m); i++)
    if (pt == gst_sdp_media_get_format(m, i)) has_pt = true;
  if (!has_pt) return bad("The answer does not accept Opus (payload type " + pt + ").");
  std::string ufrag = sdp_attribute(sdp, m, "ice-ufrag");
  std::string pwd = sdp_attribute(sdp, m, "ice-pwd");
  std::string fingerprint = sdp_attribute(sdp, m, "fingerprint");
  std::string setup = sdp_attribute(sdp, m, "setup");
  if (ufrag.empty() || ufrag.size() > 256 || pwd.empty() || pwd.size() > 256)
    return bad("The answer has no ICE credentials (a=ice-ufrag, a=ice-pwd).");
  if (fingerprint.empty() || fingerprint.size() > 256)
    return bad("The answer has no DTLS fingerprint (a=fingerprint).");
  if (setup == "holdconn") return bad("The answer holds the connection (a=setup:holdconn).");
  // "active" (what browsers answer) or absent: the listener starts the handshake.
  auto role = setup == "passive" ? DtlsSrtpSession::Role::kClient : DtlsSrtpSession::Role::kServer;

  std::vector<std::vector<uint8_t>> to_send;
  int fd = -1;
  sockaddr_storage remote{};
  socklen_t remote_len = 0;
  {
    std::lock_guard lock(mutex_);
    State &st = *state_;
    if (st.answered)
      return Error{ErrorKind::kConflict, "unexpected_answer",
                   "This listener has answered already."};
    st.answered = true;
    st.remote_ufrag = ufrag;
    st.role = role;
    st.dtls = std::make_unique<DtlsSrtpSession>(identity_, role, fingerprint);
    if (role == DtlsSrtpSession::Role::kClient && st.remote_len) st.dtls->start();
    for (auto &d : std::exchange(st.early, {}))
      st.dtls->receive(d.data(), d.size());
    to_send = st.dtls->take_outgoing();
    fd = st.fd;
    remote = st.remote;
    remote_len = st.remote_len;
  }
  if (fd >= 0) send_all(fd, std::move(to_send), remote, remote_len);
  return std::nullopt;
}

bool LiteSession::pack(const uint8_t *opus, size_t len, uint64_t pts_ns, OutPacket &out) {
  if (len + 12 + kSrtpTrailer > sizeof out.data) return false;
  std::lock_guard lock(mutex_);
  State &st = *state_;
  if (st.removed || !st.dtls || !st.dtls->ready() || st.fd < 0) return false;
  uint64_t pts_us = pts_ns / 1000;
  uint32_t ts = st.ts_base + static_cast<uint32_t>(pts_us * 48 / 1000);
  rtp::write_header(out.data, st.first, pt_, st.seq, ts, ssrc_);
  std::memcpy(out.data + 12, opus, len);
  int n = static_cast<int>(12 + len);
  if (!st.dtls->protect_rtp(out.data, &n)) return false;
  st.first = false;
  st.seq++;
  st.packets++;
  st.octets += static_cast<uint32_t>(len);
  st.last_ts = ts;
  st.last_ts_at = now_us();
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
                                                   const std::string &cname, LiteEvents events) {
  std::shared_ptr<LiteSession> s(new LiteSession());
  s->ssrc_ = ssrc;
  s->pt_ = pt;
  s->cname_ = cname;
  s->events_ = std::move(events);
  s->identity_ = impl_->identity;
  s->state_ = std::make_unique<LiteSession::State>();
  uint32_t r[2];
  RAND_bytes(reinterpret_cast<unsigned char *>(r), sizeof r);
  s->state_->seq = static_cast<uint16_t>(r[0]);
  s->state_->ts_base = r[1];
  s->state_->created_at = now_us();
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
  o +=
      "m=audio " + std::to_string(first.port) + " UDP/TLS/RTP/SAVPF " + std::to_string(pt) + "\r\n";
  o += std::string("c=IN ") + ip + " " + first.advertised + "\r\n";
  o += "a=ice-ufrag:" + s->ufrag_ + "\r\na=ice-pwd:" + s->pwd_ + "\r\n";
  o += "a=fingerprint:sha-256 " + impl_->identity->fingerprint() + "\r\n";
  o += "a=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n";
  o += "a=rtpmap:" + std::to_string(pt) + " opus/48000/2\r\n";
  o += "a=fmtp:" + std::to_string(pt) + " minptime=10;useinbandfec=1\r\n";
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
    for (const auto &k : s->state_->address_keys) {
      auto it = impl_->by_address.find(k);
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
    if (st.dtls && st.dtls->ready()) {
      st.dtls->shutdown();
      bye = st.dtls->take_outgoing();
    }
    fd = st.fd;
    to = st.remote;
    to_len = st.remote_len;
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
    auto m = stun::parse(data, len);
    if (!m) return;
    if (m->type == stun::kBindingRequest) {
      on_binding_request(fd, data, len, *m, from, from_len);
    } else if (m->type == stun::kBindingIndication) {
      if (auto s = session_at(address_key(fd, from, from_len))) {
        std::lock_guard lock(s->mutex_);
        s->state_->heard_at = now_us();
      }
    }
    return;
  }
  auto s = session_at(address_key(fd, from, from_len));
  if (!s) return;  // not from a path that passed a connectivity check
  if (data[0] >= 20 && data[0] <= 63)
    on_dtls(s, fd, data, len, from, from_len);
  else if (rtp::looks_like_rtcp(data, len))
    on_rtcp(s, data, len);
}

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
  auto response =
      stun::binding_success(m.transaction, reinterpret_cast<const sockaddr *>(&from), s->pwd_);
  send_to(fd, response, from, from_len);

  std::vector<std::function<void()>> later;
  std::vector<std::vector<uint8_t>> to_send;
  std::string key = address_key(fd, from, from_len);
  bool new_path = false;
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    if (st.removed) return;
    if (st.answered && m.username.substr(colon + 1) != st.remote_ufrag) return;
    st.heard_at = now_us();
    bool first_path = st.remote_len == 0;
    if (first_path || (m.use_candidate && !st.nominated) ||
        (m.use_candidate && (st.fd != fd || st.remote_len != from_len ||
                             std::memcmp(&st.remote, &from, from_len) != 0))) {
      if (!first_path)
        log_lite(LogLevel::kDebug,
                 "listener path -> " + sockaddr_text(reinterpret_cast<const sockaddr *>(&from)));
      st.fd = fd;
      st.remote = from;
      st.remote_len = from_len;
      st.nominated = st.nominated || m.use_candidate;
    }
    if (std::find(st.address_keys.begin(), st.address_keys.end(), key) == st.address_keys.end() &&
        st.address_keys.size() < kMaxAddressesPerSession) {
      st.address_keys.push_back(key);
      new_path = true;
    }
    // Checks go on after connecting (consent freshness, other candidate pairs): they do not
    // make a connected session "connecting" again, and one after a silence ("disconnected")
    // means the listener is back.
    change_state(st, s->events_, st.was_ready ? LiteState::kConnected : LiteState::kConnecting, "",
                 later);
    // As the DTLS client, say hello once a path exists.
    if (first_path && st.dtls && st.role == DtlsSrtpSession::Role::kClient) {
      st.dtls->start();
      to_send = st.dtls->take_outgoing();
    }
  }
  if (new_path) {
    std::lock_guard lock(mutex);
    if (by_ufrag.count(s->ufrag_)) by_address[key] = s;
  }
  send_all(fd, std::move(to_send), from, from_len);
  for (auto &f : later)
    f();
}

void LiteTransport::Impl::on_dtls(const std::shared_ptr<LiteSession> &s, int fd,
                                  const uint8_t *data, size_t len, const sockaddr_storage &from,
                                  socklen_t from_len) {
  std::vector<std::function<void()>> later;
  std::vector<std::vector<uint8_t>> to_send;
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    if (st.removed) return;
    st.heard_at = now_us();
    if (!st.dtls) {
      if (st.early.size() < kMaxEarlyDatagrams) st.early.emplace_back(data, data + len);
      return;
    }
    st.dtls->receive(data, len);
    to_send = st.dtls->take_outgoing();
    if (st.dtls->failed()) {
      change_state(st, s->events_, LiteState::kFailed, st.dtls->failure(), later);
    } else if (st.dtls->ready() && !st.was_ready) {
      st.was_ready = true;
      st.next_sr_at = now_us();
      change_state(st, s->events_, LiteState::kConnected, "", later);
    } else if (st.dtls->closed_by_peer()) {
      change_state(st, s->events_, LiteState::kFailed, "the listener closed the connection", later);
    }
  }
  send_all(fd, std::move(to_send), from, from_len);
  for (auto &f : later)
    f();
}

void LiteTransport::Impl::on_rtcp(const std::shared_ptr<LiteSession> &s, uint8_t *data,
                                  size_t len) {
  int n = static_cast<int>(len);
  {
    std::lock_guard lock(s->mutex_);
    LiteSession::State &st = *s->state_;
    if (st.removed || !st.dtls || !st.dtls->ready() || !st.dtls->unprotect_rtcp(data, &n)) return;
    st.heard_at = now_us();
  }
  uint64_t arrival = rtp::ntp_from_unix_us(g_get_real_time());
  {
    std::lock_guard lock(s->mutex_);
    if (s->state_->removed) return;
  }
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
    int fd = -1;
    sockaddr_storage to{};
    socklen_t to_len = 0;
    {
      std::lock_guard lock(s->mutex_);
      LiteSession::State &st = *s->state_;
      if (st.removed || st.state == LiteState::kFailed) continue;
      fd = st.fd;
      to = st.remote;
      to_len = st.remote_len;
      if (st.dtls && !st.dtls->ready() && fd >= 0) {
        st.dtls->on_timer();
        if (st.dtls->failed())
          change_state(st, s->events_, LiteState::kFailed, st.dtls->failure(), later);
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
      int64_t since = now - (st.heard_at ? st.heard_at : st.created_at);
      if (since > kSilenceFailsUs)
        change_state(st, s->events_, LiteState::kFailed,
                     st.heard_at ? "nothing heard from the listener for 30 s"
                                 : "no connectivity check arrived within 30 s",
                     later);
    }
    if (fd >= 0) send_all(fd, std::move(to_send), to, to_len);
  }
  for (auto &f : later)
    f();
}

}  // namespace gramothi
