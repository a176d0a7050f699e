// JSON Web Tokens, signed and verified by libjwt.
//   HS256: the server's own tokens, with the secret it shares with the school's backend.
//   RS256 / ES256: tokens from the school's identity provider, verified with its public keys
//   (a PEM key or a JSON Web Key Set), chosen by kid. The key set can be replaced while tokens
//   are verified (rotation without a restart).
// The alg is decided by the key, never by the token: "none" and every other alg are refused.
// Claims: the user (sub), the role (student|teacher|admin), exp (required, at most the configured
// maximum lifetime ahead), iat, nbf; iss and aud are checked when configured; the class grants
// "classes" and "teaches". Which claims carry the user, the role and the grants in provider
// tokens is configurable (ClaimNames). Every part must be canonical base64url.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Where an identity provider's tokens carry what the server needs. Each name is a claim, or a
// dotted path into nested objects when no claim has the whole name ("realm_access.roles").
// The defaults are the server's own claim names.
struct ClaimNames {
  std::string user = "sub";
  // A string, or an array of strings of which the highest role the server knows counts.
  std::string role = "role";
  std::string classes = "classes";
  std::string teaches = "teaches";
  // The provider's role names, mapped to ours ("editingteacher" -> teacher). When empty, our own
  // names (student, teacher, admin) count as themselves; when set, only the names listed count
  // (list ours too if the provider uses them). Other names are ignored.
  std::vector<std::pair<std::string, Role>> role_values{};
};

// The identity provider's public keys, each with its alg (RS256 for RSA of at least 2048 bits,
// ES256 for EC P-256) and kid.
class PublicKeys {
 public:
  static constexpr size_t kMaxKeys = 100;
  // A PEM public key. Errors (kInvalid, "config_invalid"): not a PEM public key, or another key
  // type or curve.
  std::optional<Error> add_pem(const std::string &pem, const std::string &kid = {});
  // Every signing key of a JSON Web Key Set ({"keys": [...]}, as identity providers publish it):
  // RSA keys (n, e) and EC P-256 keys (x, y), each with its kid; keys whose "use" is not "sig"
  // are skipped. Errors (kInvalid, "config_invalid") name the key that is wrong.
  std::optional<Error> add_jwks(std::string_view jwks_json);
  size_t size() const { return keys_.size(); }
  // "2 keys: RS256 kid 2026-11, ES256 kid ec-1" (for the log).
  std::string describe() const;

 private:
  friend class JwtCodec;
  struct Key {
    int alg;  // a libjwt jwt_alg_t
    std::string pem, kid;
  };
  std::vector<Key> keys_;
};

class JwtCodec {
 public:
  static constexpr size_t kMaxTokenBytes = 4096;

  static constexpr int64_t kDefaultMaxLifetime = 24 * 3600;

  JwtCodec(std::string secret, std::string issuer = {}, std::string audience = {},
           int64_t leeway_s = 30, int64_t max_lifetime_s = kDefaultMaxLifetime);

  // Also accepts tokens signed by the school's identity provider with these keys. `kid`
  // (optional) must match the token's header kid when both name one. Same errors as
  // PublicKeys; on error nothing is added.
  std::optional<Error> add_public_key(const std::string &pem, const std::string &kid = {});
  std::optional<Error> add_jwks(std::string_view jwks_json);
  // Replaces every provider key at once (rotation). Safe while other threads verify.
  void set_public_keys(PublicKeys keys);
  size_t public_key_count() const;
  // How provider tokens (RS256, ES256) name their claims; HS256 tokens always use the defaults.
  void set_claim_names(ClaimNames names) { names_ = std::move(names); }

  // HS256 with the shared secret, our claim names.
  std::string sign(const TokenClaims &claims) const;
  // Signed with a private key (PEM) as the identity provider would: RS256 for RSA, ES256 for EC
  // P-256, the claims named as set_claim_names says, `kid` in the header when given. For tests
  // and for schools that sign their own tokens with a key pair.
  // Errors (kInvalid, "key_invalid"): not a private RSA (>= 2048 bits) or EC P-256 key.
  Result<std::string> sign_with_key(const TokenClaims &claims, const std::string &private_pem,
                                    const std::string &kid = {}) const;
  // Errors (kUnauthorized): "token_invalid" (malformed, wrong signature, bad claims),
  // "token_expired", "token_not_yet_valid", "token_lifetime_too_long" (exp further ahead of now,
  // or of iat, than the maximum lifetime).
  Result<TokenClaims> verify(std::string_view token, int64_t now_s) const;

 private:
  std::shared_ptr<const PublicKeys> keys() const;
  std::string claims_json(const TokenClaims &c, const ClaimNames &names) const;

  std::string secret_, issuer_, audience_;
  int64_t leeway_s_;
  int64_t max_lifetime_s_;
  ClaimNames names_;
  mutable std::mutex keys_mutex_;
  std::shared_ptr<const PublicKeys> keys_ = std::make_shared<PublicKeys>();
};

// "Bearer <jwt>" -> the token. Errors (kUnauthorized): "token_missing", "token_invalid".
Result<std::string> bearer_token(const char *authorization_header);

}  // namespace gramothi
