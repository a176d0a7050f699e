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
};

class Tier {
 public:
  explicit Tier(const BandwidthProfile &profile) : profile_(profile) {}
  const BandwidthProfile &profile() const { return profile_; }

  void add(const std::shared_ptr<Feed> &feed);
  void remove(const std::shared_ptr<Feed> &feed);
  // One encoded frame to every feed; lite listeners' packets go out in one batch.
  void deliver(GstBuffer *buffer);

 private:
  const BandwidthProfile &profile_;  // borrowed from the engine's ProfileSet
  std::mutex mutex_;
  std::vector<std::shared_ptr<Feed>> feeds_;
};

}  // namespace gramothi
