#include "media/listener.hpp"

#include "base/log.hpp"
#include "base/main_loop.hpp"
#include "media/gst_support.hpp"
#include "transport/lite_transport.hpp"

namespace gramothi {

void Listener::log_probe(bool started) const {
  if (log_level() > LogLevel::kDebug) return;  // every probe, every listener: no string unless read
  log_media(LogLevel::kDebug,
            "listener " + user_id() + " in " + class_id() +
                (started ? ": probing the next profile (" +
                               std::to_string(lossy() ? probe_kbps_lossy : probe_kbps) +
                               " kbit/s at full rate)"
                         : ": probe over"));
}

void Listener::log_report(const char *from, double loss, double rtt_ms) const {
  if (log_level() > LogLevel::kDebug) return;  // every report, every listener, on the main loop
  log_media(LogLevel::kDebug, "listener " + user_id() + " in " + class_id() + ": " + from +
                                  " report, loss " + std::to_string(loss) + ", rtt " +
                                  std::to_string(rtt_ms) + " ms");
}

void Listener::on_receiver_report(double loss_fraction, double jitter, double rtt) {
  if (feed->held.load()) return;  // nothing sent yet: the report says nothing of the audio
  log_report("rtcp", loss_fraction, rtt);
  int64_t now_ms = g_get_monotonic_time() / 1000;
  loss = loss_fraction;
  if (loss_fraction >= 0) note_loss(loss_fraction, now_ms);
  rtt_ms = rtt;
  jitter_ms = jitter;
  LinkReport report;
  report.now_ms = now_ms;
  report.loss_fraction = loss_fraction;
  if (rtt >= 0) report.rtt_ms = rtt;
  if (jitter >= 0) report.jitter_ms = jitter;
  if (auto d = controller->report(report)) host_.switch_tier(*this, d->index, d->reason);
  sync_probe(report.now_ms);
}

std::optional<Error> LiteListener::start(unsigned ssrc) {
  Ref me = ref();
  LiteEvents events;
  events.state = [me](LiteState link, LiteFailure failure, const std::string &detail) {
    PeerHost *host = me.host;
    if (link == LiteState::kFailed) {
      // A lite session that failed is over (nothing more is sent to it): the student hears
      // why, then that the session is closed, and may listen again.
      std::string closed =
          failure == LiteFailure::kNoConsent ? "consent-expired" : "connection-failed";
      with_peer(me, [detail, closed](Peer &p) { p.fail(detail, closed); });
      return;
    }
    PeerState state = link == LiteState::kConnected    ? PeerState::kConnected
                      : link == LiteState::kConnecting ? PeerState::kConnecting
                                                       : PeerState::kNew;
    with_peer(me, [host, state, detail](Peer &p) { host->set_state(p, state, detail); });
  };
  events.report = [me](double loss, double jitter_ms, double rtt_ms) {
    with_peer(me, [=](Peer &p) {
      static_cast<Listener &>(p).on_receiver_report(loss, jitter_ms, rtt_ms);
    });
  };
  session_ = transport_.create(ssrc, kOpusPt, "gramothi-" + std::to_string(id()), std::move(events),
                               kRedPt);
  feed->lite = session_;
  // The offer carries every candidate (ICE-lite gathers nothing): end-of-candidates follows.
  run_later([me] {
    if (!me.watch.alive()) return;
    Peer *p = me.host->find(me.id);
    if (!p) return;
    auto &self = static_cast<LiteListener &>(*p);
    if (self.observer.local_description)
      self.observer.local_description("offer", self.session_->offer_sdp());
    if (self.observer.local_candidate) self.observer.local_candidate(0, "");
    self.announce_profile();
  });
  return std::nullopt;
}

std::optional<Error> LiteListener::remote_answer(const std::string &sdp) {
  if (auto e = session_->set_answer(sdp)) return e;
  // A listener that takes RED hears no difference while its next profile is probed.
  controller->set_probe_by_redundancy(session_->accepts_red());
  return std::nullopt;
}

void LiteListener::stop_media() {
  if (session_) transport_.remove(session_);
}

}  // namespace gramothi
