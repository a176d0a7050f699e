// Decodes a whole audio file to 48 kHz mono S16 with GStreamer, for tests and benchmarks.
#pragma once

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <cstdint>
#include <string>
#include <vector>

// `decoder` is the gst-launch chain after filesrc, e.g. "oggdemux ! opusdec" or "wavparse".
inline std::vector<int16_t> decode_file(const std::string &path, const std::string &decoder) {
  std::string desc = "filesrc location=\"" + path + "\" ! " + decoder +
                     " ! audioconvert ! audioresample ! "
                     "audio/x-raw,format=S16LE,channels=1,rate=48000 ! appsink name=out sync=false";
  GstElement *p = gst_parse_launch(desc.c_str(), nullptr);
  std::vector<int16_t> pcm;
  if (!p) return pcm;
  GstElement *sink = gst_bin_get_by_name(GST_BIN(p), "out");
  gst_element_set_state(p, GST_STATE_PLAYING);
  while (GstSample *s = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    GstMapInfo m;
    GstBuffer *b = gst_sample_get_buffer(s);
    if (b && gst_buffer_map(b, &m, GST_MAP_READ)) {
      auto *v = reinterpret_cast<const int16_t *>(m.data);
      pcm.insert(pcm.end(), v, v + m.size / 2);
      gst_buffer_unmap(b, &m);
    }
    gst_sample_unref(s);
  }
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(p);
  return pcm;
}
