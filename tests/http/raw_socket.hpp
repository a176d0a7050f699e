// RawSocket: a TCP client on loopback for tests that need what HTTP and WebSocket libraries
// hide: the source address (any of 127/8), half-sent requests, bodies that never end, a socket
// that never reads, frames written by hand. Every wait has a deadline; nothing blocks for ever.
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

class RawSocket {
 public:
  // Connects from `source` to 127.0.0.1:port; rcvbuf > 0 sets SO_RCVBUF before connecting.
  RawSocket(const std::string &source, int port, int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    connected_ = bind(fd_, reinterpret_cast<sockaddr *>(&from), sizeof from) == 0 &&
                 connect(fd_, reinterpret_cast<sockaddr *>(&to), sizeof to) == 0;
    if (!connected_) error_ = errno;
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  RawSocket(const RawSocket &) = delete;
  RawSocket &operator=(const RawSocket &) = delete;
  ~RawSocket() { close(fd_); }

  bool connected() const { return connected_; }
  int error() const { return error_; }  // errno of the last failure
  int fd() const { return fd_; }

  // Sends what the socket takes now: bytes sent (0 if none), or -1 once it failed.
  ssize_t send_some(const char *data, size_t length) {
    ssize_t n = ::send(fd_, data, length, MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    error_ = errno;
    return -1;
  }

  // Sends all of `data` within the deadline; false on failure or timeout.
  bool send_all(std::string_view data, int timeout_ms = 10000) {
    int64_t until = g_get_monotonic_time() + timeout_ms * int64_t{1000};
    while (!data.empty()) {
      ssize_t n = send_some(data.data(), data.size());
      if (n < 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
      if (data.empty()) break;
      if (!wait(POLLOUT, until)) return false;
    }
    return true;
  }

  // Reads what is there now into received(): false once the peer closed or the socket failed.
  bool read_available() {
    char buf[65536];
    while (true) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      if (n < 0) error_ = errno;
      closed_ = true;
      return false;
    }
  }

  // Reads until done(received()) holds, the peer closes, or the deadline. Returns done(...).
  bool read_until(const std::function<bool(const std::string &)> &done, int timeout_ms) {
    int64_t until = g_get_monotonic_time() + timeout_ms * int64_t{1000};
    while (!done(received_)) {
      if (!read_available()) return done(received_);
      if (done(received_)) break;
      if (!wait(POLLIN, until)) return done(received_);
    }
    return true;
  }

  // A whole HTTP response (headers and Content-Length body) within the deadline.
  bool read_response(int timeout_ms = 10000) {
    return read_until([](const std::string &r) { return response_complete(r); }, timeout_ms);
  }

  // Waits until the peer closes (end of stream or reset), reading whatever comes first.
  bool wait_closed(int timeout_ms) {
    int64_t until = g_get_monotonic_time() + timeout_ms * int64_t{1000};
    while (read_available())
      if (!wait(POLLIN, until)) return false;
    return true;
  }

  // Waits (at most timeout_ms) until the socket is ready for `events` (POLLIN, POLLOUT).
  bool wait_ready(short events, int timeout_ms) {
    return wait(events, g_get_monotonic_time() + timeout_ms * int64_t{1000});
  }

  std::string &received() { return received_; }
  bool closed() const { return closed_; }

  static bool response_complete(const std::string &r) {
    size_t end = r.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    size_t at = r.find("Content-Length: ");
    size_t length = at < end ? std::stoul(r.substr(at + 16)) : 0;
    return r.size() >= end + 4 + length;
  }

 private:
  bool wait(short events, int64_t until_us) {
    int64_t left_ms = (until_us - g_get_monotonic_time()) / 1000;
    if (left_ms <= 0) return false;
    pollfd p{fd_, events, 0};
    return poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000))) >= 0;
  }

  int fd_ = -1;
  bool connected_ = false, closed_ = false;
  int error_ = 0;
  std::string received_;
};

// WebSocket frames by hand (RFC 6455): a client's frames are masked, the server's are not.
namespace ws {

inline std::string handshake(const std::string &path) {
  return "GET " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// A masked client frame; fin = false for all but the last fragment of a message.
inline std::string client_frame(uint8_t opcode, std::string_view payload, bool fin = true) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | opcode);
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(mask, 4);
  for (size_t i = 0; i < payload.size(); i++)
    f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

struct Frame {
  uint8_t opcode = 0;
  std::string payload;
};

// Takes one whole server frame off the front of `buf`; false if it is not all there yet.
inline bool take_frame(std::string &buf, Frame *out) {
  if (buf.size() < 2) return false;
  auto b = [&](size_t i) { return static_cast<uint8_t>(buf[i]); };
  uint64_t length = b(1) & 0x7f;
  size_t header = 2;
  if (length == 126) {
    if (buf.size() < 4) return false;
    length = (uint64_t{b(2)} << 8) | b(3);
    header = 4;
  } else if (length == 127) {
    if (buf.size() < 10) return false;
    length = 0;
    for (size_t i = 2; i < 10; i++)
      length = (length << 8) | b(i);
    header = 10;
  }
  if (buf.size() < header + length) return false;
  out->opcode = b(0) & 0x0f;
  out->payload = buf.substr(header, length);
  buf.erase(0, header + length);
  return true;
}

}  // namespace ws
