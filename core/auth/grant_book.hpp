// GrantBook: the class grants of the tokens the server verified, found again from a principal.
// Principals cross the plugin ABI as plain data (user, role, expiry) without their grants; the
// host looks the grants up here when a plugin acts for a principal. A principal is keyed by
// (user, role, exp): two tokens alike in all three (the backend minted both for the user in
// the same second) share the union of their grants, which the user holds anyway. Entries end
// with their token.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "auth/jwt.hpp"

namespace gramothi {

class GrantBook {
 public:
  explicit GrantBook(int64_t leeway_s = 30) : leeway_s_(leeway_s) {}

  // Records the grants of verified claims (and now and then forgets expired tokens).
  void remember(const TokenClaims &claims, int64_t now_s);
  // Fills claims->classes and claims->teaches from the token the principal came from; leaves
  // them empty when no such token is known or it has expired.
  void fill(TokenClaims *claims, int64_t now_s) const;
  size_t size() const { return grants_.size(); }

 private:
  using Key = std::tuple<std::string, int, int64_t>;  // user, role, exp
  struct Grants {
    std::vector<std::string> classes, teaches;
  };
  static Key key(const TokenClaims &c);
  void forget_expired(int64_t now_s);

  int64_t leeway_s_;
  std::map<Key, Grants> grants_;
  size_t remembered_ = 0;
};

}  // namespace gramothi
