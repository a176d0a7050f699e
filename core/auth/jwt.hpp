// HS256 JSON Web Tokens, shared-secret with the school's backend.
// Claims: sub (user id), role (student|teacher|admin), exp (required, at most the configured
// maximum lifetime ahead), iat, nbf; iss and aud are checked when configured; the class grants
// "classes" and "teaches". Only HS256 is accepted: "none" and every other alg are refused. Every
// part must be canonical base64url.
#pragma once

#include <cstdint>
#include <optional>
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
  // Class grants, as the school's backend issues them (each at most kMaxClasses ids):
  //   "classes": the classes the user may attend (listen, chat, see slides and recordings);
  //   "teaches": the classes the user teaches (start, stop, upload, move slides, see the
  //              roster); counts only for teachers and admins, and implies attending.
  std::vector<std::string> classes{};
  std::vector<std::string> teaches{};
  static constexpr size_t kMaxClasses = 256;
};

class JwtCodec {
 public:
  static constexpr size_t kMaxTokenBytes = 4096;

  static constexpr int64_t kDefaultMaxLifetime = 24 * 3600;

  JwtCodec(std::string secret, std::string issuer = {}, std::string audience = {},
           int64_t leeway_s = 30, int64_t max_lifetime_s = kDefaultMaxLifetime);

  // Also accepts tokens signed by the school's identity provider with this public key (PEM):
  // RS256 for an RSA key, ES256 for an EC P-256 key, the alg decided by the key, never by the
  // token. `kid` (optional) must then match the token's header kid when the token names one.
  // Errors (kInvalid, "config_invalid"): not a PEM public key, or another key type or curve.
  std::optional<Error> add_public_key(const std::string &pem, const std::string &kid = {});
  // Every signing key of a JSON Web Key Set ({"keys": [...]}, as identity providers publish it):
  // RSA keys (n, e) and EC P-256 keys (x, y), each with its kid; keys whose "use" is not "sig"
  // are skipped. Errors (kInvalid, "config_invalid") name the key that is wrong.
  std::optional<Error> add_jwks(std::string_view jwks_json);

  std::string sign(const TokenClaims &claims) const;
  // Errors (kUnauthorized): "token_invalid" (malformed, wrong signature, bad claims),
  // "token_expired", "token_not_yet_valid", "token_lifetime_too_long" (exp further ahead of now,
  // or of iat, than the maximum lifetime).
  Result<TokenClaims> verify(std::string_view token, int64_t now_s) const;

 private:
  struct PublicKey {
    int alg;  // a libjwt jwt_alg_t
    std::string pem, kid;
  };
  std::string secret_, issuer_, audience_;
  int64_t leeway_s_;
  int64_t max_lifetime_s_;
  std::vector<PublicKey> public_keys_;
};

// "Bearer <jwt>" -> the token. Errors (kUnauthorized): "token_missing", "token_invalid".
Result<std::string> bearer_token(const char *authorization_header);

}  // namespace gramothi
