// What every part of the media engine shares: the audio formats, errors and logging, operator
// fragments turned into bins, and the one clock all of the engine's pipelines run on.
#pragma once

#include <gst/gst.h>

#include <string>

#include "base/error.hpp"
#include "base/log.hpp"

namespace gramothi {

inline constexpr const char *kRawCaps =
    "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1";
inline constexpr const char *kOpusCaps =
    "audio/x-opus,rate=48000,channels=1,channel-mapping-family=0";
inline constexpr unsigned kOpusPt = 111;
inline constexpr unsigned kRedPt = 63;  // RED (RFC 2198) over Opus, offered to lite listeners

void log_media(LogLevel level, const std::string &message);
Error media_error(ErrorKind kind, const std::string &code, const std::string &message);

// A gst-launch fragment as a bin with ghost pads, or null with `why` set. The bin is floating.
GstElement *parse_bin(const std::string &description, std::string *why);
// The first element made by `factory` in `element` (itself, or inside it when it is a bin);
// borrowed: null when there is none.
GstElement *find_by_factory(GstElement *element, const char *factory);

// Call before taking down a pipeline that holds webrtcbins: lets no packet into their SRTP
// decoders any more, and waits for one already inside to leave. Stopping otherwise races with
// the network thread: srtpdec deactivates its source pads (dropping their sticky events) before
// its sink pads, and the first RTCP packet it decodes in between makes GStreamer before 1.22.4
// (Debian bookworm has 1.22.0) call gst_pad_create_stream_id() on an element with two sink pads:
// "assertion 'parent->numsinkpads <= 1' failed", a CRITICAL (SIGTRAP under
// G_DEBUG=fatal-criticals). A peer stopped just as it connects meets the other side's first RTCP
// report there. Fixed upstream in 1.22.4 ("srtpdec: fix assertion 'parent->numsinkpads <= 1'
// failed"); server and test peers use this alike until the machines have that.
void stop_srtp_input(GstElement *pipeline);

// All of the engine's pipelines run on one clock from one base time, so a buffer's timestamp
// means the same moment in every pipeline.
class SharedClock {
 public:
  SharedClock();
  SharedClock(const SharedClock &) = delete;
  SharedClock &operator=(const SharedClock &) = delete;
  ~SharedClock();
  void apply(GstElement *pipeline) const;

 private:
  GstClock *clock_;  // owned reference
  GstClockTime base_time_;
};

}  // namespace gramothi
