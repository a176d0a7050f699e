// GramothiClientStream: the GIOStream core hands libsoup for each client TCP connection it
// accepts (ConnectionGuard), so that core, not libsoup, holds what is waiting to be sent.
//
// Reads go straight to the socket (but see client_stream_between_requests). Writes go straight to
// it as well (libsoup's own flow control for HTTP responses) until client_stream_queue_writes(),
// which the WebSocket host calls when a connection becomes a WebSocket: from then on every write is
// taken at once into a queue here and flushed as the client reads. libsoup 3.2 offers no way to
// learn how much a WebSocket has queued; with this stream its own queue stays empty and the size of
// ours is exact. Once the queue holds more than its bound the stream reports the overflow (once,
// from the main loop) and drops further writes until client_stream_drop_queued(); since libsoup
// writes one whole frame per call here, dropping whole chunks keeps the frames intact. Closing
// waits up to 2 s for the queue to reach the client, then closes the socket.
//
// WebSocket reads (client_stream_limit_reads): libsoup 3.2 reads a WebSocket until the socket
// would block, answering every ping as it goes, and checks its size cap per frame only. From the
// upgrade on, this stream bounds what the client makes it read: at most 64 KiB or 256 frames per
// dispatch of libsoup's input source (then "would block": the source fires again on the next
// main-loop iteration, after the other ready sources had their turn), a byte rate over everything
// read (data, pings, pongs, headers), and the size of one message split into fragments (the frame
// headers are followed as they pass). Past a limit it stops reading, reports it once (from the main
// loop, before libsoup reads again) and then ends the input, so that libsoup closes promptly.
//
// Ownership: a GObject; libsoup (later its WebSocket connection) holds the references. Main loop
// only.
#pragma once

#include <gio/gio.h>

#include <cstdint>
#include <functional>

G_BEGIN_DECLS
#define GRAMOTHI_TYPE_CLIENT_STREAM (gramothi_client_stream_get_type())
G_DECLARE_FINAL_TYPE(GramothiClientStream, gramothi_client_stream, GRAMOTHI, CLIENT_STREAM,
                     GIOStream)
G_END_DECLS

namespace gramothi {

// A new stream (full reference) over `connection` (referenced).
GramothiClientStream *client_stream_new(GSocketConnection *connection);
GSocket *client_stream_socket(GramothiClientStream *stream);

// Whether the connection waits for its next request (kept alive after a response). libsoup 3.2
// would never release it if the client closed it then; this stream makes it (see the .cpp).
void client_stream_between_requests(GramothiClientStream *stream, bool between);

// Switches writes to the queue, bounded by `max_queued` bytes; `on_overflow` runs from an idle
// callback on the main loop once the bound is passed.
void client_stream_queue_writes(GramothiClientStream *stream, size_t max_queued,
                                std::function<void()> on_overflow);
// Once writes are queued (a WebSocket): writes a WebSocket ping frame when nothing waits in the
// queue, so that a lone message is followed by a segment of its own. If the message is lost on
// the way, the client's acknowledgement of the ping tells TCP at once (RACK) instead of a
// tail-loss probe or a retransmission timeout (0.8-3 s on a 300 ms link). Browsers answer a
// ping with a pong and show it to no page.
void client_stream_nudge(GramothiClientStream *stream);
// Unsent bytes in the queue.
size_t client_stream_queued(GramothiClientStream *stream);
bool client_stream_overflowed(GramothiClientStream *stream);
// Drops every queued chunk the client has not started to receive, and accepts writes again
// (to let a close frame through).
void client_stream_drop_queued(GramothiClientStream *stream);

// What a WebSocket client may make the server read.
struct ClientReadLimits {
  uint64_t max_message = 0;      // bytes of one message, all its frames (headers included)
  size_t max_unfinished = 0;     // bytes of anything read since the last whole message: the
                                 // backstop should the frames be misread (pipelined before the
                                 // upgrade's answer, when libsoup read them as HTTP)
  int64_t bytes_per_second = 0;  // sustained read rate (everything read) ...
  int64_t burst_bytes = 0;       // ... after a burst of this many
};

// Switches the input to WebSocket reads bounded by `limits`. `on_exceeded` runs once, from a
// high-priority idle callback, with the close code and reason of the first limit passed
// (1009 "message_too_big", 1008 "rate_limited"); reading has stopped then, and the input ends
// right after it.
void client_stream_limit_reads(GramothiClientStream *stream, const ClientReadLimits &limits,
                               std::function<void(uint16_t code, const char *reason)> on_exceeded);
// A whole message arrived: what was read so far no longer counts against max_unfinished.
void client_stream_message_done(GramothiClientStream *stream);
// Whether the client is in the middle of a message split into fragments.
bool client_stream_message_unfinished(GramothiClientStream *stream);

}  // namespace gramothi
