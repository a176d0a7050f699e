// HS256 JSON Web Tokens, shared-secret with the school's backend.
// Claims: sub (user id), role (student|teacher|admin), exp (required), iat, nbf; iss and aud
// are checked when configured. Only HS256 is accepted: "none" and every other alg are refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include <string_view>

#include "base/error.hpp"
#include "base/role.hpp"

namespace gramothi {

struct TokenClaims {
  std::string user_id;
  Role role = Role::kStudent;
  int64_t issued_at = 0;   // unix seconds
  int64_t expires_at = 0;  // unix seconds
  // Optional claim "classes": the class ids the user is enrolled in, as the school's backend
  // says (at most kMaxClasses). Grants students the class's recordings even if they missed
  // every session.
  std::vector<std::string> classes{};
  static constexpr size_t kMaxClasses = 256;
};

class JwtCodec {
 public:
  static constexpr size_t kMaxTokenBytes = 4096;

  JwtCodec(std::string secret, std::string issuer = {}, std::string audience = {},
           int64_t leeway_s = 30);

  std::string sign(const TokenClaims &claims) const;
  // Errors (kUnauthorized): "token_invalid" (malformed, wrong signature, bad claims),
  // "token_expired", "token_not_yet_valid".
  Result<TokenClaims> verify(std::string_view token, int64_t now_s) const;

 private:
  std::string secret_, issuer_, audience_;
  int64_t leeway_s_;
};

// "Bearer <jwt>" -> the token. Errors (kUnauthorized): "token_missing", "token_invalid".
Result<std::string> bearer_token(const char *authorization_header);

}  // namespace gramothi
