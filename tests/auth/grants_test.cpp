// The host's memory of token grants (GrantBook) and link tickets (LinkTickets).
#include <gtest/gtest.h>

#include "auth/grant_book.hpp"
#include "auth/link_ticket.hpp"

using namespace gramothi;

namespace {

constexpr int64_t kNow = 1790000000;

TokenClaims token(const std::string &user, Role role, int64_t exp,
                  std::vector<std::string> classes = {}, std::vector<std::string> teaches = {}) {
  TokenClaims c;
  c.user_id = user;
  c.role = role;
  c.expires_at = exp;
  c.classes = std::move(classes);
  c.teaches = std::move(teaches);
  return c;
}

}  // namespace

TEST(GrantBook, APrincipalGetsTheGrantsOfTheTokenItCameFrom) {
  GrantBook book(30);
  book.remember(token("u", Role::kStudent, kNow + 600, {"math"}), kNow);
  book.remember(token("u", Role::kStudent, kNow + 900, {"art"}), kNow);
  TokenClaims p = token("u", Role::kStudent, kNow + 600);
  book.fill(&p, kNow);
  EXPECT_EQ(p.classes, std::vector<std::string>{"math"});
  TokenClaims q = token("u", Role::kStudent, kNow + 900);
  book.fill(&q, kNow);
  EXPECT_EQ(q.classes, std::vector<std::string>{"art"});
  // Same user and expiry, another role: another token.
  TokenClaims r = token("u", Role::kTeacher, kNow + 600, {"stale"});
  book.fill(&r, kNow);
  EXPECT_TRUE(r.classes.empty());
  // Expired: nothing, whatever the principal says.
  book.fill(&p, kNow + 600 + 30);
  EXPECT_TRUE(p.classes.empty());
}

TEST(GrantBook, ExpiredTokensAreForgotten) {
  GrantBook book(0);
  for (int i = 0; i < 300; i++)
    book.remember(token("u" + std::to_string(i), Role::kStudent, kNow + 10, {"c"}), kNow);
  EXPECT_EQ(book.size(), 300u);
  for (int i = 0; i < 256; i++)
    book.remember(token("v", Role::kStudent, kNow + 1000, {"c"}), kNow + 20);
  EXPECT_EQ(book.size(), 1u);
}

TEST(LinkTickets, ATicketOpensItsScopeUntilItExpires) {
  LinkTickets tickets("0123456789abcdef0123456789abcdef");
  std::string t = tickets.sign("s1", Role::kStudent, "recording/audio:r1", kNow + 60);
  auto ok = tickets.verify(t, "recording/audio:r1", kNow);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->user_id, "s1");
  EXPECT_EQ(ok->role, Role::kStudent);
  EXPECT_EQ(ok->expires_at, kNow + 60);
  EXPECT_EQ(tickets.verify(t, "recording/audio:r2", kNow).error().code, "ticket_invalid");
  EXPECT_EQ(tickets.verify(t, "recording/audio:r1", kNow + 60).error().code, "ticket_expired");
  LinkTickets other("another-secret-0123456789abcdef-0123");
  EXPECT_EQ(other.verify(t, "recording/audio:r1", kNow).error().code, "ticket_invalid");
  std::string tampered = t;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(tickets.verify(tampered, "recording/audio:r1", kNow).ok());
  EXPECT_FALSE(tickets.verify("", "recording/audio:r1", kNow).ok());
  EXPECT_FALSE(tickets.verify(std::string(5000, 'a'), "recording/audio:r1", kNow).ok());
}
