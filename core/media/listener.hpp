// Listener: a student hearing a class, behind one seam with two transports:
//   - LiteListener (lite_listener.cpp): a session on the shared ICE-lite/DTLS-SRTP transport
//     (the default: one UDP port and one thread for all listeners);
//   - WebrtcbinListener (webrtcbin_listener.cpp): a webrtcbin of its own
//       appsrc (leaky) -> [listener pay] (media.ini) -> webrtcbin
// Either way its Feed sits in the Tier of its current profile, and a BandwidthController decides
// the profile from the listener's RTCP and client reports unless the student pinned one.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>

#include "media/bandwidth_controller.hpp"
#include "media/peer.hpp"
#include "media/tier.hpp"

namespace gramothi {

class Listener : public Peer {
 public:
  Listener(PeerHost &host, PeerId id, std::string class_id, std::string user_id,
           PeerObserver observer, size_t tier, std::unique_ptr<BandwidthController> controller)
      : Peer(host, id, std::move(class_id), std::move(user_id), std::move(observer)),
        tier(tier),
        controller(std::move(controller)) {}
  bool is_listener() const override { return true; }

  // Sets the transport up; the server's offer reaches the observer later, on the main loop.
  virtual std::optional<Error> start(unsigned ssrc) = 0;
  // Reads RTCP receiver reports where the transport does not push them as they come.
  virtual void poll_stats() {}
  // A receiver report (negative: unknown): kept for stats, and fed to the controller.
  void on_receiver_report(double loss, double jitter_ms, double rtt_ms);

  std::shared_ptr<Feed> feed = std::make_shared<Feed>();
  size_t tier;
  // A switch to a profile whose encoder was off waits for its first frame (the listener hears
  // its current profile meanwhile): the profile it goes to, and why (the engine's).
  std::optional<size_t> pending_tier;
  std::string pending_reason;
  std::unique_ptr<BandwidthController> controller;
  double loss = 0, rtt_ms = 0, jitter_ms = 0;
  // The recent loss (0..1), averaged over reports (RTCP and the client's): negative before the
  // first. Tunes the FEC of the listener's profile.
  double recent_loss = -1;
  // A link that loses packets gets RED on every profile (LossyLink).
  // When RED comes on, a listener whose audio would then cost more than its link has carried
  // steps down to red_fit (red_fit_tier; set with the profile).
  LossyLink lossy_link;
  size_t red_fit = 0;
  void note_loss(double fraction, int64_t now_ms) {
    recent_loss = recent_loss < 0 ? fraction : 0.5 * recent_loss + 0.5 * fraction;
    int before = feed->loss_redundancy.load();
    int after = lossy_link.update(fraction, recent_loss, now_ms);
    feed->loss_redundancy.store(after);
    if (after > before && red_fit < tier)
      if (auto d = controller->make_room(red_fit, now_ms))
        host_.switch_tier(*this, d->index, d->reason);
  }
  bool lossy() const { return feed->loss_redundancy.load() > 0; }
  // The redundancy a probe of the next profile sends (the engine sets it with the profile), and
  // the feed made to follow the controller: after every report, tick, pin and switch.
  // probe_from_x100: the current profile's own repeats (x100), where a long probe's ramp starts;
  // probe_kbps*: what the probe costs the link at its full rate (the next profile's cost).
  int probe_x100 = 0, probe_x100_lossy = 0, probe_from_x100 = 0;
  double probe_kbps = 0, probe_kbps_lossy = 0;
  // The feed's bytes and the time at the previous sync, to measure the rate sent since.
  uint64_t synced_bytes = 0;
  int64_t synced_ms = 0;
  bool synced_full = false;   // the probe was at its full rate since the previous sync
  bool probe_logged = false;  // the probe state the debug log last told
  // Debug log: a probe of the next profile started or ended; a link report and where it came
  // from ("rtcp" or "client"), as the controller got it (negative: absent).
  void log_probe(bool started) const;
  void log_report(const char *from, double loss, double rtt_ms) const;
  void sync_probe(int64_t now_ms) {
    uint64_t bytes = feed->sent_bytes.load();
    int64_t since_ms = synced_ms ? now_ms - synced_ms : 0;
    double sent_kbps = since_ms > 0 ? (bytes - synced_bytes) * 8.0 / since_ms : 0;
    synced_bytes = bytes;
    synced_ms = now_ms;
    bool was_full = synced_full;
    synced_full = false;
    if (controller->probing() != probe_logged) {
      probe_logged = controller->probing();
      log_probe(probe_logged);
    }
    if (!controller->probing()) {
      feed->probe_redundancy_x100.store(0);
      return;
    }
    // The interval since the previous sync counts as sent at the full rate when the probe was
    // at its full rate throughout and the bytes came to nine tenths of it.
    double full_kbps = lossy() ? probe_kbps_lossy : probe_kbps;
    double share = controller->probe_share(now_ms);
    if (was_full && since_ms > 0 && since_ms <= 10000 && sent_kbps >= 0.9 * full_kbps)
      controller->probe_sent_at_rate(since_ms);
    synced_full = share >= 1;
    int target = lossy() ? probe_x100_lossy : probe_x100;
    int from = std::max(probe_from_x100, lossy() ? 100 : 0);
    feed->probe_redundancy_x100.store(from +
                                      static_cast<int>(std::lround((target - from) * share)));
  }

 protected:
  // After the offer: tells the student where they start.
  void announce_profile() {
    host_.switch_tier(*this, tier, controller->pinned() ? "pinned" : "initial");
  }
};

class LiteTransport;
class LiteSession;

class LiteListener : public Listener {
 public:
  LiteListener(PeerHost &host, LiteTransport &transport, PeerId id, std::string class_id,
               std::string user_id, PeerObserver observer, size_t tier,
               std::unique_ptr<BandwidthController> controller)
      : Listener(host, id, std::move(class_id), std::move(user_id), std::move(observer), tier,
                 std::move(controller)),
        transport_(transport) {}

  std::optional<Error> start(unsigned ssrc) override;
  std::optional<Error> remote_answer(const std::string &sdp) override;
  // ICE-lite: the listener's own checks find the path, so its candidates are not needed.
  std::optional<Error> remote_candidate(unsigned, const std::string &) override {
    return std::nullopt;
  }
  void stop_media() override;

 private:
  LiteTransport &transport_;  // borrowed: the engine's
  std::shared_ptr<LiteSession> session_;
};

}  // namespace gramothi
