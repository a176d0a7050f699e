// Measures an emulated link from its two ends over UDP, so the suite checks that the link is
// what it was asked to be (tests/rural/emulated-link, tests/rural/rural.mjs):
//
//   link_probe echo  --bind ADDR --port P [--timeout-s T]
//       answers `ping`'s probes and count queries until `ping` says quit (or T seconds).
//   link_probe ping  --to ADDR --port P [--count N] [--interval-ms I] [--size B]
//       sends N probes, I ms apart; prints the round trip (min, p50, p90, max) and the loss
//       each way: up = probes the echo never got, down = echoes that never came back.
//   link_probe sink  --bind ADDR --port P [--idle-ms I] [--timeout-s T]
//       receives a blast until I ms pass without a packet; prints the rate it arrived at once
//       the link was full (wire bytes: payload + UDP, IPv4 and Ethernet headers, from the first
//       quarter of the arrivals on), the one-way delays (min, max; their difference is the
//       queue) and the packets received of those sent.
//   link_probe blast --to ADDR --port P --kbit R [--seconds S] [--size B]
//       sends B-byte datagrams paced at R kbit/s of wire bytes for S seconds.
//
// Every mode prints "ready" on stderr once its socket is bound, and its result as one JSON line
// on stdout. Packets carry CLOCK_MONOTONIC send times: both ends run on the same machine (in
// different network namespaces, which share the clock).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr int kWireOverhead = 8 + 20 + 14;  // UDP, IPv4, Ethernet
constexpr uint32_t kMagic = 0x474c4b50;     // "GLKP"

enum Kind : uint32_t { kProbe = 1, kEcho = 2, kCountQuery = 3, kCount = 4, kQuit = 5, kBlast = 6 };

struct Header {
  uint32_t magic;
  uint32_t kind;
  uint64_t seq;
  int64_t sent_ns;
  uint64_t count;  // kEcho/kCount: probes the echo end has received so far
};

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string &what) {
  std::fprintf(stderr, "link_probe: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void usage(const std::string &why) {
  std::fprintf(stderr,
               "link_probe: %s\nusage: link_probe echo|ping|sink|blast [--bind ADDR | --to ADDR] "
               "--port P [--count N] [--interval-ms I] [--size B] [--kbit R] [--seconds S] "
               "[--idle-ms I] [--timeout-s T]\n",
               why.c_str());
  std::exit(2);
}

sockaddr_in address(const std::string &ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) usage("not an IPv4 address: " + ip);
  return a;
}

int udp_socket() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  return fd;
}

// Waits for a datagram until `deadline_ns`; returns its size, or -1 at the deadline.
ssize_t receive_until(int fd, std::vector<unsigned char> &buf, int64_t deadline_ns,
                      sockaddr_in *from = nullptr) {
  for (;;) {
    int64_t left = deadline_ns - now_ns();
    if (left <= 0) return -1;
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left / 1'000'000)));
    if (n < 0 && errno != EINTR) die("poll");
    if (n <= 0) continue;
    socklen_t len = sizeof(sockaddr_in);
    ssize_t got = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr *>(from),
                           from ? &len : nullptr);
    if (got < 0 && errno != EINTR) die("recvfrom");
    if (got >= static_cast<ssize_t>(sizeof(Header))) return got;
  }
}

Header header_of(const std::vector<unsigned char> &buf) {
  Header h{};
  std::memcpy(&h, buf.data(), sizeof h);
  return h;
}

void send_packet(int fd, const sockaddr_in &to, const Header &h, size_t size) {
  std::vector<unsigned char> pkt(std::max(size, sizeof h));
  std::memcpy(pkt.data(), &h, sizeof h);
  // Losing a datagram to a full buffer is what a link does; the result counts it.
  sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<const sockaddr *>(&to), sizeof to);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Options {
  std::string mode, addr;
  int port = 0, count = 200, size = 64, idle_ms = 2000;
  double interval_ms = 25, kbit = 0, seconds = 3, timeout_s = 120;
};

int run_echo(const Options &o) {
  int fd = udp_socket();
  sockaddr_in me = address(o.addr, o.port);
  if (bind(fd, reinterpret_cast<sockaddr *>(&me), sizeof me) < 0) die("bind");
  std::fprintf(stderr, "ready\n");
  std::vector<unsigned char> buf(65536);
  uint64_t probes = 0;
  int64_t deadline = now_ns() + static_cast<int64_t>(o.timeout_s * 1e9);
  for (;;) {
    sockaddr_in from{};
    ssize_t got = receive_until(fd, buf, deadline, &from);
    if (got < 0) break;
    Header h = header_of(buf);
    if (h.magic != kMagic) continue;
    if (h.kind == kQuit) break;
    if (h.kind == kProbe) {
      probes++;
      h.kind = kEcho;
      h.count = probes;
      send_packet(fd, from, h, static_cast<size_t>(got));
    } else if (h.kind == kCountQuery) {
      h.kind = kCount;
      h.count = probes;
      send_packet(fd, from, h, sizeof h);
    }
  }
  std::printf("{\"mode\":\"echo\",\"probes_received\":%llu}\n",
              static_cast<unsigned long long>(probes));
  return 0;
}

int run_ping(const Options &o) {
  int fd = udp_socket();
  sockaddr_in to = address(o.addr, o.port);
  std::fprintf(stderr, "ready\n");
  std::vector<unsigned char> buf(65536);
  std::vector<double> rtts;
  const int64_t interval = static_cast<int64_t>(o.interval_ms * 1e6);
  const int64_t start = now_ns();
  int sent = 0;
  // Send on schedule; take echoes as they come; after the last probe, wait 3 s for stragglers
  // (a round trip plus a full 1 s queue each way fits well within that).
  int64_t end = start + interval * o.count + 3'000'000'000LL;
  while (now_ns() < end) {
    int64_t next = sent < o.count ? start + interval * sent : end;
    if (now_ns() >= next && sent < o.count) {
      Header h{kMagic, kProbe, static_cast<uint64_t>(sent), now_ns(), 0};
      send_packet(fd, to, h, static_cast<size_t>(o.size));
      sent++;
      continue;
    }
    ssize_t got = receive_until(fd, buf, std::min(next, end));
    if (got < 0) continue;
    Header h = header_of(buf);
    if (h.magic == kMagic && h.kind == kEcho) rtts.push_back((now_ns() - h.sent_ns) / 1e6);
  }
  // How many probes reached the echo end: ask until it answers (each query may be lost too).
  long long reached = -1;
  for (int attempt = 0; attempt < 20 && reached < 0; attempt++) {
    Header q{kMagic, kCountQuery, static_cast<uint64_t>(attempt), now_ns(), 0};
    send_packet(fd, to, q, sizeof q);
    int64_t until = now_ns() + 1'500'000'000LL;
    for (ssize_t got; (got = receive_until(fd, buf, until)) >= 0;) {
      Header h = header_of(buf);
      if (h.magic == kMagic && h.kind == kCount) {
        reached = static_cast<long long>(h.count);
        break;
      }
    }
  }
  for (int i = 0; i < 5; i++) {
    Header q{kMagic, kQuit, 0, now_ns(), 0};
    send_packet(fd, to, q, sizeof q);
  }
  double up = reached < 0 ? -1 : 100.0 * (sent - reached) / sent;
  double down = reached <= 0 ? -1 : 100.0 * (reached - static_cast<double>(rtts.size())) / reached;
  std::printf(
      "{\"mode\":\"ping\",\"sent\":%d,\"reached\":%lld,\"echoed_back\":%zu,\"up_loss_pct\":%.2f,"
      "\"down_loss_pct\":%.2f,\"rtt_ms_min\":%.1f,\"rtt_ms_p50\":%.1f,\"rtt_ms_p90\":%.1f,"
      "\"rtt_ms_max\":%.1f}\n",
      sent, reached, rtts.size(), up, down, percentile(rtts, 0), percentile(rtts, 0.5),
      percentile(rtts, 0.9), percentile(rtts, 1));
  return reached < 0 ? 1 : 0;
}

int run_sink(const Options &o) {
  int fd = udp_socket();
  sockaddr_in me = address(o.addr, o.port);
  if (bind(fd, reinterpret_cast<sockaddr *>(&me), sizeof me) < 0) die("bind");
  std::fprintf(stderr, "ready\n");
  std::vector<unsigned char> buf(65536);
  int64_t deadline = now_ns() + static_cast<int64_t>(o.timeout_s * 1e9);
  struct Arrival {
    int64_t at_ns;
    uint64_t wire_bytes;
  };
  std::vector<Arrival> arrivals;
  uint64_t max_seq = 0;
  std::vector<double> delays;
  for (;;) {
    int64_t until =
        arrivals.empty()
            ? deadline
            : std::min<int64_t>(deadline, arrivals.back().at_ns + o.idle_ms * int64_t{1000000});
    ssize_t got = receive_until(fd, buf, until);
    if (got < 0) break;
    Header h = header_of(buf);
    if (h.magic != kMagic || h.kind != kBlast) continue;
    int64_t t = now_ns();
    arrivals.push_back({t, static_cast<uint64_t>(got) + kWireOverhead});
    max_seq = std::max(max_seq, h.seq);
    delays.push_back((t - h.sent_ns) / 1e6);
  }
  // The rate once the link is saturated: from the first quarter of the arrivals on, so that a
  // token bucket's initial burst (frames passed at once) does not count as rate.
  double kbit = -1, span_s = 0;
  size_t from = arrivals.size() / 4;
  if (arrivals.size() >= 4) {
    uint64_t bytes = 0;
    for (size_t i = from + 1; i < arrivals.size(); i++)
      bytes += arrivals[i].wire_bytes;
    span_s = (arrivals.back().at_ns - arrivals[from].at_ns) / 1e9;
    if (span_s > 0) kbit = bytes * 8 / span_s / 1000;
  }
  std::printf(
      "{\"mode\":\"sink\",\"packets\":%zu,\"sent\":%llu,\"span_s\":%.3f,\"rate_kbit\":%.1f,"
      "\"delay_ms_min\":%.1f,\"delay_ms_max\":%.1f}\n",
      arrivals.size(), static_cast<unsigned long long>(arrivals.empty() ? 0 : max_seq + 1), span_s,
      kbit, percentile(delays, 0), percentile(delays, 1));
  return arrivals.empty() ? 1 : 0;
}

int run_blast(const Options &o) {
  if (o.kbit <= 0) usage("blast needs --kbit");
  int fd = udp_socket();
  sockaddr_in to = address(o.addr, o.port);
  std::fprintf(stderr, "ready\n");
  const double wire_bits = (o.size + kWireOverhead) * 8.0;
  const int64_t gap = static_cast<int64_t>(wire_bits / (o.kbit * 1000) * 1e9);
  const int64_t start = now_ns(), end = start + static_cast<int64_t>(o.seconds * 1e9);
  uint64_t seq = 0;
  for (int64_t next = start; next < end; next += gap) {
    for (int64_t t; (t = now_ns()) < next;) {
      timespec ts{static_cast<time_t>((next - t) / 1'000'000'000), (next - t) % 1'000'000'000};
      nanosleep(&ts, nullptr);  // pacing to a send time, not waiting for a state
    }
    Header h{kMagic, kBlast, seq++, now_ns(), 0};
    send_packet(fd, to, h, static_cast<size_t>(o.size));
  }
  std::printf("{\"mode\":\"blast\",\"sent\":%llu,\"kbit\":%.1f,\"size\":%d}\n",
              static_cast<unsigned long long>(seq), o.kbit, o.size);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) usage("no mode");
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; i++) {
    std::string k = argv[i];
    if (i + 1 >= argc) usage("missing value for " + k);
    std::string v = argv[++i];
    char *endp = nullptr;
    double num = std::strtod(v.c_str(), &endp);
    bool is_num = endp != v.c_str() && *endp == '\0' && num >= 0;
    if (k == "--bind" || k == "--to")
      o.addr = v;
    else if (!is_num)
      usage("bad value for " + k + ": " + v);
    else if (k == "--port")
      o.port = static_cast<int>(num);
    else if (k == "--count")
      o.count = static_cast<int>(num);
    else if (k == "--interval-ms")
      o.interval_ms = num;
    else if (k == "--size")
      o.size = static_cast<int>(num);
    else if (k == "--kbit")
      o.kbit = num;
    else if (k == "--seconds")
      o.seconds = num;
    else if (k == "--idle-ms")
      o.idle_ms = static_cast<int>(num);
    else if (k == "--timeout-s")
      o.timeout_s = num;
    else
      usage("unknown option " + k);
  }
  if (o.addr.empty() || o.port <= 0 || o.port > 65535) usage("an address and a port are needed");
  if (o.count <= 0) usage("--count must be at least 1");
  o.size = std::max<int>(o.size, static_cast<int>(sizeof(Header)));
  if (o.mode == "echo") return run_echo(o);
  if (o.mode == "ping") return run_ping(o);
  if (o.mode == "sink") return run_sink(o);
  if (o.mode == "blast") return run_blast(o);
  usage("unknown mode " + o.mode);
}
