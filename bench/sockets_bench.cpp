// Idle-sockets benchmark: the real server (media off, rest + signaling), one live class, and N
// student WebSockets that join it at a given rate, each authenticating with its own token in
// the first message; then the sockets sit idle and the server is measured.
// Prints one JSON line: how the join went (authenticated, failures, connect -> authenticated
// p50/p95/p99/max, the join and settle phases with the server's CPU, the kernel's accept-queue
// overflows), then the steady state over --measure seconds: server CPU (% of one core, from
// /proc utime + stime), RSS, threads, and what the clients received meanwhile (text messages,
// pings), then how long the server took to close everything on SIGTERM. bench/README.md lists
// the fields.
//
//   sockets_bench [--sockets 2000] [--join-rate 200] [--measure 30] [--addresses 253]
//                 [--no-teacher-socket] [--join-timeout 180] [--settle-timeout 180]
//
// The clients are one epoll loop in this process, speaking WebSocket over raw non-blocking
// sockets (handshake, masked text frames, pong for every ping, close), so that the load
// generator stays light. Socket i binds 127.0.0.(2 + i % addresses) before connecting, so no
// per-address cap of the server matters. Every client reads everything the server sends.
// By default the class's teacher also has a socket (it gets the staff's roster), opened before
// the students'. Run through bench/run-sockets.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../tests/http/server_process.hpp"
#include "auth/jwt.hpp"
#include "base/json.hpp"
#include "percentile.hpp"
#include "proc_sample.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "sockets-bench-secret-0123456789abcdef-01";
const std::string kClass = "sockets";

// Message counts by `type`, for one phase of the run.
struct Tally {
  int64_t texts = 0, bytes = 0, pings = 0;
  std::map<std::string, int64_t> types;
  std::string json() const {
    JsonObjectWriter w;
    for (const auto &[type, n] : types)
      w.num(type, n);
    return w.finish();
  }
};

struct Conn {
  enum State { kIdle, kConnecting, kHandshake, kOpen, kAuthenticated, kDead };
  int index = 0;  // -1: the teacher
  int fd = -1;
  State state = kIdle;
  std::string token, accept;  // accept: the Sec-WebSocket-Accept the server must answer
  std::string in, out;
  size_t in_at = 0;
  bool want_out = false;
  int64_t started_us = 0, authenticated_us = -1;
  std::string failure;  // why it died, if it did
};

const char *const kStateNames[] = {"not started",    "connecting",    "upgrading",
                                   "authenticating", "authenticated", "dead"};

class Clients {
 public:
  Clients(int port, int addresses) : port_(port), addresses_(addresses) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~Clients() {
    for (Conn &c : conns_)
      if (c.fd >= 0) close(c.fd);
    close(epoll_);
  }

  // Adds a socket (not yet connected); returns its slot.
  size_t add(int index, std::string token) {
    conns_.push_back(Conn{});
    conns_.back().index = index;
    conns_.back().token = std::move(token);
    return conns_.size() - 1;
  }

  void connect(size_t slot) {
    Conn &c = conns_[slot];
    c.started_us = g_get_monotonic_time();
    c.state = Conn::kConnecting;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, std::string("socket: ") + g_strerror(errno));
    int one = 1;
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    int host = c.index < 0 ? 2 : 2 + c.index % addresses_;
    local.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(host));
    if (bind(c.fd, reinterpret_cast<sockaddr *>(&local), sizeof local) != 0)
      return fail(c, std::string("bind: ") + g_strerror(errno));
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(static_cast<uint16_t>(port_));
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = slot;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
    if (::connect(c.fd, reinterpret_cast<sockaddr *>(&server), sizeof server) != 0 &&
        errno != EINPROGRESS)
      return fail(c, std::string("connect: ") + g_strerror(errno));
  }

  // Handles what is ready, waiting at most timeout_ms.
  void poll(int timeout_ms) {
    epoll_event events[256];
    int n = epoll_wait(epoll_, events, 256, std::max(0, timeout_ms));
    for (int i = 0; i < n; i++) {
      Conn &c = conns_[events[i].data.u64];
      if (c.state == Conn::kDead) continue;
      if (c.state == Conn::kConnecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(c, std::string("connect: ") + g_strerror(err));
          continue;
        }
        send_handshake(c);
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_from(c);
      if (c.state != Conn::kDead && (events[i].events & EPOLLOUT)) flush(c);
    }
  }

  // Runs the loop until `done` or the deadline (monotonic µs); true if `done`.
  template <typename Done>
  bool run_until(Done done, int64_t deadline) {
    while (!done()) {
      int64_t now = g_get_monotonic_time();
      if (now >= deadline) return false;
      poll(static_cast<int>(std::min<int64_t>((deadline - now) / 1000 + 1, 50)));
    }
    return true;
  }

  void set_tally(Tally *t) { tally_ = t; }
  const std::vector<Conn> &conns() const { return conns_; }
  int authenticated() const { return authenticated_; }
  int dead() const { return dead_; }
  int64_t last_text_us() const { return last_text_us_; }

 private:
  void fail(Conn &c, const std::string &why) {
    if (c.state == Conn::kDead) return;
    if (c.state == Conn::kAuthenticated) authenticated_--;
    c.failure = why + " (" + kStateNames[c.state] + ")";
    c.state = Conn::kDead;
    dead_++;
    if (c.fd >= 0) {
      epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      c.fd = -1;
    }
  }

  void watch(Conn &c, bool out) {
    epoll_event ev{};
    ev.events = out ? EPOLLIN | EPOLLOUT : EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_out = out;
  }

  void send_handshake(Conn &c) {
    unsigned char key[16];
    for (unsigned char &b : key)
      b = static_cast<unsigned char>(rng_());
    g_autofree char *key64 = g_base64_encode(key, sizeof key);
    std::string magic = std::string(key64) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    guint8 digest[20];
    gsize digest_len = sizeof digest;
    g_autoptr(GChecksum) sha1 = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(sha1, reinterpret_cast<const guchar *>(magic.data()),
                      static_cast<gssize>(magic.size()));
    g_checksum_get_digest(sha1, digest, &digest_len);
    g_autofree char *accept = g_base64_encode(digest, digest_len);
    c.accept = accept;
    c.out += "GET /api/v1/streaming/ws/" + kClass +
             " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key64 +
             "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    c.state = Conn::kHandshake;
    watch(c, false);
    flush(c);
  }

  // A masked client frame.
  void send_frame(Conn &c, int opcode, std::string_view payload) {
    std::string &f = c.out;
    f.push_back(static_cast<char>(0x80 | opcode));
    size_t n = payload.size();
    if (n < 126) {
      f.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(n >> 8));
      f.push_back(static_cast<char>(n & 0xff));
    } else {
      f.push_back(static_cast<char>(0x80 | 127));
      for (int s = 56; s >= 0; s -= 8)
        f.push_back(static_cast<char>((static_cast<uint64_t>(n) >> s) & 0xff));
    }
    uint32_t m = rng_();
    char mask[4] = {static_cast<char>(m >> 24), static_cast<char>(m >> 16),
                    static_cast<char>(m >> 8), static_cast<char>(m)};
    f.append(mask, 4);
    for (size_t i = 0; i < n; i++)
      f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    flush(c);
  }

  void flush(Conn &c) {
    while (!c.out.empty()) {
      ssize_t k = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && errno == EAGAIN) {
        if (!c.want_out) watch(c, true);
        return;
      }
      if (k < 0) return fail(c, std::string("send: ") + g_strerror(errno));
      c.out.erase(0, static_cast<size_t>(k));
    }
    if (c.want_out) watch(c, false);
  }

  void read_from(Conn &c) {
    char buf[65536];
    for (;;) {
      ssize_t k = recv(c.fd, buf, sizeof buf, 0);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && errno == EAGAIN) break;
      if (k <= 0) {
        parse(c);
        return fail(c, k == 0 ? "closed by the server (no close frame)"
                              : std::string("recv: ") + g_strerror(errno));
      }
      c.in.append(buf, static_cast<size_t>(k));
      if (k < static_cast<ssize_t>(sizeof buf)) break;
    }
    parse(c);
  }

  void parse(Conn &c) {
    if (c.state == Conn::kHandshake) {
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string head = c.in.substr(0, end);
      c.in.erase(0, end + 4);
      g_autofree char *lower = g_ascii_strdown(head.c_str(), -1);
      std::string h = lower;
      size_t at = h.find("\r\nsec-websocket-accept:");
      std::string got;
      if (at != std::string::npos) {
        at += 23;
        size_t eol = head.find("\r\n", at);
        got = head.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
        got.erase(0, got.find_first_not_of(" \t"));
        got.erase(got.find_last_not_of(" \t") + 1);
      }
      if (head.compare(0, 12, "HTTP/1.1 101") != 0 || got != c.accept)
        return fail(c, "handshake: " + head.substr(0, head.find("\r\n")));
      c.state = Conn::kOpen;
      send_frame(c, 0x1, "{\"type\":\"authenticate\",\"token\":\"" + c.token + "\"}");
      if (c.state == Conn::kDead) return;
    }
    while (c.state != Conn::kDead) {
      const auto *p = reinterpret_cast<const unsigned char *>(c.in.data()) + c.in_at;
      size_t avail = c.in.size() - c.in_at;
      if (avail < 2) break;
      bool masked = p[1] & 0x80;
      int opcode = p[0] & 0x0f;
      uint64_t len = p[1] & 0x7f;
      size_t head = 2;
      if (len == 126) {
        if (avail < 4) break;
        len = (uint64_t{p[2]} << 8) | p[3];
        head = 4;
      } else if (len == 127) {
        if (avail < 10) break;
        len = 0;
        for (int i = 0; i < 8; i++)
          len = (len << 8) | p[2 + i];
        head = 10;
      }
      if (masked) head += 4;
      if (avail < head + len) break;
      std::string payload(reinterpret_cast<const char *>(p) + head, len);
      if (masked)
        for (size_t i = 0; i < len; i++)
          payload[i] = static_cast<char>(payload[i] ^ p[head - 4 + i % 4]);
      c.in_at += head + len;
      on_frame(c, opcode, payload);
    }
    if (c.in_at > 0 && (c.in_at == c.in.size() || c.in_at > 65536)) {
      c.in.erase(0, c.in_at);
      c.in_at = 0;
    }
  }

  void on_frame(Conn &c, int opcode, const std::string &payload) {
    switch (opcode) {
      case 0x9:  // ping: answer at once, as browsers do
        if (tally_) tally_->pings++;
        send_frame(c, 0xA, payload);
        return;
      case 0xA:
        return;
      case 0x8: {
        int code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                             static_cast<unsigned char>(payload[1])
                                       : 1005;
        std::string reason = payload.size() > 2 ? payload.substr(2) : "";
        send_frame(c, 0x8, payload.substr(0, std::min<size_t>(2, payload.size())));
        return fail(c, "close " + std::to_string(code) + " " + reason);
      }
      case 0x1:
      case 0x2:
        on_text(c, payload);
        return;
      case 0x0:  // a continuation: counted with its first frame
        if (tally_) tally_->bytes += static_cast<int64_t>(payload.size());
        return;
      default:
        return fail(c, "frame with opcode " + std::to_string(opcode));
    }
  }

  void on_text(Conn &c, const std::string &text) {
    last_text_us_ = g_get_monotonic_time();
    static const std::string kPrefix = "{\"type\":\"";
    std::string type = "other";
    if (text.compare(0, kPrefix.size(), kPrefix) == 0) {
      size_t end = text.find('"', kPrefix.size());
      if (end != std::string::npos) type = text.substr(kPrefix.size(), end - kPrefix.size());
    }
    if (tally_) {
      tally_->texts++;
      tally_->bytes += static_cast<int64_t>(text.size());
      tally_->types[type]++;
    }
    if (c.state != Conn::kOpen) return;
    if (type == "authenticated") {
      c.state = Conn::kAuthenticated;
      c.authenticated_us = last_text_us_;
      authenticated_++;
    } else if (type == "error") {
      fail(c, "error before authenticated: " + text.substr(0, 200));
    }
  }

  int port_, addresses_;
  int epoll_ = -1;
  std::vector<Conn> conns_;
  std::minstd_rand rng_{std::random_device{}()};
  Tally *tally_ = nullptr;
  int authenticated_ = 0, dead_ = 0;
  int64_t last_text_us_ = 0;
};

// A TcpExt counter of this network namespace, e.g. ListenOverflows: handshakes the kernel dropped
// because the server's accept queue was full (the client retries its SYN after 1, 3, 7, 15,
// 31 s...), or SyncookiesSent: SYNs answered with a cookie because the SYN queue was full.
int64_t tcp_counter(const char *name) {
  g_autofree char *text = nullptr;
  if (!g_file_get_contents("/proc/net/netstat", &text, nullptr, nullptr)) return -1;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (int i = 0; lines[i] && lines[i + 1]; i++) {
    if (!g_str_has_prefix(lines[i], "TcpExt:") || !g_str_has_prefix(lines[i + 1], "TcpExt:"))
      continue;
    g_auto(GStrv) names = g_strsplit(lines[i], " ", -1);
    g_auto(GStrv) values = g_strsplit(lines[i + 1], " ", -1);
    for (int k = 0; names[k] && values[k]; k++)
      if (strcmp(names[k], name) == 0) return g_ascii_strtoll(values[k], nullptr, 10);
  }
  return -1;
}

std::string pct(double cpu_s, int64_t us) {
  return std::to_string(us > 0 ? cpu_s / (us / 1e6) * 100.0 : 0.0);
}

}  // namespace

int main(int argc, char **argv) {
  int sockets = 2000, addresses = 253, measure_s = 30, join_timeout_s = 180, settle_timeout_s = 180;
  double join_rate = 200;
  gboolean no_teacher = FALSE;
  GOptionEntry entries[] = {
      {"sockets", 'n', 0, G_OPTION_ARG_INT, &sockets, "Student sockets (2000)", "N"},
      {"join-rate", 'r', 0, G_OPTION_ARG_DOUBLE, &join_rate, "Connections opened per second (200)",
       "R"},
      {"measure", 'm', 0, G_OPTION_ARG_INT, &measure_s, "Steady-state window, seconds (30)", "S"},
      {"addresses", 'a', 0, G_OPTION_ARG_INT, &addresses,
       "Source addresses 127.0.0.2 up, 1..253 (253)", "K"},
      {"no-teacher-socket", 0, 0, G_OPTION_ARG_NONE, &no_teacher,
       "Do not open the teacher's socket", nullptr},
      {"join-timeout", 0, 0, G_OPTION_ARG_INT, &join_timeout_s,
       "Seconds after the last connect for everyone to be authenticated (180)", "S"},
      {"settle-timeout", 0, 0, G_OPTION_ARG_INT, &settle_timeout_s,
       "Seconds for the messages of the join to stop (180)", "S"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  g_autoptr(GOptionContext) ctx = g_option_context_new("- idle authenticated sockets benchmark");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || sockets < 1 || join_rate <= 0 ||
      measure_s < 1 || addresses < 1 || addresses > 253) {
    fprintf(stderr, "usage: sockets_bench [--sockets N] [--join-rate R] [--measure S] ...\n");
    return 2;
  }
  bool teacher_socket = !no_teacher;

  // Room for everyone's descriptors, here and in the server (which inherits the limit).
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < static_cast<rlim_t>(sockets) + 200) {
    fprintf(stderr, "the descriptor limit (%llu) is too low for %d sockets\n",
            static_cast<unsigned long long>(nofile.rlim_cur), sockets);
    return 1;
  }

  g_autofree char *dir = g_dir_make_tmp("gramothi-sockets-bench-XXXXXX", nullptr);
  std::string config =
      std::string("[server]\nlisten_address=127.0.0.1\nport=0\n[storage]\ndata_dir=") + dir +
      "/data\n[auth]\njwt_secret=" + kSecret +
      "\n[media]\nenabled=false\n[plugins]\nload=rest;signaling\ndir=" +
      g_getenv("GRAMOTHI_PLUGIN_DIR") + "\n";
  std::string config_path = std::string(dir) + "/gramothi.ini";
  g_file_set_contents(config_path.c_str(), config.c_str(), -1, nullptr);
  ServerProcess server;
  server.start(config_path, std::string(dir) + "/server.log", "info");
  std::string teacher_token = test_token(kSecret, "teacher-s", Role::kTeacher, {kClass});
  {
    HttpClient http(server.base());
    HttpResponse r =
        http.post("/api/v1/streaming/start", teacher_token, "{\"class_id\":\"" + kClass + "\"}");
    if (r.status != 200) {
      fprintf(stderr, "start failed: %u %s\n", r.status, r.body.c_str());
      return 1;
    }
  }
  int pid = server.pid();
  int self = getpid();
  fprintf(stderr, "server pid %d\n", pid);

  Clients clients(server.port(), addresses);
  Tally join_tally, settle_tally, window_tally;
  clients.set_tally(&join_tally);
  if (teacher_socket) {
    size_t t = clients.add(-1, teacher_token);
    clients.connect(t);
    if (!clients.run_until([&] { return clients.authenticated() == 1 || clients.dead() > 0; },
                           g_get_monotonic_time() + 10 * G_USEC_PER_SEC) ||
        clients.authenticated() != 1) {
      fprintf(stderr, "the teacher's socket did not authenticate: %s\n%s",
              clients.conns()[t].failure.c_str(), server.log().c_str());
      return 1;
    }
  }
  std::vector<size_t> students;
  for (int i = 0; i < sockets; i++)
    students.push_back(
        clients.add(i, test_token(kSecret, "s-" + std::to_string(i), Role::kStudent, {kClass})));
  g_usleep(G_USEC_PER_SEC);
  ProcSample baseline = sample_proc(pid);

  // Join: student i connects at t0 + i / rate; wait until all are authenticated (or dead).
  int expected = sockets + (teacher_socket ? 1 : 0);
  int64_t interval = static_cast<int64_t>(G_USEC_PER_SEC / join_rate);
  int64_t overflows_t0 = tcp_counter("ListenOverflows");
  int64_t cookies_t0 = tcp_counter("SyncookiesSent");
  int64_t t0 = g_get_monotonic_time();
  ProcSample server_t0 = sample_proc(pid), self_t0 = sample_proc(self);
  size_t next = 0;
  auto everyone_in = [&] { return clients.authenticated() + clients.dead() == expected; };
  while (next < students.size()) {
    int64_t now = g_get_monotonic_time();
    while (next < students.size() && t0 + static_cast<int64_t>(next) * interval <= now)
      clients.connect(students[next++]);
    int64_t due = t0 + static_cast<int64_t>(next) * interval;
    clients.poll(static_cast<int>(std::max<int64_t>(0, (due - g_get_monotonic_time()) / 1000)));
  }
  int64_t last_connect = g_get_monotonic_time();
  bool joined = clients.run_until(everyone_in, last_connect + join_timeout_s * G_USEC_PER_SEC);
  int64_t t_joined = g_get_monotonic_time();
  int64_t overflows_joined = tcp_counter("ListenOverflows");
  int64_t cookies_joined = tcp_counter("SyncookiesSent");
  ProcSample server_joined = sample_proc(pid), self_joined = sample_proc(self);

  // Settle: the presence news of the join still flows; wait until nothing came for 2 s.
  clients.set_tally(&settle_tally);
  bool settled = clients.run_until(
      [&] { return g_get_monotonic_time() - clients.last_text_us() >= 2 * G_USEC_PER_SEC; },
      t_joined + settle_timeout_s * G_USEC_PER_SEC);
  int64_t t_settled = g_get_monotonic_time();
  ProcSample server_settled = sample_proc(pid), self_settled = sample_proc(self);

  // Steady state: everyone open and idle for the window; the server sampled every second.
  clients.set_tally(&window_tally);
  int dead_before_window = clients.dead();
  int64_t w0 = g_get_monotonic_time();
  ProcSample server_w0 = sample_proc(pid), self_w0 = sample_proc(self);
  fprintf(stderr, "%d authenticated, %d failed; measuring for %d s\n", clients.authenticated(),
          clients.dead(), measure_s);
  double max_1s = 0, max_rss = server_w0.rss_mb;
  ProcSample prev = server_w0;
  int64_t prev_at = w0;
  for (int s = 1; s <= measure_s; s++) {
    clients.run_until([] { return false; }, w0 + s * G_USEC_PER_SEC);
    ProcSample now = sample_proc(pid);
    int64_t at = g_get_monotonic_time();
    max_1s = std::max(max_1s, (now.cpu_s - prev.cpu_s) / ((at - prev_at) / 1e6) * 100.0);
    max_rss = std::max(max_rss, now.rss_mb);
    prev = now;
    prev_at = at;
  }
  int64_t w1 = g_get_monotonic_time();
  ProcSample server_w1 = sample_proc(pid), self_w1 = sample_proc(self);
  int closed_in_window = clients.dead() - dead_before_window;

  std::vector<double> join_ms;
  std::map<std::string, int> failures;
  int64_t last_authenticated = t0;
  for (const Conn &c : clients.conns()) {
    if (c.index < 0) continue;
    if (c.authenticated_us >= 0) {
      join_ms.push_back((c.authenticated_us - c.started_us) / 1000.0);
      last_authenticated = std::max(last_authenticated, c.authenticated_us);
    }
    if (c.state == Conn::kDead) {
      failures[c.failure.substr(0, 100)]++;
    } else if (c.state != Conn::kAuthenticated) {
      failures[std::string("not authenticated in time, ") + kStateNames[c.state]]++;
    }
  }
  JsonObjectWriter failures_json;
  for (const auto &[why, n] : failures)
    failures_json.num(why, int64_t{n});
  double window_s = (w1 - w0) / 1e6;
  int open = 0;
  for (const Conn &c : clients.conns())
    if (c.index >= 0 && c.state == Conn::kAuthenticated) open++;

  // Shutdown: SIGTERM while the clients keep reading, until every socket is closed.
  Tally shutdown_tally;
  clients.set_tally(&shutdown_tally);
  int64_t s0 = g_get_monotonic_time();
  kill(pid, SIGTERM);
  int total = static_cast<int>(clients.conns().size());
  bool all_closed =
      clients.run_until([&] { return clients.dead() == total; }, s0 + 30 * G_USEC_PER_SEC);
  int64_t s1 = g_get_monotonic_time();
  while (server.running() && g_get_monotonic_time() < s1 + 20 * G_USEC_PER_SEC)
    g_usleep(10000);
  int64_t s2 = g_get_monotonic_time();
  std::map<std::string, int> closes;
  for (const Conn &c : clients.conns())
    if (c.state == Conn::kDead && c.authenticated_us >= 0) closes[c.failure.substr(0, 100)]++;
  JsonObjectWriter closes_json;
  for (const auto &[why, n] : closes)
    closes_json.num(why, int64_t{n});
  int status = server.stop();
  if (g_getenv("GRAMOTHI_BENCH_LOG")) fputs(server.log().c_str(), stderr);

  JsonObjectWriter w;
  w.num("sockets", int64_t{sockets})
      .boolean("teacher_socket", teacher_socket)
      .raw("join_rate_per_s", std::to_string(join_rate))
      .num("source_addresses", int64_t{std::min(addresses, sockets)})
      .num("authenticated", static_cast<int64_t>(join_ms.size()))
      .raw("failures", failures_json.finish())
      .boolean("join_finished", joined)
      .raw("join_s", std::to_string((last_authenticated - t0) / 1e6))
      .raw("join_ms_p50", std::to_string(percentile(join_ms, 50)))
      .raw("join_ms_p95", std::to_string(percentile(join_ms, 95)))
      .raw("join_ms_p99", std::to_string(percentile(join_ms, 99)))
      .raw("join_ms_max", std::to_string(percentile(join_ms, 100)))
      .raw("join_server_cpu_pct_of_one_core",
           pct(server_joined.cpu_s - server_t0.cpu_s, t_joined - t0))
      .raw("join_clients_cpu_pct_of_one_core",
           pct(self_joined.cpu_s - self_t0.cpu_s, t_joined - t0))
      .num("join_messages", join_tally.texts)
      .raw("join_message_types", join_tally.json())
      .boolean("settled", settled)
      .num("listen_overflows", overflows_t0 >= 0 ? overflows_joined - overflows_t0 : -1)
      .num("syncookies_sent", cookies_t0 >= 0 ? cookies_joined - cookies_t0 : -1)
      .raw("settle_s",
           std::to_string((settled ? std::max<int64_t>(0, clients.last_text_us() - t_joined)
                                   : t_settled - t_joined) /
                          1e6))
      .raw("settle_server_cpu_pct_of_one_core",
           pct(server_settled.cpu_s - server_joined.cpu_s, t_settled - t_joined))
      .raw("settle_clients_cpu_pct_of_one_core",
           pct(self_settled.cpu_s - self_joined.cpu_s, t_settled - t_joined))
      .num("settle_messages", settle_tally.texts)
      .raw("server_cpu_s_join_and_settle", std::to_string(server_settled.cpu_s - server_t0.cpu_s))
      .raw("window_s", std::to_string(window_s))
      .raw("server_cpu_pct_of_one_core", pct(server_w1.cpu_s - server_w0.cpu_s, w1 - w0))
      .raw("server_cpu_pct_max_1s", std::to_string(max_1s))
      .raw("server_rss_mb", std::to_string(server_w1.rss_mb))
      .raw("server_rss_mb_max", std::to_string(max_rss))
      .raw("server_rss_mb_before_sockets", std::to_string(baseline.rss_mb))
      .raw("rss_kb_per_socket",
           std::to_string((server_w1.rss_mb - baseline.rss_mb) * 1024 / std::max(1, open)))
      .num("server_threads", int64_t{server_w1.threads})
      .raw("clients_cpu_pct_of_one_core", pct(self_w1.cpu_s - self_w0.cpu_s, w1 - w0))
      .num("window_messages", window_tally.texts)
      .num("window_message_bytes", window_tally.bytes)
      .raw("window_message_types", window_tally.json())
      .num("window_pings", window_tally.pings)
      .num("closed_in_window", int64_t{closed_in_window})
      .num("open_at_end", int64_t{open})
      .boolean("target_cpu_met", (server_w1.cpu_s - server_w0.cpu_s) / window_s * 100.0 < 20)
      .boolean("target_rss_met", max_rss < 80)
      .raw("shutdown_s", std::to_string((s1 - s0) / 1e6))
      .boolean("shutdown_closed_all", all_closed)
      .raw("server_exit_s", std::to_string((s2 - s0) / 1e6))
      .num("shutdown_messages", shutdown_tally.texts)
      .raw("shutdown_closes", closes_json.finish())
      .num("server_exit_status", int64_t{status});
  printf("%s\n", w.finish().c_str());
  fflush(stdout);
  for (const auto &[why, n] : failures)
    fprintf(stderr, "%d sockets: %s\n", n, why.c_str());
  std::string rm = std::string("rm -rf '") + dir + "'";
  if (system(rm.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return status == 0 ? 0 : 1;
}
