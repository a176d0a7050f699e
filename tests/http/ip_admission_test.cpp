// IpAdmission on exact timelines: caps on open connections per address and in total, the token
// bucket for new connections (burst, then the steady rate), and how addresses are keyed.
#include "http/ip_admission.hpp"

#include <gtest/gtest.h>

using namespace gramothi;
using Verdict = IpAdmission::Verdict;

namespace {

constexpr int64_t kSecond = 1000000;

ConnectionLimits limits(size_t total, size_t per_ip, double rate, double burst) {
  ConnectionLimits l;
  l.max_connections = total;
  l.max_connections_per_ip = per_ip;
  l.new_per_ip_per_second = rate;
  l.new_per_ip_burst = burst;
  return l;
}

std::string key(const char *text) {
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string(text);
  return client_address_key(a);
}

TEST(IpAdmission, RefusesTheConnectionOverTheAddressCapUntilOneCloses) {
  IpAdmission a(limits(100, 3, 1000, 1000));
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAddressFull);
  EXPECT_EQ(a.admit("10.0.0.2", 0), Verdict::kAdmit);
  a.release("10.0.0.1");
  EXPECT_EQ(a.open_from("10.0.0.1"), 2u);
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmit);
  EXPECT_EQ(a.open(), 4u);
}

TEST(IpAdmission, RefusesEveryAddressAtTheServerCap) {
  IpAdmission a(limits(2, 10, 1000, 1000));
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.2", 0), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.3", 0), Verdict::kServerFull);
  a.release("10.0.0.2");
  EXPECT_EQ(a.admit("10.0.0.3", 0), Verdict::kAdmit);
}

TEST(IpAdmission, AllowsABurstThenTheSteadyRate) {
  IpAdmission a(limits(1000, 1000, 2, 5));
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmit) << i;
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kTooFast);
  EXPECT_EQ(a.admit("10.0.0.1", kSecond / 4), Verdict::kTooFast);  // half a token
  EXPECT_EQ(a.admit("10.0.0.1", kSecond / 2), Verdict::kAdmit);    // one token
  EXPECT_EQ(a.admit("10.0.0.1", kSecond / 2), Verdict::kTooFast);
  // Ten seconds later the bucket holds the burst, not twenty.
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(a.admit("10.0.0.1", 10 * kSecond), Verdict::kAdmit) << i;
  EXPECT_EQ(a.admit("10.0.0.1", 10 * kSecond), Verdict::kTooFast);
  EXPECT_EQ(a.admit("10.0.0.2", 10 * kSecond), Verdict::kAdmit);
}

TEST(IpAdmission, RefusalsSpendNoTokens) {
  IpAdmission a(limits(1000, 1, 1, 2));
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmit);
  for (int i = 0; i < 10; i++)
    EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAddressFull);
  a.release("10.0.0.1");
  EXPECT_EQ(a.admit("10.0.0.1", 0), Verdict::kAdmit);  // the second token of the burst
}

TEST(IpAdmission, ForgetsAnAddressOnlyOnceItsBucketRefilled) {
  IpAdmission a(limits(1000, 1000, 1, 3));
  for (int i = 0; i < 3; i++)
    a.admit("10.0.0.1", 0);
  for (int i = 0; i < 3; i++)
    a.release("10.0.0.1");
  a.forget_idle(kSecond);
  EXPECT_EQ(a.addresses(), 1u) << "forgetting it now would hand out a fresh burst";
  EXPECT_EQ(a.admit("10.0.0.1", kSecond), Verdict::kAdmit);
  EXPECT_EQ(a.admit("10.0.0.1", kSecond), Verdict::kTooFast);
  a.release("10.0.0.1");
  a.forget_idle(4 * kSecond);
  EXPECT_EQ(a.addresses(), 0u);
}

TEST(IpAdmission, KeysIpv4AsIsAndIpv6ByItsSlash64) {
  EXPECT_EQ(key("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(key("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(key("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  EXPECT_NE(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
}

}  // namespace
