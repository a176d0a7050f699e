#include "http/client_stream.hpp"

#include <libsoup/soup.h>

#include <algorithm>
#include <deque>
#include <string>

namespace {

constexpr guint kCloseFlushMs = 2000;

struct Chunk {
  std::string data;
  size_t sent = 0;
  bool started = false;  // part of it is on the wire: never dropped, or the framing would break
};

// The output stream's state (C++ members of a C type).
struct OutputQueue {
  GOutputStream *base = nullptr;  // the socket's output stream (a reference)
  bool queueing = false;
  size_t limit = 0;
  std::deque<Chunk> chunks;
  size_t queued = 0;  // unsent bytes in `chunks`
  bool overflowed = false;
  std::function<void()> on_overflow;
  GSource *flush = nullptr;  // waits for the socket to take more
  GError *error = nullptr;   // a failed write: every later write fails with it
  std::function<void()> on_drained;
};

// The client's frames as they pass (RFC 6455 headers; payloads skipped): what the message
// libsoup is assembling holds so far.
struct FrameScan {
  uint8_t head[14] = {};  // the current frame's header, as far as read
  size_t have = 0;
  uint64_t left = 0;     // payload bytes of the current frame still to come
  uint64_t message = 0;  // bytes (headers and payloads) of the unfinished data message
  bool open = false;     // a data message has begun and not ended
  size_t frames = 0;     // frames begun (headers read) in this dispatch
};

// The input's state in WebSocket mode (see client_stream_limit_reads).
struct ReadGuard {
  gramothi::ClientReadLimits limits;
  std::function<void(uint16_t, const char *)> on_exceeded;
  size_t budget = 0;  // left to read in this dispatch of libsoup's input source
  double tokens = 0;  // the rate's bucket, in bytes
  int64_t refilled_us = 0;
  FrameScan scan;
  size_t unfinished = 0;         // everything read since the last whole message (the backstop)
  uint16_t code = 0;             // a limit was passed: reading stopped, the close code ...
  const char *reason = nullptr;  // ... and reason (static strings)
  bool ended = false;            // it was reported: reads see the end of the stream
};

}  // namespace

// GramothiQueuedOutput and GramothiClientInput: the client stream's two sides (see
// client_stream.hpp).
G_BEGIN_DECLS
G_DECLARE_FINAL_TYPE(GramothiQueuedOutput, gramothi_queued_output, GRAMOTHI, QUEUED_OUTPUT,
                     GOutputStream)
G_DECLARE_FINAL_TYPE(GramothiClientInput, gramothi_client_input, GRAMOTHI, CLIENT_INPUT,
                     GInputStream)
G_END_DECLS

struct _GramothiQueuedOutput {
  GOutputStream parent_instance;
  OutputQueue *q;
};

struct _GramothiClientInput {
  GInputStream parent_instance;
  GInputStream *base;  // the socket's input stream (a reference)
  bool between_requests;
  bool end_after_line_feed;
  ReadGuard *ws;  // WebSocket mode, else null
};

struct _GramothiClientStream {
  GIOStream parent_instance;
  GSocketConnection *connection;
  GramothiClientInput *input;
  GramothiQueuedOutput *output;
};

static void gramothi_queued_output_pollable_init(GPollableOutputStreamInterface *iface);
static void gramothi_client_input_pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(GramothiQueuedOutput, gramothi_queued_output, G_TYPE_OUTPUT_STREAM,
                              G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                    gramothi_queued_output_pollable_init))
G_DEFINE_FINAL_TYPE_WITH_CODE(GramothiClientInput, gramothi_client_input, G_TYPE_INPUT_STREAM,
                              G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM,
                                                    gramothi_client_input_pollable_init))
G_DEFINE_FINAL_TYPE(GramothiClientStream, gramothi_client_stream, G_TYPE_IO_STREAM)

namespace {

void end_waiting(OutputQueue &q) {
  if (!q.on_drained) return;
  auto drained = std::move(q.on_drained);
  q.on_drained = nullptr;
  drained();
}

void stop_flush(OutputQueue &q) {
  if (!q.flush) return;
  g_source_destroy(q.flush);
  g_clear_pointer(&q.flush, g_source_unref);
}

void fail(OutputQueue &q, GError *error) {
  if (q.error)
    g_error_free(error);
  else
    q.error = error;
  q.chunks.clear();
  q.queued = 0;
  end_waiting(q);
}

// Writes what the socket takes now: the bytes written (0 if none), or -1 once it failed.
gssize write_now(OutputQueue &q, const char *data, size_t length) {
  GError *error = nullptr;
  gssize n = g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(q.base), data,
                                                        length, nullptr, &error);
  if (n >= 0) return n;
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
    g_error_free(error);
    return 0;
  }
  fail(q, error);
  return -1;
}

gboolean on_socket_writable(GObject *, gpointer data) {
  OutputQueue &q = *GRAMOTHI_QUEUED_OUTPUT(data)->q;
  while (!q.chunks.empty()) {
    Chunk &c = q.chunks.front();
    gssize n = write_now(q, c.data.data() + c.sent, c.data.size() - c.sent);
    if (n < 0) break;  // the queue is gone with the connection
    if (n == 0) return G_SOURCE_CONTINUE;
    c.sent += static_cast<size_t>(n);
    c.started = true;
    q.queued -= static_cast<size_t>(n);
    if (c.sent == c.data.size()) q.chunks.pop_front();
  }
  g_clear_pointer(&q.flush, g_source_unref);
  end_waiting(q);
  return G_SOURCE_REMOVE;
}

void start_flush(GramothiQueuedOutput *self) {
  OutputQueue &q = *self->q;
  if (q.flush) return;
  q.flush = g_pollable_output_stream_create_source(G_POLLABLE_OUTPUT_STREAM(q.base), nullptr);
  g_source_set_callback(q.flush, G_SOURCE_FUNC(on_socket_writable), self, nullptr);
  g_source_attach(q.flush, g_main_context_get_thread_default());
}

gboolean report_overflow(gpointer data) {
  OutputQueue &q = *GRAMOTHI_QUEUED_OUTPUT(data)->q;
  if (q.overflowed && q.on_overflow) {
    auto report = q.on_overflow;
    report();
  }
  return G_SOURCE_REMOVE;
}

gssize queue_write(GramothiQueuedOutput *self, const void *buffer, gsize count, GError **error) {
  OutputQueue &q = *self->q;
  if (q.error) {
    g_propagate_error(error, g_error_copy(q.error));
    return -1;
  }
  if (q.overflowed || count == 0) return static_cast<gssize>(count);  // dropped
  const char *data = static_cast<const char *>(buffer);
  size_t written = 0;
  if (q.chunks.empty()) {
    gssize n = write_now(q, data, count);
    if (n < 0) {
      g_propagate_error(error, g_error_copy(q.error));
      return -1;
    }
    written = static_cast<size_t>(n);
  }
  if (written < count) {
    q.chunks.push_back({std::string(data + written, count - written), 0, written > 0});
    q.queued += count - written;
    start_flush(self);
    if (q.queued > q.limit) {
      q.overflowed = true;
      g_idle_add_full(G_PRIORITY_DEFAULT, report_overflow, g_object_ref(self), g_object_unref);
    }
  }
  return static_cast<gssize>(count);
}

gssize output_write(GOutputStream *stream, const void *buffer, gsize count,
                    GCancellable *cancellable, GError **error) {
  auto *self = GRAMOTHI_QUEUED_OUTPUT(stream);
  if (self->q->queueing) return queue_write(self, buffer, count, error);
  return g_output_stream_write(self->q->base, buffer, count, cancellable, error);
}

gboolean output_close(GOutputStream *stream, GCancellable *, GError **) {
  OutputQueue &q = *GRAMOTHI_QUEUED_OUTPUT(stream)->q;
  stop_flush(q);
  q.chunks.clear();
  q.queued = 0;
  end_waiting(q);
  return TRUE;
}

gboolean output_can_poll(GPollableOutputStream *) {
  return TRUE;
}

gboolean output_is_writable(GPollableOutputStream *stream) {
  OutputQueue &q = *GRAMOTHI_QUEUED_OUTPUT(stream)->q;
  return q.queueing || g_pollable_output_stream_is_writable(G_POLLABLE_OUTPUT_STREAM(q.base));
}

GSource *output_create_source(GPollableOutputStream *stream, GCancellable *cancellable) {
  OutputQueue &q = *GRAMOTHI_QUEUED_OUTPUT(stream)->q;
  // Queueing, the stream is always writable: a source that is ready at once.
  GSource *child = q.queueing ? g_timeout_source_new(0)
                              : g_pollable_output_stream_create_source(
                                    G_POLLABLE_OUTPUT_STREAM(q.base), nullptr);
  GSource *source = g_pollable_source_new_full(stream, child, cancellable);
  g_source_unref(child);
  return source;
}

gssize output_write_nonblocking(GPollableOutputStream *stream, const void *buffer, gsize count,
                                GError **error) {
  auto *self = GRAMOTHI_QUEUED_OUTPUT(stream);
  if (self->q->queueing) return queue_write(self, buffer, count, error);
  return g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(self->q->base), buffer,
                                                    count, nullptr, error);
}

// ---- the input ----

// libsoup 3.2 never releases a kept-alive connection whose client closes it between two
// requests (fixed in libsoup 3.3, commit d20c6601): the end of the stream, read before any byte
// of a next request, leaves the connection stuck, its socket open, for good. So the end read
// between requests comes after one line feed: libsoup takes that as a malformed request, answers
// it 400 (to a client that is gone) and then lets the connection go. A read error there (the
// client reset the connection: ECONNRESET) is the same end, and is treated alike; otherwise
// libsoup 3.2 keeps that connection too, and its slot with it.
gssize after_read(GramothiClientInput *self, gssize n, void *buffer, gsize count, GError **error) {
  if (n > 0 || count == 0) return n;
  if (n < 0) {
    bool would_block =
        error && *error && g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    if (would_block || !self->between_requests || self->end_after_line_feed) return n;
    g_clear_error(error);
  }
  if (self->end_after_line_feed) return 0;
  if (!self->between_requests) return 0;
  self->end_after_line_feed = true;
  static_cast<char *>(buffer)[0] = '\n';
  return 1;
}

gssize input_read(GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                  GError **error) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  if (self->end_after_line_feed) return 0;
  return after_read(self, g_input_stream_read(self->base, buffer, count, cancellable, error),
                    buffer, count, error);
}

gboolean input_close(GInputStream *, GCancellable *, GError **) {
  return TRUE;  // the client stream closes the socket
}

gboolean input_can_poll(GPollableInputStream *) {
  return TRUE;
}

gboolean input_is_readable(GPollableInputStream *stream) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  return self->end_after_line_feed ||
         g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(self->base));
}

GSource *input_create_source(GPollableInputStream *stream, GCancellable *cancellable) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  GSource *child = self->end_after_line_feed ? g_timeout_source_new(0)
                                             : g_pollable_input_stream_create_source(
                                                   G_POLLABLE_INPUT_STREAM(self->base), nullptr);
  GSource *source = g_pollable_source_new_full(stream, child, cancellable);
  g_source_unref(child);
  return source;
}

gssize input_read_nonblocking(GPollableInputStream *stream, void *buffer, gsize count,
                              GError **error) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  if (self->end_after_line_feed) return 0;
  return after_read(self,
                    g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(self->base),
                                                             buffer, count, nullptr, error),
                    buffer, count, error);
}

// ---- the input in WebSocket mode ----
//
// Kept apart from the HTTP-side reads above: once client_stream_limit_reads() was called, the
// pollable interface goes through ws_* below, never through after_read (a WebSocket has no
// "between requests").

// Per dispatch of libsoup's input source: bytes, and frames (each ping costs libsoup a pong).
constexpr size_t kReadBudget = 64 * 1024;
constexpr size_t kFrameBudget = 256;

gboolean report_exceeded(gpointer data) {
  ReadGuard &g = *GRAMOTHI_CLIENT_INPUT(data)->ws;
  if (auto report = std::move(g.on_exceeded)) {
    g.on_exceeded = nullptr;
    report(g.code, g.reason);
  }
  g.ended = true;
  return G_SOURCE_REMOVE;
}

// Stops reading and reports it before libsoup's input source runs again (G_PRIORITY_HIGH).
void exceed(GramothiClientInput *self, uint16_t code, const char *reason) {
  ReadGuard &g = *self->ws;
  if (g.code) return;
  g.code = code;
  g.reason = reason;
  g_idle_add_full(G_PRIORITY_HIGH, report_exceeded, g_object_ref(self), g_object_unref);
}

// Follows the frames in `data`; false once the unfinished message is over `cap` bytes (checked
// at each frame's header, before its payload is read).
bool scan_frames(FrameScan &f, const uint8_t *data, size_t n, uint64_t cap) {
  size_t i = 0;
  while (i < n) {
    if (f.left > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(f.left, n - i));
      f.left -= k;
      i += k;
      continue;
    }
    f.head[f.have++] = data[i++];
    if (f.have < 2) continue;
    uint8_t length7 = f.head[1] & 0x7f;
    size_t need = 2 + (f.head[1] & 0x80 ? 4 : 0) + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0);
    if (f.have < need) continue;
    uint64_t length = length7;
    if (length7 >= 126) {
      length = 0;
      for (size_t b = 2; b < (length7 == 126 ? 4u : 10u); b++)
        length = length << 8 | f.head[b];
    }
    uint8_t opcode = f.head[0] & 0x0f;
    bool fin = f.head[0] & 0x80;
    f.frames++;
    if (!(opcode & 0x08)) {  // a data frame: a new message unless a continuation
      if (opcode != 0) f.message = 0;
      if (length > cap || f.message + f.have + length > cap) return false;
      f.message += f.have + length;
      f.open = !fin;
      if (fin) f.message = 0;
    }
    f.left = length;
    f.have = 0;
  }
  return true;
}

gssize would_block(GError **error) {
  g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "read budget spent");
  return -1;
}

gssize ws_read_nonblocking(GramothiClientInput *self, void *buffer, gsize count, GError **error) {
  ReadGuard &g = *self->ws;
  if (g.ended) return 0;
  if (count == 0) return 0;
  if (g.code || g.budget == 0 || g.scan.frames >= kFrameBudget) return would_block(error);
  int64_t now = g_get_monotonic_time();
  g.tokens = std::min(static_cast<double>(g.limits.burst_bytes),
                      g.tokens + static_cast<double>(now - g.refilled_us) *
                                     static_cast<double>(g.limits.bytes_per_second) / 1e6);
  g.refilled_us = now;
  if (g.tokens <= 0) {
    exceed(self, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "rate_limited");
    return would_block(error);
  }
  gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(self->base), buffer,
                                                      std::min(count, g.budget), nullptr, error);
  if (n <= 0) return n;
  g.budget -= static_cast<size_t>(n);
  g.tokens -= static_cast<double>(n);
  g.unfinished += static_cast<size_t>(n);
  if (!scan_frames(g.scan, static_cast<const uint8_t *>(buffer), static_cast<size_t>(n),
                   g.limits.max_message) ||
      g.unfinished > g.limits.max_unfinished)
    exceed(self, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message_too_big");
  return n;
}

gboolean ws_is_readable(GramothiClientInput *self) {
  const ReadGuard &g = *self->ws;
  if (g.ended) return TRUE;
  if (g.code || g.budget == 0 || g.scan.frames >= kFrameBudget) return FALSE;
  return g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(self->base));
}

// libsoup creates its input source after each pass of reads: a new dispatch, a new budget. Once
// a limit was passed the source fires at once: the read then returns the end of the stream.
GSource *ws_create_source(GramothiClientInput *self, GCancellable *cancellable) {
  ReadGuard &g = *self->ws;
  g.budget = kReadBudget;
  g.scan.frames = 0;
  GSource *child = g.code || g.ended ? g_timeout_source_new(0)
                                     : g_pollable_input_stream_create_source(
                                           G_POLLABLE_INPUT_STREAM(self->base), nullptr);
  GSource *source = g_pollable_source_new_full(self, child, cancellable);
  g_source_unref(child);
  return source;
}

// The pollable interface: WebSocket mode, else the HTTP-side functions above.
gboolean client_input_is_readable(GPollableInputStream *stream) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  return self->ws ? ws_is_readable(self) : input_is_readable(stream);
}

GSource *client_input_create_source(GPollableInputStream *stream, GCancellable *cancellable) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  return self->ws ? ws_create_source(self, cancellable) : input_create_source(stream, cancellable);
}

gssize client_input_read_nonblocking(GPollableInputStream *stream, void *buffer, gsize count,
                                     GError **error) {
  auto *self = GRAMOTHI_CLIENT_INPUT(stream);
  return self->ws ? ws_read_nonblocking(self, buffer, count, error)
                  : input_read_nonblocking(stream, buffer, count, error);
}

// ---- the client stream ----

gboolean close_now(GramothiClientStream *self, GCancellable *cancellable, GError **error) {
  g_output_stream_close(G_OUTPUT_STREAM(self->output), nullptr, nullptr);
  return g_io_stream_close(G_IO_STREAM(self->connection), cancellable, error);
}

void finish_close(GTask *task) {
  auto *self = GRAMOTHI_CLIENT_STREAM(g_task_get_source_object(task));
  GError *error = nullptr;
  if (close_now(self, nullptr, &error))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
  g_object_unref(task);
}

struct CloseWait {
  GTask *task;
  guint timer = 0;
};

gboolean on_close_flush_timeout(gpointer data) {
  auto *wait = static_cast<CloseWait *>(data);
  GTask *task = wait->task;
  GRAMOTHI_CLIENT_STREAM(g_task_get_source_object(task))->output->q->on_drained = nullptr;
  delete wait;
  finish_close(task);
  return G_SOURCE_REMOVE;
}

GInputStream *client_get_input_stream(GIOStream *stream) {
  return G_INPUT_STREAM(GRAMOTHI_CLIENT_STREAM(stream)->input);
}

GOutputStream *client_get_output_stream(GIOStream *stream) {
  return G_OUTPUT_STREAM(GRAMOTHI_CLIENT_STREAM(stream)->output);
}

gboolean client_close(GIOStream *stream, GCancellable *cancellable, GError **error) {
  return close_now(GRAMOTHI_CLIENT_STREAM(stream), cancellable, error);
}

// libsoup closes a WebSocket asynchronously right after queueing its close frame: let what is
// queued reach the client first, for at most kCloseFlushMs.
void client_close_async(GIOStream *stream, int, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data) {
  auto *self = GRAMOTHI_CLIENT_STREAM(stream);
  GTask *task = g_task_new(stream, cancellable, callback, user_data);
  OutputQueue &q = *self->output->q;
  if (q.chunks.empty() || q.error) return finish_close(task);
  auto *wait = new CloseWait{task};
  q.on_drained = [wait] {
    GTask *task = wait->task;
    g_source_remove(wait->timer);
    delete wait;
    finish_close(task);
  };
  wait->timer = g_timeout_add(kCloseFlushMs, on_close_flush_timeout, wait);
}

gboolean client_close_finish(GIOStream *, GAsyncResult *result, GError **error) {
  return g_task_propagate_boolean(G_TASK(result), error);
}

}  // namespace

static void gramothi_queued_output_init(GramothiQueuedOutput *self) {
  self->q = new OutputQueue();
}

static void gramothi_queued_output_dispose(GObject *object) {
  stop_flush(*GRAMOTHI_QUEUED_OUTPUT(object)->q);
  G_OBJECT_CLASS(gramothi_queued_output_parent_class)->dispose(object);
}

static void gramothi_queued_output_finalize(GObject *object) {
  OutputQueue *q = GRAMOTHI_QUEUED_OUTPUT(object)->q;
  g_clear_object(&q->base);
  g_clear_error(&q->error);
  delete q;
  G_OBJECT_CLASS(gramothi_queued_output_parent_class)->finalize(object);
}

static void gramothi_queued_output_class_init(GramothiQueuedOutputClass *klass) {
  G_OBJECT_CLASS(klass)->dispose = gramothi_queued_output_dispose;
  G_OBJECT_CLASS(klass)->finalize = gramothi_queued_output_finalize;
  G_OUTPUT_STREAM_CLASS(klass)->write_fn = output_write;
  G_OUTPUT_STREAM_CLASS(klass)->close_fn = output_close;
}

static void gramothi_queued_output_pollable_init(GPollableOutputStreamInterface *iface) {
  iface->can_poll = output_can_poll;
  iface->is_writable = output_is_writable;
  iface->create_source = output_create_source;
  iface->write_nonblocking = output_write_nonblocking;
}

static void gramothi_client_input_init(GramothiClientInput *) {}

static void gramothi_client_input_finalize(GObject *object) {
  delete GRAMOTHI_CLIENT_INPUT(object)->ws;
  g_clear_object(&GRAMOTHI_CLIENT_INPUT(object)->base);
  G_OBJECT_CLASS(gramothi_client_input_parent_class)->finalize(object);
}

static void gramothi_client_input_class_init(GramothiClientInputClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gramothi_client_input_finalize;
  G_INPUT_STREAM_CLASS(klass)->read_fn = input_read;
  G_INPUT_STREAM_CLASS(klass)->close_fn = input_close;
}

static void gramothi_client_input_pollable_init(GPollableInputStreamInterface *iface) {
  iface->can_poll = input_can_poll;
  iface->is_readable = client_input_is_readable;
  iface->create_source = client_input_create_source;
  iface->read_nonblocking = client_input_read_nonblocking;
}

static void gramothi_client_stream_init(GramothiClientStream *) {}

static void gramothi_client_stream_finalize(GObject *object) {
  auto *self = GRAMOTHI_CLIENT_STREAM(object);
  g_clear_object(&self->output);
  g_clear_object(&self->input);
  g_clear_object(&self->connection);
  G_OBJECT_CLASS(gramothi_client_stream_parent_class)->finalize(object);
}

static void gramothi_client_stream_class_init(GramothiClientStreamClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gramothi_client_stream_finalize;
  GIOStreamClass *io = G_IO_STREAM_CLASS(klass);
  io->get_input_stream = client_get_input_stream;
  io->get_output_stream = client_get_output_stream;
  io->close_fn = client_close;
  io->close_async = client_close_async;
  io->close_finish = client_close_finish;
}

namespace gramothi {

GramothiClientStream *client_stream_new(GSocketConnection *connection) {
  auto *self =
      static_cast<GramothiClientStream *>(g_object_new(GRAMOTHI_TYPE_CLIENT_STREAM, nullptr));
  self->connection = G_SOCKET_CONNECTION(g_object_ref(connection));
  self->input =
      static_cast<GramothiClientInput *>(g_object_new(gramothi_client_input_get_type(), nullptr));
  self->input->base =
      G_INPUT_STREAM(g_object_ref(g_io_stream_get_input_stream(G_IO_STREAM(connection))));
  self->output =
      static_cast<GramothiQueuedOutput *>(g_object_new(gramothi_queued_output_get_type(), nullptr));
  self->output->q->base =
      G_OUTPUT_STREAM(g_object_ref(g_io_stream_get_output_stream(G_IO_STREAM(connection))));
  return self;
}

GSocket *client_stream_socket(GramothiClientStream *stream) {
  return g_socket_connection_get_socket(stream->connection);
}

void client_stream_between_requests(GramothiClientStream *stream, bool between) {
  stream->input->between_requests = between;
}

void client_stream_queue_writes(GramothiClientStream *stream, size_t max_queued,
                                std::function<void()> on_overflow) {
  OutputQueue &q = *stream->output->q;
  q.queueing = true;
  q.limit = max_queued;
  q.on_overflow = std::move(on_overflow);
}

void client_stream_nudge(GramothiClientStream *stream) {
  OutputQueue &q = *stream->output->q;
  if (!q.queueing || q.error || q.overflowed || !q.chunks.empty()) return;
  static const uint8_t kPing[] = {0x89, 0x00};  // FIN, ping; unmasked, no payload
  queue_write(stream->output, kPing, sizeof kPing, nullptr);
}

size_t client_stream_queued(GramothiClientStream *stream) {
  return stream->output->q->queued;
}

bool client_stream_overflowed(GramothiClientStream *stream) {
  return stream->output->q->overflowed;
}

void client_stream_drop_queued(GramothiClientStream *stream) {
  OutputQueue &q = *stream->output->q;
  std::erase_if(q.chunks, [](const Chunk &c) { return !c.started; });
  q.queued = 0;
  for (const Chunk &c : q.chunks)
    q.queued += c.data.size() - c.sent;
  q.overflowed = false;
  if (q.chunks.empty()) end_waiting(q);
}

void client_stream_limit_reads(GramothiClientStream *stream, const ClientReadLimits &limits,
                               std::function<void(uint16_t code, const char *reason)> on_exceeded) {
  GramothiClientInput *input = stream->input;
  if (!input->ws) input->ws = new ReadGuard();
  ReadGuard &g = *input->ws;
  g.limits = limits;
  g.on_exceeded = std::move(on_exceeded);
  g.budget = kReadBudget;
  g.tokens = static_cast<double>(limits.burst_bytes);
  g.refilled_us = g_get_monotonic_time();
}

void client_stream_message_done(GramothiClientStream *stream) {
  if (stream->input->ws) stream->input->ws->unfinished = 0;
}

bool client_stream_message_unfinished(GramothiClientStream *stream) {
  return stream->input->ws && stream->input->ws->scan.open;
}

}  // namespace gramothi
