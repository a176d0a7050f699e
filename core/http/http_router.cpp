#include "http/http_router.hpp"

#include <sys/ioctl.h>

#include <algorithm>

#include "base/json.hpp"
#include "base/log.hpp"
#include "build_config.h"
#include "http/client_stream.hpp"

struct GramothiHttpExchange {
  gramothi::HttpRouter *router = nullptr;
  gramothi::GRef<SoupServerMessage> msg;
  std::string method;
  std::string path;
  std::map<std::string, std::string> params;
  GHashTable *query = nullptr;  // owned ref, may be null
  GBytes *body = nullptr;       // owned
  bool paused = false;
  bool disconnected = false;
  gulong disconnected_handler = 0;
  int64_t started_us = 0;
  size_t pace = 0;          // bytes per second; 0: unpaced
  size_t first_window = 0;  // bytes in flight at first (exchange_set_first_window); 0: any

  ~GramothiHttpExchange() {
    if (disconnected_handler) g_signal_handler_disconnect(msg.get(), disconnected_handler);
    if (query) g_hash_table_unref(query);
    if (body) g_bytes_unref(body);
  }
};

namespace gramothi {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 1;  // skip the leading '/'
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

void respond_now(SoupServerMessage *msg, unsigned status, const std::string &json) {
  soup_server_message_set_status(msg, status, nullptr);
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Cache-Control", "no-store");
  soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, json.data(),
                                   json.size());
}

// The client's TCP socket under `msg` (borrowed), if the connection is one of ours.
GSocket *client_socket(HttpRouter *router, SoupServerMessage *msg) {
  GramothiClientStream *stream = router->client_stream(msg);
  return stream ? client_stream_socket(stream) : nullptr;
}

}  // namespace

// A response body handed to libsoup a slice at a time (exchange_set_pace). libsoup writes what
// it has and pauses the message when it runs out; each tick appends what the pace allows since
// the start and unpauses it. Ends (and frees itself) when the message is finished or its client
// disconnects, or when the router closes.
//
// The pace counts what the slices cost the link: each goes out as at least one TCP segment with
// kHeaderBytes of TCP/IP headers. Slices are a tenth of a second's worth, but at least
// kMinSliceBytes: at 2 KB/s, 200-byte slices would spend a fifth of the pace on headers.
//
// Or, with a first window (exchange_set_first_window), by what the client acknowledges: the
// body goes to the connection while what the kernel holds unacknowledged (SIOCOUTQ) and what
// libsoup has not written yet stay under a window that starts small and grows by half of what
// was acknowledged, looked at every kWindowTickMs (for at most kMaxWindowed bodies at once, and
// until the client stalls or the body takes too long: then the rest goes at once). TCP's first
// burst (ten segments, 14 KB) overflows the queue of a slow link's last hop (50 kbit/s with a
// 1 s queue holds 6 KB), and the lost tail costs a retransmission timeout, seconds on such a
// link.
struct PacedBody {
  static constexpr int kTickMs = 100, kWindowTickMs = 10;
  static constexpr int64_t kWindowStallUs = 3 * G_USEC_PER_SEC, kWindowMaxUs = 15 * G_USEC_PER_SEC;
  // Window bodies at once at most; more go out the plain way (each polls its socket).
  static constexpr size_t kMaxWindowed = 64;
  static constexpr size_t kMinSliceBytes = 600, kHeaderBytes = 52;
  // The body bytes of one slice, and the ticks between slices, at a pace (wire bytes per second).
  static size_t slice_bytes(size_t pace) { return std::max(kMinSliceBytes, pace * kTickMs / 1000); }
  HttpRouter *router;
  GRef<SoupServerMessage> msg;
  std::string data;
  size_t appended = 0;
  double rate;  // body bytes per second
  int tick_ms;
  int64_t started_us = g_get_monotonic_time();
  guint timer = 0;
  gulong finished_handler = 0, disconnected_handler = 0, wrote_handler = 0;
  // The window mode: the connection's socket (null: paced by rate), the first window, and what
  // libsoup has written of the body.
  GRef<GSocket> socket;
  size_t first_window = 0, written = 0, last_acked = 0;
  int64_t progress_us = started_us;

  PacedBody(HttpRouter *r, SoupServerMessage *m, const void *body, size_t length, size_t pace)
      : router(r),
        msg(GRef<SoupServerMessage>::ref(m)),
        data(static_cast<const char *>(body), length),
        rate(static_cast<double>(pace) * slice_bytes(pace) / (slice_bytes(pace) + kHeaderBytes)),
        // A slice and its headers per tick: the wire carries the pace.
        tick_ms(static_cast<int>(((slice_bytes(pace) + kHeaderBytes) * 1000 + pace - 1) /
                                 std::max<size_t>(1, pace))) {}
  // The window mode.
  PacedBody(HttpRouter *r, SoupServerMessage *m, const void *body, size_t length, GSocket *sock,
            size_t window)
      : router(r),
        msg(GRef<SoupServerMessage>::ref(m)),
        data(static_cast<const char *>(body), length),
        rate(0),
        tick_ms(kWindowTickMs),
        socket(GRef<GSocket>::ref(sock)),
        first_window(window) {}
  ~PacedBody() {
    if (timer) g_source_remove(timer);
    if (finished_handler) g_signal_handler_disconnect(msg.get(), finished_handler);
    if (disconnected_handler) g_signal_handler_disconnect(msg.get(), disconnected_handler);
    if (wrote_handler) g_signal_handler_disconnect(msg.get(), wrote_handler);
  }
  PacedBody(const PacedBody &) = delete;
  PacedBody &operator=(const PacedBody &) = delete;

  void start() {
    router->paced_.insert(this);
    if (socket) router->windowed_++;
    auto end = +[](PacedBody *self) { self->finish(); };
    finished_handler = g_signal_connect_swapped(msg.get(), "finished", G_CALLBACK(end), this);
    disconnected_handler =
        g_signal_connect_swapped(msg.get(), "disconnected", G_CALLBACK(end), this);
    if (socket) {
      auto wrote = +[](SoupServerMessage *, guint chunk, gpointer self) {
        static_cast<PacedBody *>(self)->written += chunk;
      };
      wrote_handler = g_signal_connect(msg.get(), "wrote-body-data", G_CALLBACK(wrote), this);
    }
    feed();
    if (appended < data.size())
      timer = g_timeout_add(
          tick_ms, +[](gpointer self) { return static_cast<PacedBody *>(self)->feed(); }, this);
  }
  // What the window allows appended by now: the bytes the client acknowledged plus the window.
  // A client that acknowledges nothing for kWindowStallUs, or a body still going after
  // kWindowMaxUs, gets the rest at once (as TCP takes it): the window must not keep a timer
  // running for a client that does not read.
  size_t window_allows() {
    int64_t now = g_get_monotonic_time();
    int unacked = 0;  // sent and not acknowledged, or not sent yet (includes the headers)
    if (g_socket_is_closed(socket.get()) ||
        ioctl(g_socket_get_fd(socket.get()), TIOCOUTQ, &unacked) != 0)
      return data.size();
    size_t in_kernel = std::min(written, static_cast<size_t>(std::max(unacked, 0)));
    size_t acked = written - in_kernel;
    if (acked > last_acked) {
      last_acked = acked;
      progress_us = now;
    }
    if (now - progress_us > kWindowStallUs || now - started_us > kWindowMaxUs) return data.size();
    size_t window = first_window + acked / 2;
    size_t in_flight = in_kernel + (appended - written);
    return in_flight >= window ? appended : appended + (window - in_flight);
  }
  // Appends what the pace (or the window) allows by now (a slice at once to begin with).
  gboolean feed() {
    double elapsed_s = (g_get_monotonic_time() - started_us) / 1e6 + tick_ms / 1000.0;
    size_t allowed =
        std::min(data.size(), socket ? window_allows() : static_cast<size_t>(rate * elapsed_s));
    if (allowed > appended) {
      SoupMessageBody *body = soup_server_message_get_response_body(msg.get());
      soup_message_body_append(body, SOUP_MEMORY_COPY, data.data() + appended, allowed - appended);
      appended = allowed;
      if (appended == data.size()) soup_message_body_complete(body);
      soup_server_message_unpause(msg.get());
    }
    if (appended < data.size()) return G_SOURCE_CONTINUE;
    timer = 0;
    return G_SOURCE_REMOVE;
  }
  void finish() {
    router->paced_.erase(this);
    if (socket) router->windowed_--;
    delete this;
  }
};

std::string error_json(const Error &e) {
  return "{\"error\":" + JsonObjectWriter().str("code", e.code).str("message", e.message).finish() +
         "}";
}

HttpRouter::HttpRouter(const ConnectionLimits &limits)
    : server_(GRef<SoupServer>::adopt(static_cast<SoupServer *>(
          g_object_new(SOUP_TYPE_SERVER, "server-header", "gramothi/" GRAMOTHI_VERSION, nullptr)))),
      guard_(std::make_unique<ConnectionGuard>(server_.get(), limits)) {
  soup_server_add_early_handler(server_.get(), nullptr, early_handler, this, nullptr);
  soup_server_add_handler(server_.get(), nullptr, handler, this, nullptr);
  // No permessage-deflate: libsoup 3.2's inflater has no output bound, so the 1 MiB frame cap
  // would apply to the compressed bytes (one frame could inflate to a gigabyte). The class
  // socket's small JSON messages do not need it.
  soup_server_remove_websocket_extension(server_.get(), SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
}

HttpRouter::~HttpRouter() {
  close();
}

bool HttpRouter::add_route(const std::string &method, const std::string &pattern, size_t max_body,
                           HttpHandler handler, const void *owner, std::string *why) {
  if (pattern.empty() || pattern[0] != '/' || pattern.find("//") != std::string::npos) {
    *why = "pattern '" + pattern + "' must be an absolute path";
    return false;
  }
  Route r{method, split_path(pattern), max_body, std::move(handler), owner};
  for (const auto &seg : r.segments) {
    bool placeholder = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
    if (!placeholder &&
        (seg.find('{') != std::string::npos || seg.find('}') != std::string::npos)) {
      *why = "pattern '" + pattern + "' has a malformed placeholder";
      return false;
    }
  }
  for (const auto &existing : routes_) {
    if (existing.method == r.method && existing.segments == r.segments) {
      *why = method + " " + pattern + " is already registered";
      return false;
    }
  }
  routes_.push_back(std::move(r));
  return true;
}

void HttpRouter::remove_routes(const void *owner) {
  std::erase_if(routes_, [owner](const Route &r) { return r.owner == owner; });
}

HttpRouter::Match HttpRouter::match(const char *method, const char *path) const {
  Match m;
  auto segs = split_path(path);
  for (const auto &r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; i++) {
      const std::string &want = r.segments[i];
      if (want.size() > 2 && want.front() == '{') {
        g_autofree char *decoded = g_uri_unescape_string(segs[i].c_str(), "/");
        ok = decoded && *decoded;
        if (ok) params[want.substr(1, want.size() - 2)] = decoded;
      } else {
        ok = want == segs[i];
      }
    }
    if (!ok) continue;
    if (r.method == method) {
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    m.path_known = true;
    m.allow += (m.allow.empty() ? "" : ", ") + r.method;
  }
  return m;
}

void HttpRouter::early_handler(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                               gpointer self) {
  auto *router = static_cast<HttpRouter *>(self);
  Match m = router->match(soup_server_message_get_method(msg), path);
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  SoupEncoding enc = soup_message_headers_get_encoding(h);
  goffset length =
      enc == SOUP_ENCODING_CONTENT_LENGTH ? soup_message_headers_get_content_length(h) : 0;
  size_t limit = m.route ? m.route->max_body : 0;
  if (enc == SOUP_ENCODING_CHUNKED) {
    router->refuse_early(msg, 411,
                         {ErrorKind::kInvalid, "length_required",
                          "Send the request body with a Content-Length header."},
                         -1, false);
  } else if (static_cast<uint64_t>(length) > limit) {
    std::string msg_text = limit == 0 ? "This endpoint takes no request body."
                                      : "The request body is larger than the " +
                                            std::to_string(limit) + " bytes this endpoint accepts.";
    router->refuse_early(msg, 413, {ErrorKind::kTooLarge, "body_too_large", msg_text}, length,
                         false);
  } else if (m.route && m.route->max_body > kAuthenticatedBodyOver && router->token_check_) {
    if (auto refused = router->token_check_(soup_message_headers_get_one(h, "Authorization")))
      router->refuse_early(msg, 401, *refused, length, true);
    else
      router->guard_->untimed_body(msg);  // a teacher's upload over 2G may take long
  }
}

void HttpRouter::refuse_early(SoupServerMessage *msg, unsigned status, const Error &error,
                              goffset body_length, bool challenge) {
  // libsoup 3.2 reads a request's whole body even when it is answered before it. A small one is
  // read and dropped, and the connection lives on; a larger one, or one of unknown length, is
  // never read: the answer goes out at once and the connection is closed.
  if (body_length < 0 || body_length > static_cast<goffset>(kAuthenticatedBodyOver)) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (challenge) headers.emplace_back("WWW-Authenticate", "Bearer");
    guard_->hang_up(msg, closing_response(status, error_json(error), headers));
    return;
  }
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  respond_now(msg, status, error_json(error));
  if (challenge)
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                 "Bearer");
}

void HttpRouter::handler(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *query,
                         gpointer self) {
  auto *router = static_cast<HttpRouter *>(self);
  const char *method = soup_server_message_get_method(msg);
  if (router->draining_) {
    respond_now(msg, 503,
                error_json({ErrorKind::kUnavailable, "shutting_down", "The server is stopping."}));
    return;
  }
  Match m = router->match(method, path);
  if (!m.route) {
    if (m.path_known) {
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                   m.allow.c_str());
      respond_now(msg, 405,
                  error_json({ErrorKind::kInvalid, "method_not_allowed",
                              std::string(method) + " is not allowed here; use " + m.allow + "."}));
    } else {
      respond_now(msg, 404, error_json({ErrorKind::kNotFound, "not_found", "No such endpoint."}));
    }
    return;
  }

  auto *ex = new GramothiHttpExchange();
  ex->router = router;
  ex->msg = GRef<SoupServerMessage>::ref(msg);
  ex->method = method;
  ex->path = path;
  ex->params = std::move(m.params);
  ex->query = query ? g_hash_table_ref(query) : nullptr;
  ex->body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
  ex->started_us = g_get_monotonic_time();
  ex->disconnected_handler = g_signal_connect_swapped(
      msg, "disconnected", G_CALLBACK(+[](GramothiHttpExchange *e) { e->disconnected = true; }),
      ex);
  router->pending_.insert(ex);

  try {
    m.route->handler(ex);
  } catch (const std::exception &e) {
    log_message(LogLevel::kError, "http", std::string("handler threw: ") + e.what());
    if (router->pending_.count(ex))
      exchange_respond_error(ex, {ErrorKind::kInternal, "internal_error", "Internal error."});
  }
  if (router->pending_.count(ex) && !ex->paused) {
    ex->paused = true;
    soup_server_message_pause(msg);
  }
}

Result<int> HttpRouter::listen(const std::string &address, int port) {
  return guard_->listen(address, port);
}

void HttpRouter::close() {
  if (closed_) return;
  closed_ = draining_ = true;
  guard_->stop_accepting();
  soup_server_disconnect(server_.get());
  for (auto *ex : pending_)
    delete ex;
  pending_.clear();
  for (auto *p : std::set<PacedBody *>(paced_))
    delete p;
  paced_.clear();
  windowed_ = 0;
  routes_.clear();
}

const char *exchange_method(GramothiHttpExchange *ex) {
  return ex->method.c_str();
}
const char *exchange_path(GramothiHttpExchange *ex) {
  return ex->path.c_str();
}

const char *exchange_param(GramothiHttpExchange *ex, const char *name) {
  auto it = ex->params.find(name ? name : "");
  return it == ex->params.end() ? nullptr : it->second.c_str();
}

const char *exchange_query(GramothiHttpExchange *ex, const char *name) {
  if (!ex->query || !name) return nullptr;
  return static_cast<const char *>(g_hash_table_lookup(ex->query, name));
}

const char *exchange_header(GramothiHttpExchange *ex, const char *name) {
  if (!name) return nullptr;
  return soup_message_headers_get_one(soup_server_message_get_request_headers(ex->msg.get()), name);
}

std::string_view exchange_body(GramothiHttpExchange *ex) {
  gsize len = 0;
  const char *data = ex->body ? static_cast<const char *>(g_bytes_get_data(ex->body, &len)) : "";
  return {data ? data : "", len};
}

void exchange_add_header(GramothiHttpExchange *ex, const char *name, const char *value) {
  if (!name || !value) return;
  soup_message_headers_append(soup_server_message_get_response_headers(ex->msg.get()), name, value);
}

void exchange_set_pace(GramothiHttpExchange *ex, size_t bytes_per_s) {
  ex->pace = bytes_per_s;
}

void exchange_set_first_window(GramothiHttpExchange *ex, size_t bytes) {
  ex->first_window = bytes;
}

void exchange_respond(GramothiHttpExchange *ex, unsigned status, const char *content_type,
                      const void *body, size_t length) {
  HttpRouter *router = ex->router;
  if (!router->pending_.erase(ex)) {
    log_message(LogLevel::kError, "http", "an exchange was answered twice; ignoring the second");
    return;
  }
  SoupServerMessage *msg = ex->msg.get();
  if (!ex->disconnected) {
    if (status < 100 || status > 599) status = 500;
    soup_server_message_set_status(msg, status, nullptr);
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    if (!soup_message_headers_get_one(h, "Cache-Control"))
      soup_message_headers_replace(h, "Cache-Control", "no-store");
    soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
    const char *type = content_type ? content_type : "application/octet-stream";
    // A body that goes out at a pace or by a first window: the length is known up front and the
    // body follows. Not accumulated, so that libsoup answers no Range request from the part it
    // has so far.
    PacedBody *paced = nullptr;
    if (ex->pace && length > PacedBody::slice_bytes(ex->pace)) {
      paced = new PacedBody(router, msg, body, length, ex->pace);
    } else if (ex->first_window && length > ex->first_window &&
               router->windowed_ < PacedBody::kMaxWindowed) {
      if (GSocket *sock = client_socket(router, msg))
        paced = new PacedBody(router, msg, body, length, sock, ex->first_window);
    }
    if (paced) {
      soup_message_headers_replace(h, "Content-Type", type);
      soup_message_headers_set_content_length(h, static_cast<goffset>(length));
      soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
      if (ex->paused) soup_server_message_unpause(msg);
      paced->start();
    } else {
      soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, static_cast<const char *>(body),
                                       length);
      if (ex->paused) soup_server_message_unpause(msg);
    }
  }
  if (log_level() <= LogLevel::kDebug) {
    log_message(LogLevel::kDebug, "http",
                ex->method + " " + ex->path + " " + std::to_string(status) + " " +
                    std::to_string((g_get_monotonic_time() - ex->started_us) / 1000) + " ms" +
                    (ex->disconnected ? " (client gone)" : ""));
  }
  delete ex;
}

void exchange_respond_json(GramothiHttpExchange *ex, unsigned status, const std::string &json) {
  exchange_respond(ex, status, "application/json", json.data(), json.size());
}

void exchange_respond_error(GramothiHttpExchange *ex, const Error &error) {
  exchange_respond_json(ex, static_cast<unsigned>(http_status_for(error.kind)), error_json(error));
}

}  // namespace gramothi
