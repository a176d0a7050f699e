#include "media/gst_support.hpp"

#include "media/media_types.hpp"

#include <vector>

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

void stop_srtp_input(GstElement *pipeline) {
  std::vector<GstElement *> decoders;
  GstIterator *it = gst_bin_iterate_all_by_element_factory_name(GST_BIN(pipeline), "srtpdec");
  GValue v = G_VALUE_INIT;
  for (bool done = false; !done;) {
    switch (gst_iterator_next(it, &v)) {
      case GST_ITERATOR_OK:
        decoders.push_back(GST_ELEMENT(g_value_dup_object(&v)));
        g_value_reset(&v);
        break;
      case GST_ITERATOR_RESYNC:
        for (GstElement *d : decoders)
          gst_object_unref(d);
        decoders.clear();
        gst_iterator_resync(it);
        break;
      default:
        done = true;
    }
  }
  g_value_unset(&v);
  gst_iterator_free(it);
  for (GstElement *d : decoders) {
    for (const char *name : {"rtp_sink", "rtcp_sink"}) {
      GstPad *pad = gst_element_get_static_pad(d, name);
      if (!pad) continue;
      gst_pad_add_probe(
          pad,
          static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          [](GstPad *, GstPadProbeInfo *, gpointer) { return GST_PAD_PROBE_DROP; }, nullptr,
          nullptr);
      // A packet is pushed into the pad, through the probes and the chain function, under its
      // stream lock: once we have held it, every later packet meets the probe.
      GST_PAD_STREAM_LOCK(pad);
      GST_PAD_STREAM_UNLOCK(pad);
      gst_object_unref(pad);
    }
    gst_object_unref(d);
  }
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

GstElement *find_by_factory(GstElement *element, const char *factory) {
  auto made_by = [factory](GstElement *e) {
    GstElementFactory *f = gst_element_get_factory(e);
    return f && g_strcmp0(GST_OBJECT_NAME(f), factory) == 0;
  };
  if (made_by(element)) return element;
  if (!GST_IS_BIN(element)) return nullptr;
  GstElement *found = nullptr;
  GstIterator *it = gst_bin_iterate_recurse(GST_BIN(element));
  GValue item = G_VALUE_INIT;
  while (!found && gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto *e = GST_ELEMENT(g_value_get_object(&item));
    if (made_by(e)) found = e;  // the bin holds it: borrowed
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return found;
}

}  // namespace gramothi
