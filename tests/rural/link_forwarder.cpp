// The middle of an emulated link (see tests/rural/emulated-link): forwards every Ethernet frame
// between two interfaces, both ways, each frame after a fixed one-way delay and unless a random
// loss drops it. Rate and queue are not its business: tbf on each egress gives them, so a frame
// this program sends goes through the interface's qdisc (no PACKET_QDISC_BYPASS).
//
//   link_forwarder --a IF --b IF [--delay-ab-ms N] [--delay-ba-ms N] [--loss-ab-pct P]
//                  [--loss-ba-pct P] [--seed N] [--ready-file PATH] [--stats-file PATH]
//
// "ab" is from interface a to interface b. Frames wait in one heap ordered by due time (and
// arrival, for equal times); the loop sleeps in ppoll until the next frame is due or a frame
// arrives. Losses are independent per frame (Bernoulli). On SIGTERM or SIGINT it prints its
// counters as one JSON line on stdout and exits 0; on SIGUSR1 it writes them to --stats-file
// (replacing it at once, by rename). --ready-file is written once both sockets are bound, so a
// caller can wait for it.
//
// The interfaces need their offloads off (ethtool -K … tx off sg off tso off gso off gro off):
// a frame must be whole and checksummed to be forwarded as it is.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string &what) {
  std::fprintf(stderr, "link_forwarder: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

[[noreturn]] void usage(const std::string &why) {
  std::fprintf(stderr,
               "link_forwarder: %s\nusage: link_forwarder --a IF --b IF [--delay-ab-ms N] "
               "[--delay-ba-ms N] [--loss-ab-pct P] [--loss-ba-pct P] [--seed N] "
               "[--ready-file PATH] [--stats-file PATH]\n",
               why.c_str());
  std::exit(2);
}

// A raw socket that sees every frame arriving on one interface (promiscuously) and sends on it.
int open_port(const std::string &ifname) {
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) die("no interface " + ifname);
  // Protocol 0 at first: the socket receives nothing until it is bound to its interface.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket(AF_PACKET)");
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(index);
  if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) die("bind " + ifname);
  int one = 1;
  // Our own sends on this interface are not frames to forward back.
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0)
    die("PACKET_IGNORE_OUTGOING");
  packet_mreq mr{};
  mr.mr_ifindex = static_cast<int>(index);
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) die("promiscuous");
  int buf = 8 << 20;
  // Root may exceed the system's default limits; others get what the limits allow.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  return fd;
}

struct Direction {
  const char *name;
  int in = -1, out = -1;
  int64_t delay_ns = 0;
  double loss = 0;
  uint64_t frames_in = 0, bytes_in = 0, dropped_loss = 0, dropped_memory = 0;
  uint64_t frames_out = 0, bytes_out = 0, dropped_qdisc = 0, send_errors = 0;
};

struct Frame {
  int64_t due_ns;
  uint64_t order;
  Direction *dir;
  std::vector<unsigned char> data;
};
// Min-heap on (due, arrival order): std::push_heap keeps the greatest first, so compare reversed.
bool later(const Frame &x, const Frame &y) {
  return x.due_ns != y.due_ns ? x.due_ns > y.due_ns : x.order > y.order;
}

// Writes `text` to `path` through a temporary file and a rename, so a reader never sees half.
bool write_file(const std::string &path, const std::string &text) {
  std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "w");
  if (!f) return false;
  bool ok = std::fputs(text.c_str(), f) >= 0;
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string stats_json(const Direction &ab, const Direction &ba, size_t queued) {
  std::string out = "{\"queued\":" + std::to_string(queued);
  for (const Direction *d : {&ab, &ba}) {
    char line[512];
    std::snprintf(
        line, sizeof line,
        ",\"%s\":{\"delay_ms\":%.1f,\"loss_pct\":%.2f,\"frames_in\":%llu,\"bytes_in\":%llu,"
        "\"dropped_loss\":%llu,\"dropped_qdisc\":%llu,\"dropped_memory\":%llu,"
        "\"send_errors\":%llu,\"frames_out\":%llu,\"bytes_out\":%llu}",
        d->name, d->delay_ns / 1e6, d->loss * 100, static_cast<unsigned long long>(d->frames_in),
        static_cast<unsigned long long>(d->bytes_in),
        static_cast<unsigned long long>(d->dropped_loss),
        static_cast<unsigned long long>(d->dropped_qdisc),
        static_cast<unsigned long long>(d->dropped_memory),
        static_cast<unsigned long long>(d->send_errors),
        static_cast<unsigned long long>(d->frames_out),
        static_cast<unsigned long long>(d->bytes_out));
    out += line;
  }
  return out + "}\n";
}

double number(const char *s, const char *flag) {
  char *end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || v < 0) usage(std::string("bad value for ") + flag + ": " + s);
  return v;
}

}  // namespace

int main(int argc, char **argv) {
  std::string if_a, if_b, ready_file, stats_file;
  double delay_ab = 0, delay_ba = 0, loss_ab = 0, loss_ba = 0;
  uint64_t seed = std::random_device{}();
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    if (i + 1 >= argc) usage("missing value for " + k);
    const char *v = argv[++i];
    if (k == "--a")
      if_a = v;
    else if (k == "--b")
      if_b = v;
    else if (k == "--delay-ab-ms")
      delay_ab = number(v, "--delay-ab-ms");
    else if (k == "--delay-ba-ms")
      delay_ba = number(v, "--delay-ba-ms");
    else if (k == "--loss-ab-pct")
      loss_ab = number(v, "--loss-ab-pct");
    else if (k == "--loss-ba-pct")
      loss_ba = number(v, "--loss-ba-pct");
    else if (k == "--seed")
      seed = static_cast<uint64_t>(number(v, "--seed"));
    else if (k == "--ready-file")
      ready_file = v;
    else if (k == "--stats-file")
      stats_file = v;
    else
      usage("unknown option " + k);
  }
  if (if_a.empty() || if_b.empty()) usage("--a and --b are required");
  if (loss_ab > 100 || loss_ba > 100) usage("loss is a percentage, 0 to 100");

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) die("sigprocmask");
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");

  int fa = open_port(if_a), fb = open_port(if_b);
  Direction ab{"ab"}, ba{"ba"};
  ab.in = fa, ab.out = fb, ab.delay_ns = static_cast<int64_t>(delay_ab * 1e6),
  ab.loss = loss_ab / 100;
  ba.in = fb, ba.out = fa, ba.delay_ns = static_cast<int64_t>(delay_ba * 1e6),
  ba.loss = loss_ba / 100;

  if (!ready_file.empty() && !write_file(ready_file, std::to_string(getpid()) + "\n"))
    die("writing " + ready_file);

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<Frame> heap;
  uint64_t order = 0;
  size_t queued_bytes = 0;
  const size_t max_queued_bytes = 64u << 20;  // a stuck egress must not eat the machine
  std::vector<unsigned char> buf(65536);
  bool running = true;

  auto receive = [&](Direction &d) {
    // A bounded batch, so that one busy direction cannot hold back the other's due frames.
    for (int n = 0; n < 256; n++) {
      sockaddr_ll from{};
      socklen_t len = sizeof from;
      ssize_t got = recvfrom(d.in, buf.data(), buf.size(), MSG_TRUNC,
                             reinterpret_cast<sockaddr *>(&from), &len);
      if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die(std::string("recv ") + d.name);
      }
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      d.frames_in++;
      d.bytes_in += static_cast<uint64_t>(got);
      if (static_cast<size_t>(got) > buf.size()) {  // a super-frame: offloads are on
        d.send_errors++;
        continue;
      }
      if (d.loss > 0 && uniform(rng) < d.loss) {
        d.dropped_loss++;
        continue;
      }
      if (queued_bytes + static_cast<size_t>(got) > max_queued_bytes) {
        d.dropped_memory++;
        continue;
      }
      heap.push_back(Frame{now_ns() + d.delay_ns, order++, &d,
                           std::vector<unsigned char>(buf.begin(), buf.begin() + got)});
      std::push_heap(heap.begin(), heap.end(), later);
      queued_bytes += static_cast<size_t>(got);
    }
  };

  while (running) {
    int64_t now = now_ns();
    while (!heap.empty() && heap.front().due_ns <= now) {
      std::pop_heap(heap.begin(), heap.end(), later);
      Frame f = std::move(heap.back());
      heap.pop_back();
      queued_bytes -= f.data.size();
      Direction &d = *f.dir;
      if (send(d.out, f.data.data(), f.data.size(), 0) < 0) {
        // ENOBUFS: the egress qdisc (tbf) dropped it, its queue full; EAGAIN: our send buffer.
        if (errno == ENOBUFS || errno == EAGAIN)
          d.dropped_qdisc++;
        else
          d.send_errors++;
      } else {
        d.frames_out++;
        d.bytes_out += f.data.size();
      }
    }
    timespec wait{}, *timeout = nullptr;
    if (!heap.empty()) {
      int64_t ns = std::max<int64_t>(0, heap.front().due_ns - now_ns());
      wait.tv_sec = ns / 1'000'000'000;
      wait.tv_nsec = ns % 1'000'000'000;
      timeout = &wait;
    }
    pollfd fds[3] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}, {sfd, POLLIN, 0}};
    int n = ppoll(fds, 3, timeout, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("ppoll");
    }
    if (fds[0].revents & POLLIN) receive(ab);
    if (fds[1].revents & POLLIN) receive(ba);
    if ((fds[0].revents | fds[1].revents) & (POLLERR | POLLNVAL)) {
      std::fprintf(stderr, "link_forwarder: an interface went away\n");
      running = false;
    }
    if (fds[2].revents & POLLIN) {
      signalfd_siginfo si{};
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo != SIGUSR1)
          running = false;
        else if (!stats_file.empty() && !write_file(stats_file, stats_json(ab, ba, heap.size())))
          std::fprintf(stderr, "link_forwarder: cannot write %s\n", stats_file.c_str());
      }
    }
  }

  std::fputs(stats_json(ab, ba, heap.size()).c_str(), stdout);
  std::fflush(stdout);
  close(fa);
  close(fb);
  close(sfd);
  return 0;
}
