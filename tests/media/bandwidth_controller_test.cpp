#include "media/bandwidth_controller.hpp"

#include <glib.h>
#include <gtest/gtest.h>

#include <ostream>
#include <vector>

using namespace gramothi;

namespace {

// Indices into the shipped profiles.ini.
constexpr size_t kUltraLow = 0, kLow = 1, kMedium = 2, kHigh = 3;

// Loads pipelines/profiles.ini and checks the link rates these tests are written against.
::testing::AssertionResult load_shipped(ProfileSet *out) {
  const char *root = g_getenv("GRAMOTHI_SOURCE_ROOT");
  if (!root) return ::testing::AssertionFailure() << "GRAMOTHI_SOURCE_ROOT is not set";
  auto r = ProfileSet::load(std::string(root) + "/pipelines/profiles.ini");
  if (!r.ok()) return ::testing::AssertionFailure() << r.error().message;
  std::vector<int> link_min;
  for (const auto &p : r->all())
    link_min.push_back(p.link_min_kbps);
  if (link_min != std::vector<int>{0, 64, 128, 256})
    return ::testing::AssertionFailure() << "unexpected link_min_kbps in profiles.ini";
  *out = *r;
  return ::testing::AssertionSuccess();
}

// A profile change, and when it happened.
struct Change {
  int64_t at_ms;
  size_t index;
  std::string reason;
  bool operator==(const Change &) const = default;
};

std::ostream &operator<<(std::ostream &os, const Change &c) {
  return os << "{" << c.at_ms << " ms -> " << c.index << " " << c.reason << "}";
}

LinkReport loss_at(int64_t now_ms, double loss) {
  LinkReport r;
  r.now_ms = now_ms;
  r.loss_fraction = loss;
  return r;
}

// Sends `shape` every `every_ms` from `from_ms` to `to_ms` inclusive; records the changes.
std::vector<Change> feed(BandwidthController &c, int64_t from_ms, int64_t to_ms, int64_t every_ms,
                         LinkReport shape) {
  std::vector<Change> changes;
  for (int64_t t = from_ms; t <= to_ms; t += every_ms) {
    shape.now_ms = t;
    if (auto d = c.report(shape)) changes.push_back({t, d->index, d->reason});
  }
  return changes;
}

std::vector<Change> ticks(BandwidthController &c, int64_t from_ms, int64_t to_ms,
                          int64_t every_ms) {
  std::vector<Change> changes;
  for (int64_t t = from_ms; t <= to_ms; t += every_ms)
    if (auto d = c.tick(t)) changes.push_back({t, d->index, d->reason});
  return changes;
}

using Changes = std::vector<Change>;

}  // namespace

TEST(BandwidthController, StepsDownWithinTwoSecondsOfLossAboveFivePercent) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));

  // Reports every 950 ms; loss (8%) starts just after the report at 950 ms. The first lossy
  // report covers only 950 ms, so the step lands on the second one.
  BandwidthController c(profiles, kHigh);
  EXPECT_EQ(feed(c, 0, 950, 950, loss_at(0, 0.0)), Changes{});
  const int64_t loss_started_ms = 951;
  Changes changes = feed(c, 1900, 2850, 950, loss_at(0, 0.08));
  ASSERT_EQ(changes, (Changes{{2850, kMedium, "loss"}}));
  EXPECT_LE(changes[0].at_ms - loss_started_ms, 2000);

  // With 1 s reports, one lossy report already covers sustain_ms.
  BandwidthController d(profiles, kHigh);
  EXPECT_EQ(feed(d, 0, 1000, 1000, loss_at(0, 0.0)), Changes{});
  EXPECT_EQ(feed(d, 2000, 2000, 1000, loss_at(0, 0.08)), (Changes{{2000, kMedium, "loss"}}));

  // Exactly 5% is not above the threshold.
  BandwidthController e(profiles, kHigh);
  EXPECT_EQ(feed(e, 0, 10000, 1000, loss_at(0, 0.05)), Changes{});
  EXPECT_EQ(e.current(), kHigh);
}

TEST(BandwidthController, StaysPutOnBriefLoss) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kMedium);

  // 500 ms reports: heavy loss in single reports (the very first one included), each ended by a
  // clean or an in-between (3%) report, so no bad period reaches 1 s.
  Changes changes;
  for (int64_t t = 0; t <= 10000; t += 500) {
    double loss = 0.0;
    if (t == 0 || t == 1500 || t == 3000 || t == 4500) loss = 0.30;
    if (t == 3500) loss = 0.03;
    if (auto d = c.report(loss_at(t, loss))) changes.push_back({t, d->index, d->reason});
  }
  EXPECT_EQ(changes, Changes{});
  EXPECT_EQ(c.current(), kMedium);
}

TEST(BandwidthController, KeepsSteppingDownWhileLossContinues) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kHigh);

  EXPECT_EQ(feed(c, 0, 0, 500, loss_at(0, 0.0)), Changes{});
  // 20% loss from 0 ms on, reported every 500 ms: one step per second, then stays at the lowest.
  EXPECT_EQ(feed(c, 500, 8000, 500, loss_at(0, 0.20)), (Changes{
                                                           {1000, kMedium, "loss"},
                                                           {2000, kLow, "loss"},
                                                           {3000, kUltraLow, "loss"},
                                                       }));
  EXPECT_EQ(c.current(), kUltraLow);
}

TEST(BandwidthController, StepsUpOnlyAfterTenSecondsClean) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kLow);

  // Clean from the first report (0 ms): up at 10 s, not before.
  EXPECT_EQ(feed(c, 0, 15000, 500, loss_at(0, 0.0)), (Changes{{10000, kMedium, "recovered"}}));
  // A brief bad report at 15.5 s restarts the clock: no step at 20 s (10 s after the change),
  // one at 25.5 s (10 s after the bad report).
  EXPECT_EQ(feed(c, 15500, 15500, 500, loss_at(0, 0.20)), Changes{});
  EXPECT_EQ(feed(c, 16000, 40000, 500, loss_at(0, 0.0)), (Changes{{25500, kHigh, "recovered"}}));
  EXPECT_EQ(c.current(), kHigh);
}

TEST(BandwidthController, InBetweenLossHoldsTheProfile) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kLow);

  // 3% is neither bad (no step down) nor clean (no step up).
  EXPECT_EQ(feed(c, 0, 30000, 1000, loss_at(0, 0.03)), Changes{});
  // It does not restart the clean clock either: the first clean report steps up at once.
  EXPECT_EQ(feed(c, 31000, 31000, 1000, loss_at(0, 0.01)),
            (Changes{{31000, kMedium, "recovered"}}));
}

TEST(BandwidthController, NeedsHeadroomFromTheClientHintToStepUp) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kLow);

  // medium needs 128 * 1.25 = 160 kbit/s: 159 holds (and is no reason to step down).
  LinkReport r = loss_at(0, 0.0);
  r.downlink_kbps = 159;
  EXPECT_EQ(feed(c, 0, 30000, 1000, r), Changes{});
  EXPECT_EQ(c.current(), kLow);

  // 160 is enough for medium, but not for high (needs 320).
  r.downlink_kbps = 160;
  EXPECT_EQ(feed(c, 31000, 60000, 1000, r), (Changes{{31000, kMedium, "recovered"}}));
  EXPECT_EQ(c.current(), kMedium);
}

TEST(BandwidthController, HighRttBlocksSteppingUp) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kLow);

  LinkReport r = loss_at(0, 0.0);
  r.rtt_ms = 1500;
  EXPECT_EQ(feed(c, 0, 30000, 1000, r), Changes{});
  EXPECT_EQ(c.current(), kLow);

  r.rtt_ms = 900;
  EXPECT_EQ(feed(c, 31000, 31000, 1000, r), (Changes{{31000, kMedium, "recovered"}}));
}

TEST(BandwidthController, AHintBelowTheProfileMovesStraightDown) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kHigh);

  LinkReport r;
  r.now_ms = 0;
  r.downlink_kbps = 70;  // fits low (64), not medium (128): skips medium
  auto d = c.report(r);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, kLow);
  EXPECT_EQ(d->reason, "client-hint");

  r.now_ms = 1000;
  r.downlink_kbps = 20;
  d = c.report(r);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, kUltraLow);
  EXPECT_EQ(d->reason, "client-hint");

  // A hint at the profile's link_min_kbps fits it.
  BandwidthController e(profiles, kHigh);
  r.now_ms = 0;
  r.downlink_kbps = 256;
  EXPECT_FALSE(e.report(r));
  r.now_ms = 1000;
  r.downlink_kbps = 255;
  d = e.report(r);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, kMedium);
}

TEST(BandwidthController, PinnedProfileIgnoresReports) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kLow);

  auto d = c.pin(kHigh, 0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, kHigh);
  EXPECT_EQ(d->reason, "pinned");
  EXPECT_TRUE(c.pinned());

  // Heavy loss and a tiny hint: no change.
  LinkReport bad = loss_at(0, 0.5);
  bad.downlink_kbps = 10;
  EXPECT_EQ(feed(c, 1000, 20000, 1000, bad), Changes{});
  EXPECT_EQ(c.current(), kHigh);
  EXPECT_FALSE(c.pin(kHigh, 21000));  // same index: nothing to do

  // Pinned low, clean reports and ticks with a big hint: no step up.
  d = c.pin(kUltraLow, 22000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, kUltraLow);
  LinkReport good = loss_at(0, 0.0);
  good.downlink_kbps = 100000;
  EXPECT_EQ(feed(c, 23000, 60000, 1000, good), Changes{});
  EXPECT_EQ(ticks(c, 60500, 90500, 1000), Changes{});
  EXPECT_EQ(c.current(), kUltraLow);
  EXPECT_TRUE(c.pinned());
}

TEST(BandwidthController, UnpinningResumesAdaptation) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));
  BandwidthController c(profiles, kLow);

  ASSERT_TRUE(c.pin(kHigh, 0));
  EXPECT_EQ(feed(c, 1000, 5000, 1000, loss_at(0, 0.30)), Changes{});
  // Unpinning stays put...
  EXPECT_FALSE(c.pin(std::nullopt, 5500));
  EXPECT_FALSE(c.pinned());
  EXPECT_EQ(c.current(), kHigh);
  // ...then loss moves it again.
  EXPECT_EQ(feed(c, 6000, 6000, 1000, loss_at(0, 0.30)), (Changes{{6000, kMedium, "loss"}}));

  // Pinned to the lowest at 10 s and unpinned at 15 s: steps up 10 s clean after the unpin.
  ASSERT_TRUE(c.pin(kUltraLow, 10000));
  EXPECT_EQ(feed(c, 11000, 14000, 1000, loss_at(0, 0.0)), Changes{});
  EXPECT_FALSE(c.pin(std::nullopt, 15000));
  EXPECT_EQ(feed(c, 16000, 34000, 1000, loss_at(0, 0.0)), (Changes{{25000, kLow, "recovered"}}));
}

TEST(BandwidthController, TicksStepUpAfterCleanReportsButNeverDownOnSilence) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));

  BandwidthController c(profiles, kMedium);
  EXPECT_FALSE(c.report(loss_at(0, 0.0)));
  EXPECT_EQ(ticks(c, 1000, 15000, 1000), (Changes{{10000, kHigh, "recovered"}}));

  // The last report was bad: silence neither steps down nor up.
  BandwidthController d(profiles, kMedium);
  EXPECT_FALSE(d.report(loss_at(0, 0.5)));
  EXPECT_EQ(ticks(d, 1000, 60000, 1000), Changes{});
  EXPECT_EQ(d.current(), kMedium);

  // No reports at all: no evidence, no change.
  BandwidthController e(profiles, kLow);
  EXPECT_EQ(ticks(e, 0, 60000, 1000), Changes{});
  EXPECT_EQ(e.current(), kLow);
}

TEST(BandwidthController, NeverLeavesTheProfileRange) {
  ProfileSet profiles;
  ASSERT_TRUE(load_shipped(&profiles));

  // Past the top is clamped to the highest; a clean, fast link cannot go further.
  BandwidthController top(profiles, 99);
  EXPECT_EQ(top.current(), kHigh);
  LinkReport good = loss_at(0, 0.0);
  good.downlink_kbps = 100000;
  EXPECT_EQ(feed(top, 0, 60000, 1000, good), Changes{});
  EXPECT_EQ(ticks(top, 60500, 90500, 1000), Changes{});
  EXPECT_EQ(top.current(), kHigh);

  // Heavy loss and a 1 kbit/s hint at the lowest: stays at the lowest.
  BandwidthController bottom(profiles, kUltraLow);
  LinkReport bad = loss_at(0, 0.9);
  bad.downlink_kbps = 1;
  EXPECT_EQ(feed(bottom, 0, 10000, 500, bad), Changes{});
  EXPECT_EQ(bottom.current(), kUltraLow);

  // Pinning past the top is clamped too.
  auto d = bottom.pin(99, 11000);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->index, kHigh);
}
