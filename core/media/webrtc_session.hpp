// WebrtcSession: a webrtcbin in a pipeline of its own, set up the way every webrtcbin peer of the
// engine needs it (bundle, ICE addresses and ports, no UPnP, STUN), with its GStreamer-thread
// signals (candidates, gathering, connection state, bus errors) carried to its Peer on the main
// loop. Used by the Publisher and by the webrtcbin Listener; one peer's trouble never stalls
// another, and all pipelines share the engine's clock.
//
// Ownership: the peer owns its session; the session owns the pipeline (which owns webrtcbin).
#pragma once

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/gref.hpp"
#include "media/peer.hpp"

namespace gramothi {

class WebrtcSession {
 public:
  WebrtcSession() = default;
  WebrtcSession(const WebrtcSession &) = delete;
  WebrtcSession &operator=(const WebrtcSession &) = delete;
  ~WebrtcSession() { stop(); }

  // Makes the pipeline and its webrtcbin for `peer`. `name`: the pipeline's, for logs.
  std::optional<Error> create(Peer &peer, PeerHost &host, const std::string &name, bool receives);
  GstElement *pipeline() const { return pipeline_.get(); }
  GstElement *webrtc() const { return webrtc_; }
  void play() { gst_element_set_state(pipeline_.get(), GST_STATE_PLAYING); }
  void add_candidate(unsigned mline, const std::string &candidate);
  // Stops and drops the pipeline; no signal reaches the peer after this.
  void stop();

  // The SDP of a description, as text.
  static std::string sdp_text(const GstWebRTCSessionDescription *description);

 private:
  GRef<GstElement> pipeline_;
  GstElement *webrtc_ = nullptr;  // borrowed: belongs to the pipeline
  guint bus_watch_ = 0;
};

// A webrtcbin promise's reply as an owned session description (null when there is none).
struct DescriptionFree {
  void operator()(GstWebRTCSessionDescription *d) const { gst_webrtc_session_description_free(d); }
};
using OwnedDescription = std::unique_ptr<GstWebRTCSessionDescription, DescriptionFree>;
OwnedDescription take_description(GstPromise *promise, const char *field);

}  // namespace gramothi
