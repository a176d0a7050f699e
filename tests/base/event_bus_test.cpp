#include "base/event_bus.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace gramothi;

namespace {
void iterate_until_idle() {
  while (g_main_context_iteration(nullptr, FALSE)) {
  }
}
}  // namespace

TEST(EventBus, DeliversByPrefixAfterThePublisherReturns) {
  EventBus bus;
  std::vector<std::string> got;
  bus.subscribe("class.",
                [&](const std::string &t, const std::string &p) { got.push_back(t + p); });
  bus.subscribe("other",
                [&](const std::string &t, const std::string &) { got.push_back("X" + t); });
  bus.publish("class.started", "{}");
  EXPECT_TRUE(got.empty()) << "delivery must not happen inside publish()";
  iterate_until_idle();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "class.started{}");
}

TEST(EventBus, SubscriberMayUnsubscribeItselfAndOthersDuringDelivery) {
  EventBus bus;
  int a = 0, b = 0;
  int64_t id_b = 0;
  int64_t id_a = 0;
  id_a = bus.subscribe("t", [&](const std::string &, const std::string &) {
    a++;
    bus.unsubscribe(id_a);
    bus.unsubscribe(id_b);
  });
  id_b = bus.subscribe("t", [&](const std::string &, const std::string &) { b++; });
  bus.publish("t", "{}");
  bus.publish("t", "{}");
  iterate_until_idle();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
}
