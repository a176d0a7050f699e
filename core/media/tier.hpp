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

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/gref.hpp"
#include "config/profiles.hpp"

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
  // While the listener's controller probes the next profile: the earlier frames each packet
  // repeats (RED), when more than its profile's own audio_redundancy.
  std::atomic<int> probe_redundancy{0};
  // While the listener's link loses packets (its recent loss, with hysteresis): at least one
  // earlier frame per packet on any profile.
  std::atomic<int> loss_redundancy{0};
};

// The redundancy that makes `from`'s audio about as many bytes as `to`'s: each packet repeats
// this many earlier frames (at least one more than `from` does, at most
// rtp::kMaxRedundantFrames), so a probe of `to` costs the link what `to` would. `lossy`: the
// listener gets at least one repeat on every profile (Feed::loss_redundancy), `to` included.
int probe_redundancy(const BandwidthProfile &from, const BandwidthProfile &to, bool lossy = false);

// Feed::loss_redundancy after a listener's recent loss (0..1) is updated: 1 from 1 % on, 0 under
// 0.3 %, unchanged between (so that a link near the line does not flip every report).
inline int loss_redundancy_after(double recent_loss, int current) {
  if (recent_loss >= 0.01) return 1;
  if (recent_loss < 0.003) return 0;
  return current;
}

// The Opus in-band FEC loss hint for a profile's shared encoder, from the loss its listeners
// report (each a recent average, 0..1): enough redundancy for the listeners who lose most (the
// 90th percentile, so that one broken link does not cost everyone quality), at least 2 %, at
// most 30 %. No reports yet: the profile's own opus_loss_pct.
int fec_loss_hint(std::vector<double> listener_loss, int profile_default);

class Tier {
 public:
  explicit Tier(const BandwidthProfile &profile)
      : profile_(profile), fec_loss_pct_(profile.opus_loss_pct) {}
  const BandwidthProfile &profile() const { return profile_; }

  // The encoder's opusenc (borrowed from the class pipeline), whose FEC hint tune_fec() sets;
  // null when the operator's encoder has none.
  void set_opus_encoder(GstElement *opusenc) { opusenc_ = opusenc; }
  // Main loop. Sets the hint for these listeners' loss when it moved by 2 points or more;
  // returns the new hint when it changed.
  std::optional<int> tune_fec(std::vector<double> listener_loss);
  int fec_loss_pct() const { return fec_loss_pct_; }

  void add(const std::shared_ptr<Feed> &feed);
  void remove(const std::shared_ptr<Feed> &feed);
  // One encoded frame to every feed; lite listeners' packets go out in one batch.
  void deliver(GstBuffer *buffer);

 private:
  const BandwidthProfile &profile_;  // borrowed from the engine's ProfileSet
  GstElement *opusenc_ = nullptr;
  int fec_loss_pct_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Feed>> feeds_;
};

}  // namespace gramothi
