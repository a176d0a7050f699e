// WebrtcbinListener: a listener with a webrtcbin of its own (see listener.hpp). Its offer is made
// from the main loop after setup (never from on-negotiation-needed): offer -> on_offer_created.
// Receiver reports come from webrtcbin's stats, polled by the engine's tick.
#pragma once

#include "media/listener.hpp"
#include "media/webrtc_session.hpp"

namespace gramothi {

class WebrtcbinListener : public Listener {
 public:
  using Listener::Listener;

  std::optional<Error> start(unsigned ssrc) override;
  void poll_stats() override;
  std::optional<Error> remote_answer(const std::string &sdp) override;
  std::optional<Error> remote_candidate(unsigned mline, const std::string &candidate) override;
  void stop_media() override { session_.stop(); }

 private:
  void offer();
  void on_offer_created(OwnedDescription offer);

  WebrtcSession session_;
  bool stats_pending_ = false;
};

}  // namespace gramothi
