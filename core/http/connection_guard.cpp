#include "http/connection_guard.hpp"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "base/log.hpp"
#include "build_config.h"
#include "http/http_router.hpp"

namespace gramothi {
namespace {

constexpr int kAcceptsPerWakeup = 64;
constexpr guint kResumeAfterEmfileMs = 100;
constexpr int64_t kHangUpWithinUs = G_USEC_PER_SEC;
constexpr int64_t kReportEveryUs = 10 * G_USEC_PER_SEC;

// A connection hang_up() is ending: the answer is on its way, the sending side is shut; the
// socket closes once the client has acknowledged everything, or at the deadline.
struct HangUp {
  GRef<GIOStream> stream;
  GRef<GSocket> socket;
  int64_t deadline_us;
};

gboolean on_hang_up_tick(gpointer data) {
  auto *h = static_cast<HangUp *>(data);
  int unacknowledged = 0;
  bool delivered = !h->socket ||
                   ioctl(g_socket_get_fd(h->socket.get()), SIOCOUTQ, &unacknowledged) != 0 ||
                   unacknowledged == 0;
  if (!delivered && g_get_monotonic_time() < h->deadline_us) return G_SOURCE_CONTINUE;
  g_io_stream_close(h->stream.get(), nullptr, nullptr);
  delete h;
  return G_SOURCE_REMOVE;
}

const char *why(IpAdmission::Verdict v) {
  switch (v) {
    case IpAdmission::Verdict::kServerFull:
      return "max_connections reached";
    case IpAdmission::Verdict::kAddressFull:
      return "max_connections_per_ip reached";
    case IpAdmission::Verdict::kTooFast:
      return "over new_connections_per_ip_per_second";
    case IpAdmission::Verdict::kAdmit:
      break;
  }
  return "admitted";
}

// got-headers of one message: the request is in progress from then on.
struct HeadersWatch {
  Lifetime::Watch alive;
  std::function<void(SoupServerMessage *)> got_headers;
};

void on_got_headers(SoupServerMessage *msg, gpointer data) {
  auto *w = static_cast<HeadersWatch *>(data);
  if (w->alive.alive()) w->got_headers(msg);
}

}  // namespace

std::string closing_response(unsigned status, const std::string &json,
                             const std::vector<std::pair<std::string, std::string>> &headers) {
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *date = soup_date_time_to_string(now, SOUP_DATE_HTTP);
  std::string r =
      "HTTP/1.1 " + std::to_string(status) + " " + soup_status_get_phrase(status) +
      "\r\nServer: gramothi/" GRAMOTHI_VERSION "\r\nDate: " + date +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
      "Connection: close\r\n";
  for (const auto &[name, value] : headers)
    r += name + ": " + value + "\r\n";
  return r + "\r\n" + json;
}

ConnectionGuard::ConnectionGuard(SoupServer *server, const ConnectionLimits &limits)
    : server_(GRef<SoupServer>::ref(server)), limits_(limits), admission_(limits) {
  server_handlers_.push_back(
      g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), this));
  for (const char *done : {"request-finished", "request-aborted"})
    server_handlers_.push_back(g_signal_connect(server, done, G_CALLBACK(on_request_done), this));
  server_handlers_.push_back(
      g_signal_connect(server, "request-read", G_CALLBACK(on_request_read), this));
  tick_timer_ = g_timeout_add_seconds(1, on_tick, this);
}

ConnectionGuard::~ConnectionGuard() {
  lifetime_.end();
  stop_accepting();
  if (tick_timer_) g_source_remove(tick_timer_);
  for (gulong id : server_handlers_)
    g_signal_handler_disconnect(server_.get(), id);
  for (auto &[remote, c] : connections_)
    g_object_weak_unref(G_OBJECT(c->stream), on_stream_gone, c.get());
  if (listener_) g_socket_close(listener_.get(), nullptr);
}

Result<int> ConnectionGuard::listen(const std::string &address, int port) {
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(address.c_str());
  if (!inet)
    return Error{ErrorKind::kInvalid, "config_invalid", "'" + address + "' is not an IP address"};
  auto failed = [&](const char *what) {
    return Error{ErrorKind::kUnavailable, "listen_failed",
                 "cannot listen on " + address + ":" + std::to_string(port) + ": " + what};
  };
  if (listener_) return failed("the server listens already");
  g_autoptr(GSocketAddress) where = g_inet_socket_address_new(inet, static_cast<guint16>(port));
  g_autoptr(GError) err = nullptr;
  GSocketFamily family = g_inet_address_get_family(inet);
  g_autoptr(GSocket) socket =
      g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &err);
  if (!socket) return failed(err->message);
  if (family == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option(socket, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, nullptr);
  g_socket_set_listen_backlog(socket, 1024);
  if (!g_socket_bind(socket, where, TRUE, &err) || !g_socket_listen(socket, &err))
    return failed(err->message);
  g_socket_set_blocking(socket, FALSE);
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(socket, &err);
  if (!bound) return failed(err->message);

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return failed(g_strerror(errno));
  for (int i = 0; i < 2; i++)
    idle_listener_[i] = GRef<GSocket>::adopt(g_socket_new_from_fd(pair[i], nullptr));
  if (!idle_listener_[0] || !idle_listener_[1] ||
      !soup_server_listen_socket(server_.get(), idle_listener_[0].get(),
                                 static_cast<SoupServerListenOptions>(0), &err))
    return failed(err ? err->message : "socketpair");

  listener_ = GRef<GSocket>::ref(socket);
  start_accepting();
  return static_cast<int>(g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
}

void ConnectionGuard::start_accepting() {
  accept_source_ = g_socket_create_source(listener_.get(), G_IO_IN, nullptr);
  g_source_set_callback(accept_source_, G_SOURCE_FUNC(on_incoming), this, nullptr);
  g_source_attach(accept_source_, g_main_context_get_thread_default());
}

void ConnectionGuard::stop_accepting() {
  if (accept_source_) {
    g_source_destroy(accept_source_);
    g_clear_pointer(&accept_source_, g_source_unref);
  }
  if (resume_timer_) g_source_remove(std::exchange(resume_timer_, 0));
}

gboolean ConnectionGuard::on_incoming(GSocket *listener, GIOCondition, gpointer self) {
  auto *guard = static_cast<ConnectionGuard *>(self);
  for (int i = 0; i < kAcceptsPerWakeup; i++) {
    g_autoptr(GError) err = nullptr;
    g_autoptr(GSocket) socket = g_socket_accept(listener, nullptr, &err);
    if (socket) {
      guard->take(socket);
      continue;
    }
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES)) {
      // The connection waits in the backlog; retrying at once would spin. Said at most every
      // 10 s: a client holding the server at its limit must not also fill its log.
      static int64_t said_at_us = 0;
      int64_t now = g_get_monotonic_time();
      if (said_at_us == 0 || now - said_at_us > 10 * G_USEC_PER_SEC) {
        said_at_us = now;
        log_message(
            LogLevel::kWarning, "http",
            std::string("cannot accept a connection: ") + err->message +
                "; raise the open file limit (ulimit -n) or lower [limits] max_connections");
      }
      g_clear_pointer(&guard->accept_source_, g_source_unref);
      guard->resume_timer_ = g_timeout_add(kResumeAfterEmfileMs, on_resume_accepting, guard);
      return G_SOURCE_REMOVE;
    }
    if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      log_message(LogLevel::kDebug, "http", std::string("accept: ") + err->message);
    break;
  }
  return G_SOURCE_CONTINUE;
}

gboolean ConnectionGuard::on_resume_accepting(gpointer self) {
  auto *guard = static_cast<ConnectionGuard *>(self);
  guard->resume_timer_ = 0;
  guard->start_accepting();
  return G_SOURCE_REMOVE;
}

void ConnectionGuard::take(GSocket *socket) {
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(socket, nullptr);
  g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, nullptr);
  if (!remote || !local || !G_IS_INET_SOCKET_ADDRESS(remote)) {
    g_socket_close(socket, nullptr);  // already gone
    return;
  }
  std::string address =
      client_address_key(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
  int64_t now = g_get_monotonic_time();
  auto verdict = admission_.admit(address, now);
  if (verdict != IpAdmission::Verdict::kAdmit) return refuse(socket, address, verdict);

  g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, TRUE, nullptr);
  g_autoptr(GSocketConnection) tcp = g_socket_connection_factory_create_connection(socket);
  g_autoptr(GramothiClientStream) stream = client_stream_new(tcp);
  auto c = std::make_unique<Connection>();
  c->guard = this;
  c->stream = stream;
  c->remote = GRef<GSocketAddress>::ref(remote);
  c->address = address;
  c->deadline_us = now + limits_.header_timeout_s * G_USEC_PER_SEC;
  g_object_weak_ref(G_OBJECT(stream), on_stream_gone, c.get());
  connections_[remote] = std::move(c);
  // libsoup emits request-started for the connection's first request from inside this call.
  soup_server_accept_iostream(server_.get(), G_IO_STREAM(stream), local, remote, nullptr);
}

void ConnectionGuard::refuse(GSocket *socket, const std::string &address,
                             IpAdmission::Verdict verdict) {
  Error e{ErrorKind::kUnavailable, "too_many_connections",
          "Too many connections from your network are open; try again shortly."};
  int retry_s = 5;
  if (verdict == IpAdmission::Verdict::kServerFull) {
    e = {ErrorKind::kUnavailable, "server_busy",
         "The server has all the connections it can take; try again shortly."};
  } else if (verdict == IpAdmission::Verdict::kTooFast) {
    e = {ErrorKind::kUnavailable, "connecting_too_fast",
         "Your network opens new connections too fast; try again in a second."};
    retry_s = 1;
  }
  std::string response =
      closing_response(503, error_json(e), {{"Retry-After", std::to_string(retry_s)}});
  // Whatever the client sent already is read first, so that closing sends FIN, not a reset
  // that could overtake the answer.
  char discard[4096];
  g_socket_receive_with_blocking(socket, discard, sizeof discard, FALSE, nullptr, nullptr);
  g_socket_send_with_blocking(socket, response.data(), response.size(), FALSE, nullptr, nullptr);
  g_socket_shutdown(socket, FALSE, TRUE, nullptr);
  g_socket_close(socket, nullptr);

  refused_since_log_++;
  int64_t now = g_get_monotonic_time();
  if (now - last_refusal_log_us_ >= kReportEveryUs) {
    log_message(LogLevel::kWarning, "http",
                "refused " + std::to_string(refused_since_log_) +
                    " connection(s) since the last report; the latest from " + address + " (" +
                    why(verdict) + ")");
    refused_since_log_ = 0;
    last_refusal_log_us_ = now;
  }
}

ConnectionGuard::Connection *ConnectionGuard::find(SoupServerMessage *msg) const {
  auto it = connections_.find(soup_server_message_get_remote_address(msg));
  return it == connections_.end() ? nullptr : it->second.get();
}

GramothiClientStream *ConnectionGuard::stream_of(SoupServerMessage *msg) const {
  Connection *c = find(msg);
  return c ? c->stream : nullptr;
}

void ConnectionGuard::on_request_started(SoupServer *, SoupServerMessage *msg, gpointer self) {
  auto *guard = static_cast<ConnectionGuard *>(self);
  Connection *c = guard->find(msg);
  if (!c) return;
  // A kept-alive connection starts its next request at the first byte of it; a new connection's
  // first request keeps the deadline counted from the accept.
  client_stream_between_requests(c->stream, false);
  c->body_untimed = false;
  if (c->phase != Phase::kHeaders) {
    c->phase = Phase::kHeaders;
    c->deadline_us = g_get_monotonic_time() + guard->limits_.header_timeout_s * G_USEC_PER_SEC;
  }
  auto *watch = new HeadersWatch{
      guard->lifetime_.watch(), [guard](SoupServerMessage *m) {
        Connection *c = guard->find(m);
        if (!c) return;
        // A body must follow as fast as headers (a trickled body held connections for ever);
        // authenticated uploads are not timed (untimed_body).
        goffset length =
            soup_message_headers_get_content_length(soup_server_message_get_request_headers(m));
        if (length > 0 && !c->body_untimed) {
          c->phase = Phase::kBody;
          c->deadline_us =
              g_get_monotonic_time() + guard->limits_.header_timeout_s * G_USEC_PER_SEC;
        } else {
          c->phase = Phase::kRequest;
          c->deadline_us = 0;
        }
      }};
  g_signal_connect_data(
      msg, "got-headers", G_CALLBACK(on_got_headers), watch,
      [](gpointer w, GClosure *) { delete static_cast<HeadersWatch *>(w); }, G_CONNECT_DEFAULT);
}

void ConnectionGuard::untimed_body(SoupServerMessage *msg) {
  Connection *c = find(msg);
  if (!c) return;
  c->body_untimed = true;
  if (c->phase == Phase::kBody) {
    c->phase = Phase::kRequest;
    c->deadline_us = 0;
  }
}

void ConnectionGuard::on_request_read(SoupServer *, SoupServerMessage *msg, gpointer self) {
  Connection *c = static_cast<ConnectionGuard *>(self)->find(msg);
  if (c && c->phase == Phase::kBody) {
    c->phase = Phase::kRequest;
    c->deadline_us = 0;
  }
}

void ConnectionGuard::on_request_done(SoupServer *, SoupServerMessage *msg, gpointer self) {
  auto *guard = static_cast<ConnectionGuard *>(self);
  if (Connection *c = guard->find(msg)) {
    client_stream_between_requests(c->stream, true);
    c->phase = Phase::kIdle;
    c->deadline_us = g_get_monotonic_time() + guard->limits_.idle_timeout_s * G_USEC_PER_SEC;
  }
}

gboolean ConnectionGuard::on_tick(gpointer self) {
  auto *guard = static_cast<ConnectionGuard *>(self);
  int64_t now = g_get_monotonic_time();
  for (auto &[remote, c] : guard->connections_) {
    if (c->closing && !c->released && now - c->closing_since_us > kForceCloseAfterUs) {
      // libsoup did not let it go. Give the address its slot back, so that no way of ending a
      // connection can pin slots for ever. The socket stays libsoup's: closing it under
      // libsoup's sources could hand its descriptor number to the next client.
      log_message(LogLevel::kWarning, "http",
                  "a connection from " + c->address +
                      " did not end 10 s after it was closed; its slot is freed");
      guard->admission_.release(c->address);
      c->released = true;
      continue;
    }
    if (c->closing || !c->deadline_us || now < c->deadline_us) continue;
    c->closing = true;
    c->closing_since_us = now;
    log_message(LogLevel::kDebug, "http",
                "closing a connection from " + c->address +
                    (c->phase == Phase::kIdle   ? ": idle since its last response"
                     : c->phase == Phase::kBody ? ": its request body did not arrive in time"
                                                : ": its request headers did not arrive in time"));
    // libsoup reads the end of the stream and lets the connection go.
    g_socket_shutdown(client_stream_socket(c->stream), TRUE, TRUE, nullptr);
  }
  guard->admission_.forget_idle(now);
  return G_SOURCE_CONTINUE;
}

void ConnectionGuard::hang_up(SoupServerMessage *msg, const std::string &response) {
  Connection *c = find(msg);
  GIOStream *stolen = soup_server_message_steal_connection(msg);
  if (!stolen) return;
  if (c) c->deadline_us = 0;  // it is on its way out
  g_pollable_output_stream_write_nonblocking(
      G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stolen)), response.data(),
      response.size(), nullptr, nullptr);
  GSocket *socket = c ? client_stream_socket(c->stream) : nullptr;
  if (socket) g_socket_shutdown(socket, FALSE, TRUE, nullptr);
  auto *h = new HangUp{GRef<GIOStream>::adopt(stolen),
                       socket ? GRef<GSocket>::ref(socket) : GRef<GSocket>(),
                       g_get_monotonic_time() + kHangUpWithinUs};
  g_timeout_add(20, on_hang_up_tick, h);
}

void ConnectionGuard::on_stream_gone(gpointer connection, GObject *) {
  auto *c = static_cast<Connection *>(connection);
  c->guard->forget(c);
}

void ConnectionGuard::forget(Connection *c) {
  if (!c->released) admission_.release(c->address);
  connections_.erase(c->remote.get());
}

}  // namespace gramothi
