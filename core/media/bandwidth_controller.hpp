// BandwidthController: decides which bandwidth profile (pipelines/profiles.ini) one listener, a
// student, should receive. The media side keeps one per listener and calls report() for each
// observation of the student's downlink (RTCP receiver reports, client stats), tick() about once a
// second, and pin() when a teacher or operator fixes a profile. It is pure and deterministic: no
// main loop, no clock reads; callers pass now_ms, so tests replay exact timelines.
//
// Rules (thresholds in BandwidthTuning):
//  - Pinned: reports and ticks never change the profile. Unpinning keeps the profile and restarts
//    the clean period, so adaptation resumes from there; but when the latest report, made while
//    pinned, showed severe loss, unpinning moves straight to the lowest profile ("loss").
//  - Start safe, climb fast: an automatic listener starts at the lowest profile (the caller's
//    choice). Until its first failed step up or its first step down, a step up needs only
//    start_clean_ms clean since the last change and one clean report made at the current
//    profile; after that, clean_up_ms (see backoff).
//  - Loss: a report with loss > loss_down starts or continues a bad period, which starts at the
//    previous report (the start of the interval the loss covers), or at the report itself if it is
//    the first. Once it has lasted sustain_ms: one step down ("loss"), and the period restarts, so
//    continued loss steps down every sustain_ms. A report with loss <= loss_down ends it.
//  - Severe loss: a report with loss > severe_loss (a link carrying a fraction of what is sent)
//    moves straight to the lowest profile ("loss"), without waiting for a sustained period:
//    every second there is a second without speech.
//  - A step up is on probation for probe_window_ms: a bad report in that time (loss > loss_down,
//    or the rtt more than rtt_inflation_ms above the lowest rtt seen: a queue building up) steps
//    straight back down ("probe-failed"; the loss of the next drain_ms, while the queue the
//    step filled drains, steps no further), and that profile is tried again only after
//    clean_up_ms * 2^failures clean (capped at max_backoff_ms). Climbing never sits in a loss
//    burst for a whole sustain period.
//  - Probing with redundancy (when the owner says the listener can take it: RED, RFC 2198): the
//    step up is tried first without touching the audio the student hears. probe_ms before the
//    clean period ends (at once while starting, without waiting for a report at the current
//    profile: the probe's own clean report covers both), probing() turns true and the owner sends
//    the current profile's frames repeated up to about the next profile's rate. A report during the
//    probe with loss > loss_down or an inflated rtt ends it as a failed step up (backoff as above,
//    the profile never changed); the step up is taken once the clean period has passed and a
//    report made at least probe_min_ms into the probe was clean (<= loss_clean). Once starting
//    is over (a failed step up or a step down), or from the first report with loss >=
//    lossy_link, probes last probe_long_ms and fail already on an rtt probe_rtt_inflation_ms
//    above the lowest: a link only slightly too slow fills its queue slowly, and only a long
//    probe sees it. Long probes ramp their redundancy up over probe_ramp_ms (probe_share), and
//    pass only once they have also been sent at their full rate for probe_full_ms
//    (probe_sent_at_rate: not in the teacher's pauses). A probe with no verdict within
//    probe_max_ms (long: probe_max_long_ms) ends without one and the clean period starts
//    again. Such listeners' loss decisions use the loss smoothed over reports (each report
//    halves the weight of the ones before), and loss up to
//    loss_clean_red counts as clean: RED repairs random loss, and a link too slow for a profile
//    shows as a growing rtt before it drops packets (but on a 5 % link, stay put). For the same
//    reason loss is "bad" for such a listener only above loss_down_red (smoothed), for steps
//    down, probes and probation alike: on a 2 % link a few reports in a row may say 5-8 %,
//    which RED repairs; failing a probe or stepping down for them would only start another
//    climb, backed off. (A probe that overfills the link shows as a growing rtt.)
//  - Client hint: downlink_kbps below the current profile's link_min_kbps moves straight down to
//    the highest profile whose link_min_kbps <= the hint ("client-hint").
//  - Up, one step ("recovered"), from report() or tick(), only when: the clean period above has
//    passed since the last change, the last bad report and the first report; the latest loss,
//    if any, is <= loss_clean; the latest rtt, if any, is <= rtt_block_up_ms and not inflated;
//    and the latest downlink hint, if any, is >= the next profile's link_min_kbps * headroom.
//    Silence never steps down.
//  - Never below the lowest profile or above the highest; out-of-range indices are clamped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/profiles.hpp"

namespace gramothi {

// One observation of a listener's downlink. Absent fields are unknown; the controller remembers
// the latest known rtt and downlink hint. jitter_ms is accepted but not used in decisions yet.
struct LinkReport {
  int64_t now_ms = 0;
  std::optional<double> loss_fraction;  // 0..1 since the previous report (RTCP RR fraction lost)
  std::optional<double> rtt_ms;
  std::optional<double> jitter_ms;
  std::optional<int> downlink_kbps;  // the client's own estimate (navigator.connection.downlink)
  // The client is downloading slide images (true) or not (false), as it says; the latest known
  // value holds until the next report that carries one.
  std::optional<bool> downloading;
};

// reason: "loss", "client-hint", "recovered" or "pinned". "auto" is reserved for callers (e.g. the
// initial choice); the controller does not produce it.
struct ProfileDecision {
  size_t index = 0;
  std::string reason;
};

struct BandwidthTuning {
  double loss_down = 0.05;        // loss above this is "bad"
  int64_t sustain_ms = 1000;      // bad this long -> one step down (within 2 s with ~1 s reports)
  double loss_clean = 0.02;       // loss at or below this is "clean"
  int64_t clean_up_ms = 10000;    // clean this long since the last change or bad report -> step up
  double headroom = 1.25;         // a hint must be >= next link_min_kbps * headroom to step up
  double rtt_block_up_ms = 1000;  // rtt above this blocks stepping up
  int64_t start_clean_ms = 2500;  // the clean period while starting (before any failure)
  int64_t probe_window_ms = 10000;  // a step up is undone by a bad report this soon after
  // rtt this far above the lowest seen: a queue is building (probation, short probes, steps
  // up). On 2g-bad a short probe with 350 ms let the queue reach a third of a second (a run of
  // 326 ms concealed), and on 2g a step up filled the link for 2-4 s before its probation ended.
  double rtt_inflation_ms = 200;
  int64_t max_backoff_ms = 160000;    // the longest wait before trying a failed profile again
  double severe_loss = 0.25;          // loss above this goes straight to the lowest profile
  int64_t probe_ms = 3000;            // a redundancy probe starts this long before a step up
  int64_t probe_min_ms = 1000;        // ... and needs a clean report made this far into it
  int64_t probe_long_ms = 10000;      // ... both, once a step up has failed or the profile dropped
  int64_t probe_max_ms = 16000;       // ... and ends without a verdict after this long
  int64_t probe_ramp_ms = 10000;      // a long probe's redundancy reaches the full rate after this
  int64_t probe_full_ms = 4000;       // ... and it must have sent that rate this long to pass
  int64_t probe_max_long_ms = 30000;  // ... or it ends without a verdict after this long
  // A long probe fails on an rtt this far above the lowest. Its ramp crosses the rate of a link
  // too slow for it and the queue then grows faster and faster (on 2g-bad toward ultra-low with
  // RED, 70 kbit/s into 50: 100 ms after 1.5 s, 900 ms after 4.5 s): with 150 ms the report that
  // failed it came 3 s after the queue passed 100 ms, and 0.9 s of queue drained through the
  // student's 500 ms jitter buffer (runs of 400-450 ms concealed).
  double probe_rtt_inflation_ms = 100;
  // After a slide move no probe runs for this long: the image (at most 10 KB on 2g, paced at
  // about 2 KB/s) and a probe's redundancy together overfill a link the probe alone would not.
  int64_t slide_yield_ms = 6000;
  int64_t drain_ms = 5000;        // after a failed step up, loss does not step down for this long
  double loss_clean_red = 0.035;  // "clean" for a listener with RED (smoothed loss)
  double loss_down_red = 0.10;    // "bad" for a listener with RED (smoothed loss)
  double lossy_link = 0.01;       // a report with this much loss: a starting listener probes long
  // The client's downloads hold short probes only on a link whose lowest round trip is over
  // this: there the image's TCP bursts and a probe queue up together before a report shows it.
  double downloads_hold_rtt_ms = 250;
};

class BandwidthController {
 public:
  // Copies the profiles' link rates; `profiles` need not outlive the controller.
  BandwidthController(const ProfileSet &profiles, size_t initial_index,
                      BandwidthTuning tuning = {});

  // Feeds a report; returns a decision when the profile changes.
  std::optional<ProfileDecision> report(const LinkReport &r);
  // Time passing without reports (call e.g. once a second): may step up after a clean period when
  // the reports said clean; never steps down on silence alone.
  std::optional<ProfileDecision> tick(int64_t now_ms);
  // Pins a profile (clamped to the range), or returns to automatic (nullopt). Pinning returns a
  // "pinned" decision when the index differs from the current one; unpinning returns nullopt,
  // or a "loss" decision for the lowest profile when the latest report showed severe loss.
  std::optional<ProfileDecision> pin(std::optional<size_t> index, int64_t now_ms);

  // The owner's own step down to `index` ("loss"), when its listener's audio is about to cost
  // more at the current profile (RED coming on); nothing when pinned or not below the current.
  std::optional<ProfileDecision> make_room(size_t index, int64_t now_ms);

  size_t current() const { return current_; }
  bool pinned() const { return pinned_; }
  // Step ups are probed with redundancy first (see the rules); off until the owner knows the
  // listener takes RED.
  void set_probe_by_redundancy(bool on);
  bool probe_by_redundancy() const { return probe_by_redundancy_; }
  // A probe is under way: the owner sends the extra redundancy.
  bool probing() const { return probe_since_ms_.has_value(); }
  // How much of the extra redundancy the owner sends now (0..1): all of it at once in a short
  // probe; a long one ramps up over probe_ramp_ms, so that on a link too slow for the next
  // profile the queue starts growing slowly, late in the ramp, and the report that fails the
  // probe (up to a few seconds later) finds a small queue rather than a long one.
  double probe_share(int64_t now_ms) const;
  // The owner sent the probe's full rate for `ms` more (measured in bytes on the wire: speech
  // in variable-bitrate Opus costs its nominal rate, a pause far less, and a probe sent in a
  // pause shows nothing about the link). A long probe passes only with probe_full_ms of it.
  void probe_sent_at_rate(int64_t ms);
  // The teacher moved to another slide: its image goes to the student now (paced to what the
  // link leaves beside the audio, not beside a probe's redundancy too), so a probe under way
  // ends without a verdict and neither a probe nor a step up starts for tuning.slide_yield_ms.
  void yield_to_slide(int64_t now_ms);
  // The client said it is downloading slide images (LinkReport::downloading) in its latest
  // report that said either: on a long round trip (downloads_hold_rtt_ms), no short probe
  // (quick_probes) or step up while starting, and a short one under way ended.
  bool client_downloading() const { return client_downloading_; }

 private:
  size_t clamp(size_t index) const;
  size_t highest_fitting(int kbps) const;
  bool may_step_up(int64_t now_ms, int64_t early_ms = 0, bool to_probe = false) const;
  std::optional<ProfileDecision> climb(int64_t now_ms);  // the step up, or the probe before it
  void end_probe() { probe_since_ms_.reset(); }
  // Loss at or under this is clean: loss_clean, or loss_clean_red for a listener with RED.
  double clean_loss() const {
    return probe_by_redundancy_ ? tuning_.loss_clean_red : tuning_.loss_clean;
  }
  int64_t clean_needed_ms() const;
  // Short, jitter-tolerant probes: while starting on a link that has not shown loss. A lossy
  // link is no clean link to climb fast on, and one only slightly too slow for the next
  // profile fills its queue too slowly for a short probe to see.
  bool quick_probes() const { return starting_ && !seen_loss_; }
  bool rtt_inflated() const;
  // The client's downloads hold short probes now (client_downloading).
  bool downloads_hold() const {
    return client_downloading_ && quick_probes() && lowest_rtt_ms_ &&
           *lowest_rtt_ms_ > tuning_.downloads_hold_rtt_ms;
  }
  ProfileDecision change_to(size_t index, const char *reason, int64_t now_ms);

  std::vector<int> link_min_kbps_;  // per profile, lowest to highest
  BandwidthTuning tuning_;
  size_t current_ = 0;
  bool pinned_ = false;
  std::optional<int64_t> last_report_ms_;
  std::optional<int64_t> bad_since_ms_;    // set while a bad period is in progress
  std::optional<int64_t> clean_since_ms_;  // latest of: first report, last change, last bad report
  std::optional<double> latest_loss_;
  std::optional<double> latest_rtt_ms_;
  std::optional<int> latest_downlink_kbps_;
  std::optional<double> lowest_rtt_ms_;
  bool starting_ = true;                    // no failed step up, no step down yet
  std::optional<int64_t> stepped_up_ms_;    // the step up on probation, if any
  bool clean_report_since_change_ = false;  // evidence at the current profile
  std::vector<int> failures_;               // failed step ups into each profile
  bool probe_by_redundancy_ = false;
  std::optional<int64_t> probe_since_ms_;     // a redundancy probe of the next profile, under way
  std::optional<double> smoothed_loss_;       // over reports, halved each report
  bool probe_clean_ = false;                  // ... has had a clean report after probe_min_ms
  int64_t probe_full_ms_ = 0;                 // ... time it was sent at its full rate
  bool probe_quick_ = false;                  // ... started as a short one (quick_probes())
  std::optional<int64_t> drain_until_ms_;     // the queue of a failed step up drains until then
  bool seen_loss_ = false;                    // a report with loss >= lossy_link, ever
  std::optional<int64_t> no_probe_until_ms_;  // a slide's image goes first (yield_to_slide)
  bool client_downloading_ = false;           // ... as the client says (LinkReport::downloading)
};

}  // namespace gramothi
