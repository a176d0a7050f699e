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

void log_media(LogLevel level, const std::string &message);
Error media_error(ErrorKind kind, const std::string &code, const std::string &message);

// A gst-launch fragment as a bin with ghost pads, or null with `why` set. The bin is floating.
GstElement *parse_bin(const std::string &description, std::string *why);

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
