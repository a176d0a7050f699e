// Publisher: the teacher's stream into a class, negotiated from the teacher's offer:
//   webrtcbin -> [ingest decode] (media.ini) -> appsink ==> the class's teacher appsrc
// Negotiation runs as named steps, each on the main loop: start (set the offer) ->
// on_offer_set (receive only; create the answer) -> on_answer_created (set it; send it).
#pragma once

#include <gst/app/gstappsrc.h>

#include "media/peer.hpp"
#include "media/webrtc_session.hpp"

namespace gramothi {

class Publisher : public Peer {
 public:
  using Peer::Peer;

  // Builds the ingest into `teacher_src` and starts negotiating. `offer` was checked by the
  // engine (an SDP with Opus audio); this takes ownership of it.
  std::optional<Error> start(GstSDPMessage *offer, GstAppSrc *teacher_src);

  std::optional<Error> remote_answer(const std::string &sdp) override;
  std::optional<Error> remote_candidate(unsigned mline, const std::string &candidate) override;
  void stop_media() override { session_.stop(); }

 private:
  void on_offer_set();
  void on_answer_created(OwnedDescription answer);

  WebrtcSession session_;
};

}  // namespace gramothi
