#include "media/bandwidth_controller.hpp"

#include <algorithm>
#include <string_view>

namespace gramothi {

BandwidthController::BandwidthController(const ProfileSet &profiles, size_t initial_index,
                                         BandwidthTuning tuning)
    : tuning_(tuning) {
  for (const auto &p : profiles.all())
    link_min_kbps_.push_back(p.link_min_kbps);
  failures_.assign(link_min_kbps_.size(), 0);
  current_ = clamp(initial_index);
}

size_t BandwidthController::clamp(size_t index) const {
  if (link_min_kbps_.empty()) return 0;
  return std::min(index, link_min_kbps_.size() - 1);
}

size_t BandwidthController::highest_fitting(int kbps) const {
  size_t fit = 0;
  for (size_t i = 0; i < link_min_kbps_.size(); i++)
    if (link_min_kbps_[i] <= kbps) fit = i;
  return fit;
}

bool BandwidthController::rtt_inflated() const {
  return latest_rtt_ms_ && lowest_rtt_ms_ &&
         *latest_rtt_ms_ > *lowest_rtt_ms_ + tuning_.rtt_inflation_ms;
}

int64_t BandwidthController::clean_needed_ms() const {
  if (starting_) return tuning_.start_clean_ms;
  int64_t wait = tuning_.clean_up_ms;
  int fails = current_ + 1 < failures_.size() ? failures_[current_ + 1] : 0;
  for (int i = 0; i < fails && wait < tuning_.max_backoff_ms; i++)
    wait *= 2;
  return std::min(wait, tuning_.max_backoff_ms);
}

void BandwidthController::probe_sent_at_rate(int64_t ms) {
  if (probe_since_ms_ && ms > 0) probe_full_ms_ += ms;
}

std::optional<ProfileDecision> BandwidthController::make_room(size_t index, int64_t now_ms) {
  if (pinned_ || link_min_kbps_.empty() || clamp(index) >= current_) return std::nullopt;
  return change_to(clamp(index), "loss", now_ms);
}

double BandwidthController::probe_share(int64_t now_ms) const {
  if (!probe_since_ms_) return 0;
  if (probe_quick_ || tuning_.probe_ramp_ms <= 0) return 1;
  return std::clamp(static_cast<double>(now_ms - *probe_since_ms_) / tuning_.probe_ramp_ms, 0.0,
                    1.0);
}

void BandwidthController::set_probe_by_redundancy(bool on) {
  probe_by_redundancy_ = on;
  if (!on) end_probe();
}

bool BandwidthController::may_step_up(int64_t now_ms, int64_t early_ms, bool to_probe) const {
  if (pinned_ || !clean_since_ms_ || bad_since_ms_) return false;
  if (current_ + 1 >= link_min_kbps_.size()) return false;
  if (now_ms - *clean_since_ms_ < clean_needed_ms() - early_ms) return false;
  // (A probe needs no report at the current profile first: its own clean report covers both.)
  if (starting_ && !clean_report_since_change_ && !to_probe) return false;
  if (latest_loss_ && *latest_loss_ > clean_loss()) return false;
  if (latest_rtt_ms_ && *latest_rtt_ms_ > tuning_.rtt_block_up_ms) return false;
  if (rtt_inflated()) return false;
  if (latest_downlink_kbps_ &&
      *latest_downlink_kbps_ < link_min_kbps_[current_ + 1] * tuning_.headroom)
    return false;
  return true;
}

void BandwidthController::yield_to_slide(int64_t now_ms) {
  no_probe_until_ms_ = now_ms + tuning_.slide_yield_ms;
  end_probe();
}

std::optional<ProfileDecision> BandwidthController::climb(int64_t now_ms) {
  if (no_probe_until_ms_ && now_ms < *no_probe_until_ms_) return std::nullopt;
  if (downloads_hold()) return std::nullopt;
  if (!probe_by_redundancy_) {
    if (may_step_up(now_ms)) return change_to(current_ + 1, "recovered", now_ms);
    return std::nullopt;
  }
  if (!probe_since_ms_) {
    if (may_step_up(now_ms, quick_probes() ? tuning_.probe_ms : tuning_.probe_long_ms, true)) {
      probe_since_ms_ = now_ms;
      probe_clean_ = false;
      probe_full_ms_ = 0;
      probe_quick_ = quick_probes();
    }
    return std::nullopt;
  }
  if (probe_clean_ && may_step_up(now_ms)) return change_to(current_ + 1, "recovered", now_ms);
  if (now_ms - *probe_since_ms_ >=
      (probe_quick_ ? tuning_.probe_max_ms : tuning_.probe_max_long_ms)) {
    end_probe();
    clean_since_ms_ = now_ms;
  }
  return std::nullopt;
}

ProfileDecision BandwidthController::change_to(size_t index, const char *reason, int64_t now_ms) {
  end_probe();
  if (index < current_) starting_ = false;
  stepped_up_ms_.reset();
  if (index > current_ && std::string_view(reason) != "pinned") stepped_up_ms_ = now_ms;
  current_ = index;
  clean_since_ms_ = now_ms;
  clean_report_since_change_ = false;
  // The new profile gets a full sustain_ms before loss can move it again.
  if (bad_since_ms_) bad_since_ms_ = now_ms;
  return ProfileDecision{index, reason};
}

std::optional<ProfileDecision> BandwidthController::report(const LinkReport &r) {
  const int64_t now = r.now_ms;
  const std::optional<int64_t> interval_start = last_report_ms_;
  last_report_ms_ = now;
  if (!clean_since_ms_) clean_since_ms_ = now;
  // The loss decisions use. With RED (probe_by_redundancy_), the loss smoothed over reports: one
  // report covers a few dozen packets, so at 2 % random loss one in twenty says over 5 %, and
  // random loss is what RED repairs; a link that is too slow shows as a growing rtt first.
  std::optional<double> loss;
  if (r.loss_fraction) {
    if (*r.loss_fraction >= tuning_.lossy_link) seen_loss_ = true;
    smoothed_loss_ =
        smoothed_loss_ ? 0.5 * *smoothed_loss_ + 0.5 * *r.loss_fraction : *r.loss_fraction;
    loss = probe_by_redundancy_ ? *smoothed_loss_ : *r.loss_fraction;
    latest_loss_ = *loss;
  }
  if (r.rtt_ms) {
    latest_rtt_ms_ = *r.rtt_ms;
    if (*r.rtt_ms > 0 && (!lowest_rtt_ms_ || *r.rtt_ms < *lowest_rtt_ms_))
      lowest_rtt_ms_ = *r.rtt_ms;
  }
  if (r.downlink_kbps) latest_downlink_kbps_ = *r.downlink_kbps;
  if (pinned_ || link_min_kbps_.empty()) return std::nullopt;
  // An image on its way fills the link as a probe does, and the two together overfill one the
  // probe alone would not (2g-bad at page open: the first slide, paced for 2g, under a short
  // probe toward ultra-low, a queue of a third of a second): a short probe ends without a
  // verdict and the next waits until the images are in. Long probes (a link that lost packets,
  // or after a failure) ramp up slowly and fail on a small queue; holding them for every image
  // (on 3g-lossy a slide's image takes 10 s at ultra-low's pace, and its prefetch as long)
  // left a student at ultra-low for two and a half minutes. And only on a long round trip
  // (downloads_hold): images are paced for the student's profile, not its link, so on a clean
  // link a starting student's first image (2g's pace, 4 s) and the next one's prefetch held
  // the climb to high for 43 s.
  if (r.downloading) {
    client_downloading_ = *r.downloading;
    if (downloads_hold() && probe_quick_) end_probe();
  }

  // A step up on probation that meets loss or a growing queue is undone at once.
  if (stepped_up_ms_ && now - *stepped_up_ms_ > tuning_.probe_window_ms) stepped_up_ms_.reset();
  // With RED, random loss is repaired and the measure of a link too slow is its growing queue:
  // loss counts as bad only above loss_down_red, for steps down, probes and probation alike.
  bool lossy = loss && *loss > (probe_by_redundancy_ ? tuning_.loss_down_red : tuning_.loss_down);
  // A redundancy probe that meets loss or a growing queue fails like a step up would have, but
  // the student's profile never changed.
  if (probe_since_ms_) {
    double inflation = probe_quick_ ? tuning_.rtt_inflation_ms : tuning_.probe_rtt_inflation_ms;
    bool queue = r.rtt_ms && lowest_rtt_ms_ && *r.rtt_ms > *lowest_rtt_ms_ + inflation;
    if (lossy || queue) {
      end_probe();
      if (current_ + 1 < failures_.size()) failures_[current_ + 1]++;
      starting_ = false;
      clean_since_ms_ = now;
      if (lossy && !bad_since_ms_) bad_since_ms_ = now;
      return std::nullopt;
    }
    // A short probe that meets some loss (not enough to fail it) ends with no verdict: the link
    // is no clean one, and the next probe (at once, below) is a long one that ramps up from the
    // listener's own rate.
    if (probe_quick_ && !quick_probes()) end_probe();
  }
  if (probe_since_ms_) {
    bool long_enough = probe_quick_ ? now - *probe_since_ms_ >= tuning_.probe_min_ms
                                    : now - *probe_since_ms_ >= tuning_.probe_long_ms &&
                                          probe_full_ms_ >= tuning_.probe_full_ms;
    if (loss && *loss <= clean_loss() && long_enough) probe_clean_ = true;
  }
  if (stepped_up_ms_ && current_ > 0 && (lossy || (r.rtt_ms && rtt_inflated()))) {
    failures_[current_]++;
    starting_ = false;
    if (lossy && !bad_since_ms_) bad_since_ms_ = now;
    clean_since_ms_ = now;
    drain_until_ms_ = now + tuning_.drain_ms;
    return change_to(current_ - 1, "probe-failed", now);
  }

  size_t target = current_;
  const char *reason = nullptr;
  if (r.loss_fraction && *r.loss_fraction > tuning_.severe_loss && current_ > 0) {
    bad_since_ms_ = now;
    return change_to(0, "loss", now);
  }
  if (loss) {
    if (lossy) {
      if (!bad_since_ms_) bad_since_ms_ = interval_start.value_or(now);
      clean_since_ms_ = now;
      // (Not while the queue the failed step up filled drains: that loss is the step's.)
      bool draining = drain_until_ms_ && now < *drain_until_ms_;
      if (now - *bad_since_ms_ >= tuning_.sustain_ms && target > 0 && !draining) {
        target--;
        reason = "loss";
      }
    } else {
      bad_since_ms_.reset();
      if (*loss <= clean_loss()) clean_report_since_change_ = true;
    }
  }
  if (r.downlink_kbps && *r.downlink_kbps < link_min_kbps_[target]) {
    size_t fit = highest_fitting(*r.downlink_kbps);
    if (fit < target) {
      target = fit;
      reason = "client-hint";
    }
  }
  if (target != current_) return change_to(target, reason, now);
  return climb(now);
}

std::optional<ProfileDecision> BandwidthController::tick(int64_t now_ms) {
  if (pinned_ || link_min_kbps_.empty()) return std::nullopt;
  return climb(now_ms);
}

std::optional<ProfileDecision> BandwidthController::pin(std::optional<size_t> index,
                                                        int64_t now_ms) {
  if (!index) {
    if (pinned_) {
      pinned_ = false;
      bad_since_ms_.reset();
      clean_since_ms_ = now_ms;
      // Pinned too high for the link: the student unpins to get audio back, at once.
      if (latest_loss_ && *latest_loss_ > tuning_.severe_loss && current_ > 0) {
        bad_since_ms_ = now_ms;
        return change_to(0, "loss", now_ms);
      }
    }
    return std::nullopt;
  }
  pinned_ = true;
  end_probe();
  bad_since_ms_.reset();
  size_t target = clamp(*index);
  if (link_min_kbps_.empty() || target == current_) return std::nullopt;
  return change_to(target, "pinned", now_ms);
}

}  // namespace gramothi
