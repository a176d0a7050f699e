#include "media/gst_support.hpp"

#include "media/media_types.hpp"

namespace gramothi {

void log_media(LogLevel level, const std::string &message) {
  log_message(level, "media", message);
}

Error media_error(ErrorKind kind, const std::string &code, const std::string &message) {
  return Error{kind, code, message};
}

GstElement *parse_bin(const std::string &description, std::string *why) {
  g_autoptr(GError) err = nullptr;
  GstElement *bin = gst_parse_bin_from_description_full(description.c_str(), TRUE, nullptr,
                                                        GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!bin) *why = err ? err->message : "cannot parse";
  return bin;
}

SharedClock::SharedClock()
    : clock_(gst_system_clock_obtain()), base_time_(gst_clock_get_time(clock_)) {}

SharedClock::~SharedClock() {
  gst_object_unref(clock_);
}

void SharedClock::apply(GstElement *pipeline) const {
  gst_pipeline_use_clock(GST_PIPELINE(pipeline), clock_);
  gst_element_set_start_time(pipeline, GST_CLOCK_TIME_NONE);
  gst_element_set_base_time(pipeline, base_time_);
}

std::string_view peer_state_name(PeerState state) {
  switch (state) {
    case PeerState::kNew:
      return "new";
    case PeerState::kConnecting:
      return "connecting";
    case PeerState::kConnected:
      return "connected";
    case PeerState::kDisconnected:
      return "disconnected";
    case PeerState::kFailed:
      return "failed";
    case PeerState::kClosed:
      return "closed";
  }
  return "failed";
}

std::string_view recording_state_name(RecordingState state) {
  switch (state) {
    case RecordingState::kRecording:
      return "recording";
    case RecordingState::kStopped:
      return "stopped";
    case RecordingState::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace gramothi
