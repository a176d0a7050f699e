// One profile's encoded audio and the listeners that take it. The class pipeline has one Tier per
// bandwidth profile; each listener has one Feed, held by exactly one Tier at a time, and a switch
// of profile moves the Feed from one Tier to another (the listener's payloader keeps SSRC,
// sequence numbers and timestamps running).
//
// Threading: add/remove run on the main loop; deliver runs on the encoder's streaming thread.
// `Tier::mutex` guards the feed list, `Feed::mutex` a feed's timestamps and its push.
#pragma once

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/gref.hpp"
#include "config/profiles.hpp"
#include "transport/rtp_wire.hpp"

namespace gramothi {

class LiteSession;

// A listener's input: its profile's Opus frames go into `src` (a webrtcbin listener's appsrc)
// or into `lite` (its session on the lite transport).
struct Feed {
  std::mutex mutex;
  GRef<GstAppSrc> src;
  std::shared_ptr<LiteSession> lite;
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> sent_bytes{0};  // on the wire (lite: UDP payload + 28 bytes UDP/IPv4)
  // While the listener's controller probes the next profile: the earlier frames each packet
  // repeats (RED), in hundredths (250: every other packet repeats three, the rest two), when
  // more than its profile's own audio_redundancy; probe_carry spreads the fraction (under mutex).
  std::atomic<int> probe_redundancy_x100{0};
  int probe_carry = 0;
  // While the listener's link loses packets (its recent loss, with hysteresis): at least one
  // earlier frame per packet on any profile.
  std::atomic<int> loss_redundancy{0};
  // A listener connected ahead of its student's tap (MediaEngine::listen, held): nothing is sent
  // to it until MediaEngine::play.
  std::atomic<bool> held{false};
};

// The redundancy, in hundredths of a frame per packet, that makes `from`'s audio cost the link
// kProbeMargin more than `to`'s would, headers included (audio_wire_kbps): a probe that passes
// shows the link carries `to` with a little to spare, and one that fails overshoots the link by
// little, so the queue it builds, and the audio it delays, stay small until a report fails it.
// More than `from` has, at most max_repeats(from): where that is not enough (2g's 60 ms frames
// repeat at most five, 70 kbit/s, for ultra-low with RED's 72), the probe is that much weaker
// and the probation after the step covers the rest. `lossy`: the listener gets at least one
// repeat on every profile (Feed::loss_redundancy), `to` included.
inline constexpr double kProbeMargin = 1.05;
// The most earlier frames a packet of `p` can repeat: RED's timestamp offset has 14 bits
// (16383 ticks at 48 kHz: five 60 ms frames, eight 40 ms ones), and rtp::kMaxRedundantFrames.
inline int max_repeats(const BandwidthProfile &p) {
  int by_offset = 16383 / (std::max(1, p.opus_frame_ms) * 48);
  return std::clamp(by_offset, 1, static_cast<int>(rtp::kMaxRedundantFrames));
}
// The repeats the next packet of a probe carries: the whole ones of `x100`, and one more in the
// share of packets its hundredths ask for (`carry` keeps the remainder between packets).
inline int next_probe_repeats(int x100, int &carry) {
  if (x100 <= 0) {
    carry = 0;
    return 0;
  }
  carry += x100 % 100;
  int extra = carry >= 100 ? 1 : 0;
  carry %= 100;
  return x100 / 100 + extra;
}
int probe_redundancy_x100(const BandwidthProfile &from, const BandwidthProfile &to,
                          bool lossy = false);
// Where a listener at profile `tier` goes when RED comes on for it: the highest profile at or
// below `tier` whose audio with a repeat costs the link no more than `tier`'s audio did (with
// kProbeMargin): the link has carried that rate, and not necessarily more. Without this, RED
// coming on at `medium` (150 kbit/s, 280 with RED) is a step up nobody probed; it goes to `low`
// (140 with RED), and climbs back by probes.
size_t red_fit_tier(const std::vector<BandwidthProfile> &profiles, size_t tier);

// Whether a listener's link loses packets, for Feed::loss_redundancy: on as soon as one report's
// loss, or the recent loss (both 0..1), reaches 1 %; off only once the recent loss has stayed
// under 0.3 % for kCleanForMs. At 2 % random loss a few reports in a row see none (at 25 packets
// a second, 2.5 s reports are all clean 3 % of the time): the link has not healed, and dropping
// RED then would let it climb to a profile that only fits without RED, and fall back with a
// burst of loss when RED returns. Likewise RED comes at the first lossy report, before the
// listener climbs on a start that happened to be clean.
struct LossyLink {
  static constexpr int64_t kCleanForMs = 60000;
  int redundancy = 0;                 // earlier frames each packet repeats: 0 or 1
  std::optional<int64_t> unclean_ms;  // the latest report with recent loss >= 0.3 %
  int update(double report_loss, double recent_loss, int64_t now_ms) {
    if (recent_loss >= 0.003) unclean_ms = now_ms;
    if (recent_loss >= 0.01 || report_loss >= 0.01)
      redundancy = 1;
    else if (redundancy && (!unclean_ms || now_ms - *unclean_ms >= kCleanForMs))
      redundancy = 0;
    return redundancy;
  }
};

// The Opus in-band FEC loss hint for a profile's shared encoder, from the loss its listeners
// report (each a recent average, 0..1): enough redundancy for the listeners who lose most (the
// 90th percentile, so that one broken link does not cost everyone quality), at least 2 %, at
// most 30 %. No reports yet: the profile's own opus_loss_pct.
int fec_loss_hint(std::vector<double> listener_loss, int profile_default);

class Tier {
 public:
  // `label` names it in the log ("class C, profile P").
  Tier(const BandwidthProfile &profile, std::string label)
      : profile_(profile), label_(std::move(label)), fec_loss_pct_(profile.opus_loss_pct) {}
  Tier(const Tier &) = delete;
  Tier &operator=(const Tier &) = delete;
  ~Tier();
  const BandwidthProfile &profile() const { return profile_; }

  // The profile's encoder works only while the profile has users: its listeners' feeds (add)
  // and listeners about to switch to it (use). Off, the class's audio is dropped before the
  // profile's queue (accepting(), read by the class pipeline's probe): nothing is encoded and
  // no thread of the profile wakes. It goes off linger_ms after its last user left, so that a
  // listener stepping back finds it still working. Main loop, but accepting() and deliver().
  void set_linger_ms(unsigned ms) { linger_ms_ = ms; }
  void use();
  void unuse();
  bool accepting() const { return on_.load(std::memory_order_acquire); }
  // On, and a frame encoded since it came on was delivered: a listener switched to it now hears
  // no gap.
  bool warm() const {
    return on_.load(std::memory_order_acquire) && warm_.load(std::memory_order_acquire);
  }
  // The class stopped (no teacher): the next frame counts as a first one again.
  void cool() { warm_.store(false, std::memory_order_release); }
  // Called on the main loop after the first frame delivered since the encoder came on. Set
  // before the first use().
  std::function<void()> on_warm;

  // The encoder's opusenc (borrowed from the class pipeline), whose FEC hint tune_fec() sets;
  // null when the operator's encoder has none.
  void set_opus_encoder(GstElement *opusenc) { opusenc_ = opusenc; }
  // Main loop. Sets the hint for these listeners' loss when it moved by 2 points or more;
  // returns the new hint when it changed.
  std::optional<int> tune_fec(std::vector<double> listener_loss);
  int fec_loss_pct() const { return fec_loss_pct_; }

  // A listener's feed gets every frame from now on (add uses the profile, remove unuses it).
  void add(const std::shared_ptr<Feed> &feed);
  void remove(const std::shared_ptr<Feed> &feed);
  // One encoded frame to every feed; lite listeners' packets go out in one batch.
  void deliver(GstBuffer *buffer);

 private:
  const BandwidthProfile &profile_;  // borrowed from the engine's ProfileSet
  std::string label_;
  GstElement *opusenc_ = nullptr;
  int fec_loss_pct_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Feed>> feeds_;
  int users_ = 0;  // main loop
  unsigned linger_ms_ = 10000;
  guint linger_ = 0;  // main loop: the timer that turns the encoder off
  std::atomic<bool> on_{false};
  std::atomic<bool> warm_{false};
};

}  // namespace gramothi
