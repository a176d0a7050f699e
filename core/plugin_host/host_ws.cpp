// WebSocket for plugins: routes "/prefix/{name}" on core's SoupServer, and the connections they
// accept. A GramothiWsConnection is created when the handshake completes and deleted when the
// connection closes (after the plugin's `closed`) or when its plugin unloads (without calling
// the plugin back); the route tracks the open ones.
//
// The host bounds what a client makes the server hold ([limits] in the config):
//   - What waits to be sent: the connection's stream queues it ([limits] ws_max_queued_bytes).
//     A client that does not read what it is sent fills it; the host then drops what is queued
//     and closes with 1008 "send_queue_full".
//   - What it reads (the stream bounds it, see client_stream.hpp): at most 64 KiB per main-loop
//     iteration, so that a flood cannot starve the other clients; [limits]
//     ws_max_read_bytes_per_second of everything, pings included (bursts of kMinReadBurst, or a
//     second's worth if more), closed with 1008 "rate_limited" beyond; one message, all its
//     fragments, at most kHardMessageCap plus kFrameAllowance, closed with 1009
//     "message_too_big" beyond (libsoup 3.2 caps each frame, not a message split into
//     fragments). Pongs do not count as being heard from while a message is unfinished: a
//     client cannot hold half a message for longer than ws_idle_timeout_s.
//   - Silence: libsoup pings every ws_idle_timeout_s / 3 (at most every 20 s); a client from
//     which nothing (no message, no pong) arrived for ws_idle_timeout_s is closed with 4408
//     "idle_timeout".
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "base/gref.hpp"
#include "base/lifetime.hpp"
#include "http/http_router.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

struct GramothiWsConnection {
  gramothi::WsRoute *route = nullptr;
  gramothi::GRef<SoupWebsocketConnection> conn;
  gramothi::GRef<GramothiClientStream> stream;  // null when the router did not accept it
  std::map<std::string, std::string> params, query, headers;
  std::string peer;  // the client's address, for the log
  void *data = nullptr;
  gulong message_handler = 0, closed_handler = 0, pong_handler = 0;
  guint idle_timer = 0;
  guint nudge_timer = 0;  // a ping after a lone message (client_stream_nudge)
  int64_t heard_us = 0;   // when the client was last heard from
  bool closed = false;
  gramothi::Lifetime lifetime;
};

namespace gramothi {

namespace {

constexpr size_t kHardMessageCap = 1024 * 1024;
// Frame headers of the fragments of one message.
constexpr size_t kFrameAllowance = 64 * 1024;
constexpr int64_t kMinReadBurst = 2 * 1024 * 1024;  // two messages at the hard cap
// Anything read without a whole message: the stream's backstop (see ClientReadLimits).
constexpr int64_t kUnfinishedBackstop = 8 * 1024 * 1024;
constexpr uint16_t kCloseIdle = 4408;
constexpr guint kNudgeDelayMs = 30;

const Config &config_of(GramothiWsConnection *c) {
  return *c->route->ctx->services->config;
}

// Forgets the connection: no callback reaches it (or the plugin) any more.
void release(GramothiWsConnection *c) {
  c->closed = true;
  c->lifetime.end();
  if (c->idle_timer) g_source_remove(c->idle_timer);
  if (c->nudge_timer) g_source_remove(c->nudge_timer);
  for (gulong id : {c->message_handler, c->closed_handler, c->pong_handler})
    g_signal_handler_disconnect(c->conn.get(), id);
  delete c;
}

bool is_open(GramothiWsConnection *c) {
  return !c->closed &&
         soup_websocket_connection_get_state(c->conn.get()) == SOUP_WEBSOCKET_STATE_OPEN;
}

// The client does not read what it is sent: drop it and close.
void close_unread(GramothiWsConnection *c) {
  if (!is_open(c)) return;
  size_t queued = client_stream_queued(c->stream.get());
  client_stream_drop_queued(c->stream.get());
  plugin_log(c->route->ctx, LogLevel::kWarning,
             "closing the WebSocket of " + c->peer +
                 " with 1008 send_queue_full: it does not read what it is sent (" +
                 std::to_string(queued) + " bytes waiting)");
  soup_websocket_connection_close(c->conn.get(), SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                  "send_queue_full");
}

// The client sent more than it may (see the top of this file): drop what waits and close.
void close_over_read_limit(GramothiWsConnection *c, uint16_t code, const char *reason) {
  if (!is_open(c)) return;  // closing already: the stream ends its input now
  client_stream_drop_queued(c->stream.get());
  plugin_log(c->route->ctx, LogLevel::kWarning,
             "closing the WebSocket of " + c->peer + " with " + std::to_string(code) + " " +
                 reason +
                 (code == SOUP_WEBSOCKET_CLOSE_TOO_BIG
                      ? ": a message over " + std::to_string(kHardMessageCap) + " bytes"
                      : ": it sent more than " +
                            std::to_string(config_of(c).ws_max_read_bytes_per_second) +
                            " bytes a second"));
  soup_websocket_connection_close(c->conn.get(), code, reason);
}

gboolean on_idle_check(gpointer data) {
  auto *c = static_cast<GramothiWsConnection *>(data);
  int64_t silent_us = g_get_monotonic_time() - c->heard_us;
  if (silent_us < config_of(c).ws_idle_timeout_s * G_USEC_PER_SEC) return G_SOURCE_CONTINUE;
  c->idle_timer = 0;
  if (is_open(c)) {
    plugin_log(c->route->ctx, LogLevel::kDebug,
               "closing the WebSocket of " + c->peer +
                   " with 4408 idle_timeout: nothing heard for " +
                   std::to_string(silent_us / G_USEC_PER_SEC) + " s");
    soup_websocket_connection_close(c->conn.get(), kCloseIdle, "idle_timeout");
  }
  return G_SOURCE_REMOVE;
}

void on_ws_pong(SoupWebsocketConnection *, GBytes *, gpointer data) {
  auto *c = static_cast<GramothiWsConnection *>(data);
  if (c->stream && client_stream_message_unfinished(c->stream.get())) return;
  c->heard_us = g_get_monotonic_time();
}

void on_ws_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer data) {
  auto *c = static_cast<GramothiWsConnection *>(data);
  if (c->closed) return;
  c->heard_us = g_get_monotonic_time();
  if (c->stream) client_stream_message_done(c->stream.get());
  gsize len = 0;
  const char *bytes = static_cast<const char *>(g_bytes_get_data(message, &len));
  // NUL-terminated copy: plugins may treat text as a C string.
  std::string copy(bytes ? bytes : "", len);
  c->route->handlers.message(c, copy.c_str(), len, type == SOUP_WEBSOCKET_DATA_TEXT,
                             c->route->user_data);
}

void on_ws_closed(SoupWebsocketConnection *, gpointer data) {
  auto *c = static_cast<GramothiWsConnection *>(data);
  if (c->closed) return;
  c->closed = true;
  WsRoute *route = c->route;
  route->connections.erase(c);
  if (route->handlers.closed) route->handlers.closed(c, route->user_data);
  release(c);
}

void on_ws_open(SoupServer *, SoupServerMessage *msg, const char *path,
                SoupWebsocketConnection *connection, gpointer data) {
  auto *route = static_cast<WsRoute *>(data);
  std::string rest = path ? path : "";
  rest = rest.size() > route->prefix.size() + 1 ? rest.substr(route->prefix.size() + 1) : "";
  if (rest.empty() || rest.find('/') != std::string::npos) {
    soup_websocket_connection_close(connection, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                    "unknown WebSocket path");
    return;
  }
  auto *c = new GramothiWsConnection();
  c->route = route;
  c->conn = GRef<SoupWebsocketConnection>::ref(connection);
  g_autofree char *decoded = g_uri_unescape_string(rest.c_str(), nullptr);
  c->params[route->param] = decoded ? decoded : "";
  GUri *uri = soup_server_message_get_uri(msg);
  if (const char *q = g_uri_get_query(uri)) {
    GHashTable *form = soup_form_decode(q);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, form);
    while (g_hash_table_iter_next(&it, &k, &v))
      c->query[static_cast<char *>(k)] = static_cast<char *>(v);
    g_hash_table_unref(form);
  }
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  for (const char *name : {"Authorization", "Origin", "User-Agent", "X-Forwarded-For"})
    if (const char *v = soup_message_headers_get_one(h, name)) c->headers[name] = v;
  // A list header may come split over several lines: all of them, joined.
  if (const char *v = soup_message_headers_get_list(h, "Sec-WebSocket-Protocol"))
    c->headers["Sec-WebSocket-Protocol"] = v;
  GSocketAddress *remote = soup_server_message_get_remote_address(msg);
  if (remote && G_IS_INET_SOCKET_ADDRESS(remote)) {
    g_autofree char *ip =
        g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
    c->peer = ip;
  }

  const Config &config = config_of(c);
  c->stream = GRef<GramothiClientStream>::ref(route->ctx->services->router->client_stream(msg));
  if (c->stream) {
    // The class socket is a thin stream of small messages that should arrive at once: no
    // Nagle delay (a nudge must not wait for the acknowledgement of what it follows), and
    // retransmission timeouts that do not double while only a few segments are in flight.
    if (GSocket *sock = client_stream_socket(c->stream.get())) {
      g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
      g_socket_set_option(sock, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1, nullptr);
    }
    client_stream_queue_writes(c->stream.get(), static_cast<size_t>(config.ws_max_queued_bytes),
                               [c, alive = c->lifetime.watch()] {
                                 if (alive.alive()) close_unread(c);
                               });
    int64_t rate = config.ws_max_read_bytes_per_second, burst = std::max(kMinReadBurst, rate);
    client_stream_limit_reads(
        c->stream.get(),
        {kHardMessageCap + kFrameAllowance,
         static_cast<size_t>(std::max(kUnfinishedBackstop, burst)), rate, burst},
        [c, alive = c->lifetime.watch()](uint16_t code, const char *reason) {
          if (alive.alive()) close_over_read_limit(c, code, reason);
        });
  }
  soup_websocket_connection_set_max_incoming_payload_size(connection, kHardMessageCap);
  soup_websocket_connection_set_keepalive_interval(
      connection, static_cast<guint>(std::clamp(config.ws_idle_timeout_s / 3, 1, 20)));
  c->heard_us = g_get_monotonic_time();
  c->idle_timer = g_timeout_add_seconds(
      static_cast<guint>(std::max(1, config.ws_idle_timeout_s / 4)), on_idle_check, c);
  c->message_handler = g_signal_connect(connection, "message", G_CALLBACK(on_ws_message), c);
  c->closed_handler = g_signal_connect(connection, "closed", G_CALLBACK(on_ws_closed), c);
  c->pong_handler = g_signal_connect(connection, "pong", G_CALLBACK(on_ws_pong), c);
  route->connections.insert(c);
  if (route->handlers.opened) route->handlers.opened(c, route->user_data);
}

const char *lookup(const std::map<std::string, std::string> &m, const char *name) {
  if (!name) return nullptr;
  auto it = m.find(name);
  return it == m.end() ? nullptr : it->second.c_str();
}

}  // namespace

int32_t host_ws_route(GramothiPluginContext *ctx, const char *pattern, size_t max_message,
                      const GramothiWsHandlers *handlers, void *user_data) {
  auto refuse = [ctx](GramothiStatus status, const std::string &why) {
    plugin_log(ctx, LogLevel::kError, "cannot add WebSocket route: " + why);
    return status;
  };
  if (!pattern || !handlers || !handlers->message)
    return refuse(GRAMOTHI_E_INVALID, "a route needs a pattern and a message handler");
  std::string p = pattern;
  size_t slash = p.rfind('/');
  if (p.empty() || p[0] != '/' || slash == 0 || slash == std::string::npos ||
      p.size() < slash + 4 || p[slash + 1] != '{' || p.back() != '}')
    return refuse(GRAMOTHI_E_INVALID, "WebSocket pattern '" + p + "' must be /path/{name}");
  auto route = std::make_unique<WsRoute>();
  route->ctx = ctx;
  route->prefix = p.substr(0, slash);
  route->param = p.substr(slash + 2, p.size() - slash - 3);
  route->max_message = max_message;
  route->handlers = *handlers;
  route->user_data = user_data;
  for (const auto &r : ctx->ws_routes)
    if (r->prefix == route->prefix)
      return refuse(GRAMOTHI_E_CONFLICT, "WebSocket route '" + p + "' exists already");
  // The one subprotocol: a client that asks for it (with others, such as a browser's token in
  // "gramothi.bearer.<jwt>", which the plugin reads off the request) gets it back; a client that
  // asks for none gets none.
  static const char *const kProtocols[] = {"gramothi", nullptr};
  soup_server_add_websocket_handler(ctx->services->router->server(), route->prefix.c_str(), nullptr,
                                    const_cast<char **>(kProtocols), on_ws_open, route.get(),
                                    nullptr);
  ctx->ws_routes.push_back(std::move(route));
  return GRAMOTHI_OK;
}

void ws_remove_routes(GramothiPluginContext *ctx) {
  for (auto &r : ctx->ws_routes) {
    soup_server_remove_handler(ctx->services->router->server(), r->prefix.c_str());
    // Close what is still open without calling the (unloaded) plugin back.
    for (GramothiWsConnection *c : std::set<GramothiWsConnection *>(r->connections)) {
      if (is_open(c))
        soup_websocket_connection_close(c->conn.get(), SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                        "server shutting down");
      release(c);
    }
  }
  ctx->ws_routes.clear();
}

const char *host_ws_param(GramothiWsConnection *c, const char *name) {
  return c ? lookup(c->params, name) : nullptr;
}
const char *host_ws_query(GramothiWsConnection *c, const char *name) {
  return c ? lookup(c->query, name) : nullptr;
}
const char *host_ws_header(GramothiWsConnection *c, const char *name) {
  if (!c || !name) return nullptr;
  for (const auto &[k, v] : c->headers)
    if (g_ascii_strcasecmp(k.c_str(), name) == 0) return v.c_str();
  return nullptr;
}
int32_t host_ws_send(GramothiWsConnection *c, const char *text) {
  if (!c || !text || !is_open(c)) return GRAMOTHI_E_CONFLICT;
  // A text frame must be UTF-8 (RFC 6455 §5.6): libsoup refuses anything else with a critical.
  if (!g_utf8_validate(text, -1, nullptr)) return GRAMOTHI_E_INVALID;
  soup_websocket_connection_send_text(c->conn.get(), text);
  if (c->stream && client_stream_overflowed(c->stream.get())) {
    close_unread(c);
    return GRAMOTHI_OK;
  }
  // A segment after it (a few segments' time later, so it is one of its own) makes a lost
  // message cost one round trip, not a timeout (client_stream_nudge). One per burst.
  if (c->stream && !c->nudge_timer)
    c->nudge_timer = g_timeout_add(
        kNudgeDelayMs,
        +[](gpointer data) {
          auto *conn = static_cast<GramothiWsConnection *>(data);
          conn->nudge_timer = 0;
          if (is_open(conn)) client_stream_nudge(conn->stream.get());
          return G_SOURCE_REMOVE;
        },
        c);
  return GRAMOTHI_OK;
}
void host_ws_close(GramothiWsConnection *c, uint16_t code, const char *reason) {
  if (!c || !is_open(c)) return;
  soup_websocket_connection_close(c->conn.get(), code, reason);
}
void host_ws_set_data(GramothiWsConnection *c, void *data) {
  if (c) c->data = data;
}
void *host_ws_get_data(GramothiWsConnection *c) {
  return c ? c->data : nullptr;
}

}  // namespace gramothi
