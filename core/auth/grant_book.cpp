#include "auth/grant_book.hpp"

#include <algorithm>

namespace gramothi {
namespace {

void merge(std::vector<std::string> *into, const std::vector<std::string> &from) {
  for (const auto &id : from)
    if (std::find(into->begin(), into->end(), id) == into->end()) into->push_back(id);
}

}  // namespace

GrantBook::Key GrantBook::key(const TokenClaims &c) {
  return {c.user_id, static_cast<int>(c.role), c.expires_at};
}

void GrantBook::remember(const TokenClaims &claims, int64_t now_s) {
  if (++remembered_ % 256 == 0) forget_expired(now_s);
  if (claims.classes.empty() && claims.teaches.empty()) return;
  Grants &g = grants_[key(claims)];
  merge(&g.classes, claims.classes);
  merge(&g.teaches, claims.teaches);
}

void GrantBook::fill(TokenClaims *claims, int64_t now_s) const {
  claims->classes.clear();
  claims->teaches.clear();
  if (now_s - leeway_s_ >= claims->expires_at) return;
  auto it = grants_.find(key(*claims));
  if (it == grants_.end()) return;
  claims->classes = it->second.classes;
  claims->teaches = it->second.teaches;
}

void GrantBook::forget_expired(int64_t now_s) {
  std::erase_if(grants_,
                [&](const auto &entry) { return now_s - leeway_s_ >= std::get<2>(entry.first); });
}

}  // namespace gramothi
