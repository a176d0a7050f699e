// RateGate: how many messages one socket may send, and what happens beyond. Pure logic with the
// clock passed in (microseconds, any monotonic origin), so tests replay exact timelines.
//
// A bucket of `rate` messages a second holds bursts of 5 s worth. A message that finds the
// bucket empty is dropped; at most one drop a second is to be answered (kWarn), the others are
// dropped silently (kDrop). Dropped messages build up an excess that drains at 5 × rate a
// second; once it reaches 15 × rate the socket is to be closed (kClose): a client that keeps
// sending more than about 6 × rate — 10 × rate closes it within about 4 s of its burst — or
// one that floods without pause.
#pragma once

#include <algorithm>
#include <cstdint>

namespace gramothi::signaling {

class RateGate {
 public:
  enum class Verdict {
    kPass,   // handle the message
    kWarn,   // drop it and answer rate_limited
    kDrop,   // drop it, say nothing
    kClose,  // drop it and close the socket (1008 rate_limited)
  };

  static constexpr double kBurstSeconds = 5;
  static constexpr double kExcessDrainPerRate = 5;  // excess drained a second, × rate
  static constexpr double kCloseAtPerRate = 15;     // excess that closes, × rate
  static constexpr int64_t kWarnIntervalUs = 1000000;

  explicit RateGate(double rate) : rate_(rate), tokens_(rate * kBurstSeconds) {}

  Verdict admit(int64_t now_us) {
    if (!started_) {
      started_ = true;
      counted_at_us_ = now_us;
    }
    double elapsed_s = static_cast<double>(std::max<int64_t>(0, now_us - counted_at_us_)) / 1e6;
    counted_at_us_ = std::max(counted_at_us_, now_us);
    tokens_ = std::min(rate_ * kBurstSeconds, tokens_ + elapsed_s * rate_);
    excess_ = std::max(0.0, excess_ - elapsed_s * kExcessDrainPerRate * rate_);
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return Verdict::kPass;
    }
    excess_ += 1;
    if (excess_ >= kCloseAtPerRate * rate_) return Verdict::kClose;
    if (warned_ && now_us - warned_at_us_ < kWarnIntervalUs) return Verdict::kDrop;
    warned_ = true;
    warned_at_us_ = now_us;
    return Verdict::kWarn;
  }

 private:
  double rate_;
  double tokens_;
  double excess_ = 0;
  bool started_ = false, warned_ = false;
  int64_t counted_at_us_ = 0, warned_at_us_ = 0;
};

}  // namespace gramothi::signaling
