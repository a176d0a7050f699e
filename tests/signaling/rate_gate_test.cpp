// RateGate on exact timelines: the burst passes, one warning a second beyond it, a flood at
// 10 × the rate is closed within seconds and 4 × never is.
#include "../../plugins/signaling/rate_gate.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>

using gramothi::signaling::RateGate;
using Verdict = RateGate::Verdict;

namespace {

constexpr int64_t kSecond = 1000000;

// Sends `per_second` messages a second for `seconds` from `start_us`; counts the verdicts and
// stops at the first kClose (its time in *closed_at_us).
std::map<Verdict, int> run(RateGate &gate, double per_second, double seconds, int64_t start_us = 0,
                           int64_t *closed_at_us = nullptr) {
  std::map<Verdict, int> n;
  auto step = static_cast<int64_t>(kSecond / per_second);
  for (int64_t t = start_us; t < start_us + static_cast<int64_t>(seconds * kSecond); t += step) {
    Verdict v = gate.admit(t);
    n[v]++;
    if (v == Verdict::kClose) {
      if (closed_at_us) *closed_at_us = t;
      break;
    }
  }
  return n;
}

}  // namespace

TEST(RateGate, AtTheRateEverythingPasses) {
  RateGate gate(20);
  auto n = run(gate, 20, 60);
  EXPECT_EQ(n[Verdict::kPass], 1200);
  EXPECT_EQ(n.size(), 1u);
}

TEST(RateGate, ABurstOfFiveSecondsWorthPassesAtOnce) {
  RateGate gate(20);
  for (int i = 0; i < 100; i++)
    ASSERT_EQ(gate.admit(0), Verdict::kPass) << i;
  EXPECT_EQ(gate.admit(0), Verdict::kWarn);
  EXPECT_EQ(gate.admit(0), Verdict::kDrop);
  EXPECT_EQ(gate.admit(kSecond / 20), Verdict::kPass) << "refilled at the rate";
}

TEST(RateGate, BeyondTheRateOneWarningASecond) {
  RateGate gate(10);
  auto n = run(gate, 40, 10);
  EXPECT_EQ(n[Verdict::kClose], 0) << "4 × the rate is dropped, not closed";
  EXPECT_EQ(n[Verdict::kPass], 50 + 100 - 1);  // the burst, then the rate (one tick short)
  EXPECT_GE(n[Verdict::kWarn], 8);
  EXPECT_LE(n[Verdict::kWarn], 10);
  EXPECT_GT(n[Verdict::kDrop], 200);
}

TEST(RateGate, TenTimesTheRateIsClosedWithinFiveSeconds) {
  RateGate gate(20);
  int64_t closed_at = -1;
  auto n = run(gate, 200, 30, 0, &closed_at);
  ASSERT_EQ(n[Verdict::kClose], 1);
  // The burst lasts 100 / 180 s; then the excess grows by 80 a second to 300.
  EXPECT_GE(closed_at, 4 * kSecond);
  EXPECT_LE(closed_at, 5 * kSecond);
  EXPECT_LE(n[Verdict::kWarn], 5);
}

TEST(RateGate, AFloodWithoutPauseIsClosedAtOnce) {
  RateGate gate(20);
  int closed_after = 0;
  for (int i = 1; i <= 100000; i++)
    if (gate.admit(i) == Verdict::kClose) {
      closed_after = i;
      break;
    }
  EXPECT_NEAR(closed_after, 100 + 300, 2) << "the burst, then 15 × the rate of excess";
}

TEST(RateGate, ExcessDrainsWhenTheClientSlowsDown) {
  RateGate gate(10);
  run(gate, 100, 3);  // builds excess, not yet closed
  // A quiet minute, then another short flood: it starts from a full burst and no excess.
  int64_t closed_at = -1;
  auto n = run(gate, 100, 3, 63 * kSecond, &closed_at);
  EXPECT_EQ(n[Verdict::kClose], 0);
  EXPECT_EQ(n[Verdict::kPass], 50 + 30 - 1);
}
