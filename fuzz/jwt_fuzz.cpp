// Token verification as every request and WebSocket meets it (JwtCodec::verify behind
// bearer_token): the server's HS256 secret, an identity provider's RSA key (RS256) and EC P-256
// key (ES256) configured at once, issuer and audience checked. Whatever the token, verify
// answers an error or claims that hold what the server relies on.
//
// Input: the first byte picks what the rest is:
//   0: the Authorization header value ("Bearer " is put in front unless it starts with "B"),
//   1: header JSON, a newline, payload JSON: signed here with the server's secret, so the
//      claims parser runs on every input (unsigned bytes never get past the signature),
//   2: a JSON Web Key Set for add_jwks (operator configuration, read at start).
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "auth/jwt.hpp"
#include "base/ids.hpp"
#include "base/secrets.hpp"
#include "common/test_keys.hpp"
#include "fuzz_support.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "fuzz-secret-0123456789abcdef-0123456789";
constexpr int64_t kNow = 1790000000;
constexpr int64_t kLeeway = 30, kMaxLifetime = 24 * 3600;

std::string public_pem_of(const char *type) {
  return make_test_key(type).public_pem;
}

const JwtCodec &codec() {
  // Made once and kept (reachable) for the process: the codec holds a mutex, so it is not copied.
  static const JwtCodec *jwt = [] {
    auto *c = new JwtCodec(kSecret, "school", "gramothi", kLeeway, kMaxLifetime);
    FUZZ_CHECK(!c->add_public_key(public_pem_of("RSA"), "rsa-1"));
    FUZZ_CHECK(!c->add_public_key(public_pem_of("EC"), "ec-1"));
    // Provider tokens with Keycloak-style claims, as a school would configure them.
    c->set_claim_names(
        ClaimNames{"sub",
                   "realm_access.roles",
                   "classes",
                   "teaches",
                   {{"student", Role::kStudent}, {"editingteacher", Role::kTeacher}}});
    return c;
  }();
  return *jwt;
}

void check_claims(const Result<TokenClaims> &r) {
  if (!r) {
    FUZZ_CHECK(r.error().kind == ErrorKind::kUnauthorized);
    return;
  }
  FUZZ_CHECK(valid_user_id(r->user_id));
  FUZZ_CHECK(r->expires_at > kNow - kLeeway);
  FUZZ_CHECK(r->expires_at - kNow <= kMaxLifetime + kLeeway);
  FUZZ_CHECK(r->classes.size() <= TokenClaims::kMaxClasses);
  FUZZ_CHECK(r->teaches.size() <= TokenClaims::kMaxClasses);
  for (const auto &id : r->classes)
    FUZZ_CHECK(valid_class_id(id));
  for (const auto &id : r->teaches)
    FUZZ_CHECK(valid_class_id(id));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  uint8_t mode = data[0] % 3;
  std::string rest(reinterpret_cast<const char *>(data + 1), size - 1);
  if (rest.find('\0') != std::string::npos && mode != 2) return 0;  // headers carry no NUL
  switch (mode) {
    case 0: {
      std::string header = !rest.empty() && rest[0] == 'B' ? rest : "Bearer " + rest;
      auto token = bearer_token(header.c_str());
      if (!token) break;
      check_claims(codec().verify(*token, kNow));
      break;
    }
    case 1: {
      auto [header, payload] = fuzz::split_first(data + 1, size - 1, '\n');
      std::string input = base64url_encode(header) + "." + base64url_encode(payload);
      std::string token = input + "." + base64url_encode(hmac(G_CHECKSUM_SHA256, kSecret, input));
      check_claims(codec().verify(token, kNow));
      break;
    }
    case 2: {
      JwtCodec c(kSecret);
      if (auto e = c.add_jwks(rest)) FUZZ_CHECK(e->code == "config_invalid");
      break;
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  fuzz::quiet_logs();
  codec();
  return 0;
}
