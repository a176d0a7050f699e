#include "auth/jwt.hpp"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/turn.hpp"
#include "base/secrets.hpp"
#include "common/test_keys.hpp"

using namespace gramothi;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-secret";
constexpr int64_t kNow = 1790000000;

TokenClaims claims(const std::string &user, Role role, int64_t ttl = 600) {
  TokenClaims c;
  c.user_id = user;
  c.role = role;
  c.issued_at = kNow;
  c.expires_at = kNow + ttl;
  return c;
}

// Builds a token from raw header/payload JSON, signed with `secret`.
std::string forge(const std::string &header, const std::string &payload,
                  const std::string &secret = kSecret) {
  std::string input = base64url_encode(header) + "." + base64url_encode(payload);
  return input + "." + base64url_encode(hmac(G_CHECKSUM_SHA256, secret, input));
}

}  // namespace

TEST(Jwt, SignedTokenVerifiesWithItsClaims) {
  JwtCodec jwt(kSecret);
  auto r = jwt.verify(jwt.sign(claims("teacher-7", Role::kTeacher)), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user_id, "teacher-7");
  EXPECT_EQ(r->role, Role::kTeacher);
  EXPECT_EQ(r->expires_at, kNow + 600);
}

TEST(Jwt, MatchesAnIndependentlyComputedHs256Signature) {
  // Header/payload/signature computed with the JWT spec's construction by hand, so the codec is
  // checked against the standard, not against itself.
  JwtCodec jwt(kSecret);
  std::string token =
      forge(R"({"alg":"HS256","typ":"JWT"})", R"({"sub":"s1","role":"student","exp":1790000600})");
  auto r = jwt.verify(token, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user_id, "s1");
  EXPECT_EQ(r->role, Role::kStudent);
}

TEST(Jwt, ExpiredTokenIsRefusedAsExpired) {
  JwtCodec jwt(kSecret, "", "", 30);
  std::string t = jwt.sign(claims("s1", Role::kStudent, 60));
  EXPECT_TRUE(jwt.verify(t, kNow + 60 + 29).ok()) << "within leeway";
  auto r = jwt.verify(t, kNow + 60 + 30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "token_expired");
  EXPECT_EQ(r.error().kind, ErrorKind::kUnauthorized);
}

TEST(Jwt, WrongSecretTamperingAndAlgNoneAreRefused) {
  JwtCodec jwt(kSecret);
  JwtCodec other("another-secret-another-secret-another");
  std::string t = other.sign(claims("s1", Role::kStudent));
  EXPECT_EQ(jwt.verify(t, kNow).error().code, "token_invalid");

  // Elevate the role in the payload but keep the old signature.
  std::string good = jwt.sign(claims("s1", Role::kStudent));
  std::string forged_payload =
      base64url_encode(R"({"sub":"s1","role":"admin","iat":1790000000,"exp":1790000600})");
  size_t d1 = good.find('.'), d2 = good.rfind('.');
  std::string tampered = good.substr(0, d1 + 1) + forged_payload + good.substr(d2);
  EXPECT_EQ(jwt.verify(tampered, kNow).error().code, "token_invalid");

  std::string none = base64url_encode(R"({"alg":"none"})") + "." +
                     base64url_encode(R"({"sub":"s1","role":"admin","exp":1790000600})") + ".";
  EXPECT_EQ(jwt.verify(none, kNow).error().code, "token_invalid");
  EXPECT_EQ(
      jwt.verify(forge(R"({"alg":"HS512"})", R"({"sub":"a","role":"admin","exp":1790000600})"),
                 kNow)
          .error()
          .code,
      "token_invalid");
}

TEST(Jwt, MalformedTokensAreRefusedNotCrashed) {
  JwtCodec jwt(kSecret);
  for (const std::string &bad :
       {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        std::string("!!!.???.***"), std::string(5000, 'a'), std::string("..")}) {
    auto r = jwt.verify(bad, kNow);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "token_invalid") << bad;
  }
}

TEST(Jwt, ClaimsAreValidated) {
  JwtCodec jwt(kSecret);
  const std::string h = R"({"alg":"HS256"})";
  EXPECT_FALSE(jwt.verify(forge(h, R"({"sub":"s1","role":"student"})"), kNow).ok())
      << "exp is required";
  EXPECT_FALSE(
      jwt.verify(forge(h, R"({"sub":"s1","role":"janitor","exp":1790000600})"), kNow).ok());
  EXPECT_FALSE(jwt.verify(forge(h, R"({"sub":"","role":"student","exp":1790000600})"), kNow).ok());
  EXPECT_FALSE(
      jwt.verify(forge(h, R"({"sub":"a/../b","role":"student","exp":1790000600})"), kNow).ok());
  EXPECT_FALSE(jwt.verify(forge(h, R"({"sub":"s1","role":"student","exp":"soon"})"), kNow).ok());
  auto nbf = jwt.verify(
      forge(h, R"({"sub":"s1","role":"student","exp":1790009999,"nbf":1790005000})"), kNow);
  ASSERT_FALSE(nbf.ok());
  EXPECT_EQ(nbf.error().code, "token_not_yet_valid");
}

TEST(Jwt, IssuerAndAudienceAreCheckedWhenConfigured) {
  JwtCodec jwt(kSecret, "school", "gramothi");
  EXPECT_TRUE(jwt.verify(jwt.sign(claims("s1", Role::kStudent)), kNow).ok());
  const std::string h = R"({"alg":"HS256"})";
  EXPECT_FALSE(
      jwt.verify(
             forge(
                 h,
                 R"({"sub":"s1","role":"student","exp":1790000600,"iss":"other","aud":"gramothi"})"),
             kNow)
          .ok());
  EXPECT_TRUE(
      jwt.verify(
             forge(
                 h,
                 R"({"sub":"s1","role":"student","exp":1790000600,"iss":"school","aud":["x","gramothi"]})"),
             kNow)
          .ok());
}

TEST(Jwt, BearerHeaderParsing) {
  EXPECT_EQ(bearer_token(nullptr).error().code, "token_missing");
  EXPECT_EQ(bearer_token("").error().code, "token_missing");
  EXPECT_EQ(bearer_token("Basic dXNlcjpwYXNz").error().code, "token_invalid");
  EXPECT_EQ(*bearer_token("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(*bearer_token("bearer   abc "), "abc");
}

TEST(TurnCredentials, FollowTheTurnRestApiScheme) {
  // RFC-draft "TURN REST API": username "expiry:user", password base64(HMAC-SHA1(secret, user)).
  // Expected value computed with: printf %s '1790003600:student-1' |
  //   openssl dgst -sha1 -hmac 'turn-shared-secret' -binary | base64
  TurnCredential c = make_turn_credential("turn-shared-secret", "student-1", kNow, 3600);
  EXPECT_EQ(c.username, "1790003600:student-1");
  EXPECT_EQ(c.expires_at, kNow + 3600);
  EXPECT_EQ(c.password, "2dEe/6nkU+T36envbImxJjQtT38=");
}

TEST(Jwt, TheClassesClaimListsTheUsersClassesAndIsChecked) {
  JwtCodec jwt(kSecret);
  std::string token =
      forge(R"({"alg":"HS256","typ":"JWT"})", R"({"sub":"s1","role":"student","exp":1790000600,)"
                                              R"("classes":["bio-1","physics-101"]})");
  auto r = jwt.verify(token, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->classes, (std::vector<std::string>{"bio-1", "physics-101"}));
  // Signing writes it back.
  auto again = jwt.verify(jwt.sign(*r), kNow);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->classes, r->classes);
  EXPECT_TRUE(jwt.verify(jwt.sign(claims("s2", Role::kStudent)), kNow)->classes.empty());
  for (const char *bad : {R"("classes":"bio-1")", R"("classes":[-1])", R"("classes":[1.5])",
                          R"("classes":[true])", R"("classes":["a/b"])", R"("classes":[""])"}) {
    auto b = jwt.verify(
        forge(R"({"alg":"HS256","typ":"JWT"})",
              std::string(R"({"sub":"s1","role":"student","exp":1790000600,)") + bad + "}"),
        kNow);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.error().code, "token_invalid") << bad;
  }
}

// Issue 12, finding 7: an exp tens of millions of years ahead was accepted.
TEST(Jwt, ATokenLivingLongerThanTheMaximumIsRefused) {
  JwtCodec jwt(kSecret, "", "", 30, 24 * 3600);
  EXPECT_TRUE(jwt.verify(jwt.sign(claims("s1", Role::kStudent, 24 * 3600)), kNow).ok());
  auto far = jwt.verify(jwt.sign(claims("s1", Role::kStudent, 1000000000000LL)), kNow);
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.error().code, "token_lifetime_too_long");
  // Issued long ago with a long life: still too long, even though little of it is left.
  TokenClaims old = claims("s1", Role::kStudent, 10);
  old.issued_at = kNow - 3 * 24 * 3600;
  EXPECT_EQ(jwt.verify(jwt.sign(old), kNow).error().code, "token_lifetime_too_long");
  // Without iat, exp counts from now.
  std::string no_iat =
      forge(R"({"alg":"HS256","typ":"JWT"})",
            R"({"sub":"s1","role":"student","exp":)" + std::to_string(kNow + 2 * 24 * 3600) + "}");
  EXPECT_EQ(jwt.verify(no_iat, kNow).error().code, "token_lifetime_too_long");
}

// Issue 12, finding 7: a signature whose last base64url character was changed (to one that
// differs only in unused bits) was accepted.
TEST(Jwt, OnlyCanonicalBase64urlIsAccepted) {
  JwtCodec jwt(kSecret);
  std::string t = jwt.sign(claims("s1", Role::kStudent));
  ASSERT_TRUE(jwt.verify(t, kNow).ok());
  // A 32-byte HMAC is 43 characters: the last carries 4 bits of data and 2 unused bits.
  std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t last = alphabet.find(t.back());
  int accepted = 0;
  for (size_t low = 0; low < 4; low++) {
    std::string changed = t;
    changed.back() = alphabet[(last & ~size_t{3}) | low];
    if (jwt.verify(changed, kNow).ok()) accepted++;
  }
  EXPECT_EQ(accepted, 1) << "only the token as signed verifies";
  EXPECT_FALSE(jwt.verify(t + "=", kNow).ok()) << "padding is not base64url";
  EXPECT_FALSE(base64url_decode("QR").has_value()) << "'R' carries unused bits";
  EXPECT_EQ(base64url_decode("QQ"), std::optional<std::string>("A"));
}

TEST(Jwt, ClassGrantsRoundTrip) {
  JwtCodec jwt(kSecret);
  TokenClaims c = claims("t1", Role::kTeacher);
  c.classes = {"art"};
  c.teaches = {"math-101", "physics"};
  auto r = jwt.verify(jwt.sign(c), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->classes, std::vector<std::string>{"art"});
  EXPECT_EQ(r->teaches, (std::vector<std::string>{"math-101", "physics"}));
  std::string bad = forge(R"({"alg":"HS256","typ":"JWT"})",
                          R"({"sub":"t1","role":"teacher","exp":1790000600,"teaches":"math"})");
  EXPECT_EQ(jwt.verify(bad, kNow).error().code, "token_invalid");
}

// Review of issue 12: JSON-GLib cut "tA\u0000-not-tA" to "tA", so a token for one user could
// act as another.
TEST(Jwt, ClaimsWithANulCharacterAreRefused) {
  JwtCodec jwt(kSecret);
  std::string t = forge(R"({"alg":"HS256","typ":"JWT"})",
                        R"({"sub":"tA\u0000-not-tA","role":"teacher","exp":1790000600})");
  auto r = jwt.verify(t, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "token_invalid");
  std::string huge_iat =
      forge(R"({"alg":"HS256","typ":"JWT"})", R"({"sub":"s","role":"student","exp":1790000600,)"
                                              R"("iat":-9223372036854775808})");
  EXPECT_EQ(jwt.verify(huge_iat, kNow).error().code, "token_invalid");
}

// ---- tokens from the school's identity provider: RS256 and ES256 (issue 18) ----

namespace {

using KeyPair = TestKey;
KeyPair make_key(const char *type) {
  return make_test_key(type);
}
std::string provider_token(jwt_alg_t alg, const std::string &key, const std::string &payload,
                           const char *kid = nullptr) {
  return sign_test_token(alg, key, payload, kid);
}

const std::string kClaims = R"({"sub":"t1","role":"teacher","exp":1790000600,"teaches":["m"]})";

}  // namespace

TEST(JwtProvider, Rs256AndEs256TokensVerifyWithTheConfiguredPublicKeys) {
  KeyPair rsa = make_key("RSA"), ec = make_key("EC");
  JwtCodec jwt(kSecret);
  ASSERT_FALSE(jwt.add_public_key(rsa.public_pem, "rsa-1").has_value());
  ASSERT_FALSE(jwt.add_public_key(ec.public_pem).has_value());
  auto r = jwt.verify(provider_token(JWT_ALG_RS256, rsa.private_pem, kClaims, "rsa-1"), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user_id, "t1");
  EXPECT_EQ(r->teaches, std::vector<std::string>{"m"});
  auto e = jwt.verify(provider_token(JWT_ALG_ES256, ec.private_pem, kClaims), kNow);
  ASSERT_TRUE(e.ok()) << e.error().message;
  // The claims rules hold for provider tokens too.
  auto expired =
      jwt.verify(provider_token(JWT_ALG_RS256, rsa.private_pem,
                                R"({"sub":"t1","role":"teacher","exp":1789990000})", "rsa-1"),
                 kNow);
  EXPECT_EQ(expired.error().code, "token_expired");
}

TEST(JwtProvider, WrongKeysKidsAndAlgorithmsAreRefused) {
  KeyPair rsa = make_key("RSA"), other = make_key("RSA"), ec = make_key("EC");
  JwtCodec jwt(kSecret);
  ASSERT_FALSE(jwt.add_public_key(rsa.public_pem, "rsa-1").has_value());
  // Signed by a key the server does not know.
  EXPECT_FALSE(jwt.verify(provider_token(JWT_ALG_RS256, other.private_pem, kClaims), kNow).ok());
  // A kid the server does not have.
  EXPECT_FALSE(
      jwt.verify(provider_token(JWT_ALG_RS256, rsa.private_pem, kClaims, "rsa-2"), kNow).ok());
  // An EC-signed token when only an RSA key is configured.
  EXPECT_FALSE(jwt.verify(provider_token(JWT_ALG_ES256, ec.private_pem, kClaims), kNow).ok());
  // alg confusion: HS256 "signed" with the RSA public key as the secret.
  auto confused = jwt.verify(provider_token(JWT_ALG_HS256, rsa.public_pem, kClaims), kNow);
  ASSERT_FALSE(confused.ok());
  EXPECT_EQ(confused.error().code, "token_invalid");
  // RS384 and "none" are not accepted.
  EXPECT_FALSE(jwt.verify(provider_token(JWT_ALG_RS384, rsa.private_pem, kClaims), kNow).ok());
  EXPECT_FALSE(jwt.verify(provider_token(JWT_ALG_NONE, "", kClaims), kNow).ok());
  // Keys the server refuses to load.
  EXPECT_TRUE(jwt.add_public_key("not a key").has_value());
  EXPECT_TRUE(jwt.add_public_key(rsa.private_pem).has_value()) << "a private key is not loaded";
}

namespace {

struct JwkPair {
  std::string private_pem, jwk;
};
JwkPair make_jwk(const char *type, const std::string &kid) {
  TestKey k = make_test_key(type, kid);
  return {k.private_pem, k.jwk};
}

}  // namespace

TEST(JwtProvider, AKeySetChoosesTheKeyByKid) {
  JwkPair old_key = make_jwk("RSA", "2026-10"), new_key = make_jwk("RSA", "2026-11"),
          ec = make_jwk("EC", "ec-1");
  JwtCodec jwt(kSecret);
  auto added = jwt.add_jwks(R"({"keys":[)" + old_key.jwk + "," + new_key.jwk + "," + ec.jwk +
                            R"(,{"kty":"RSA","use":"enc","kid":"e","n":"AQAB","e":"AQAB"}]})");
  ASSERT_FALSE(added.has_value()) << added->message;
  // Both keys of a rotation verify their own tokens, each chosen by its kid.
  EXPECT_TRUE(
      jwt.verify(provider_token(JWT_ALG_RS256, old_key.private_pem, kClaims, "2026-10"), kNow)
          .ok());
  EXPECT_TRUE(
      jwt.verify(provider_token(JWT_ALG_RS256, new_key.private_pem, kClaims, "2026-11"), kNow)
          .ok());
  EXPECT_TRUE(
      jwt.verify(provider_token(JWT_ALG_ES256, ec.private_pem, kClaims, "ec-1"), kNow).ok());
  // A token whose kid names the other key of the set fails: the kid picks the key.
  EXPECT_FALSE(
      jwt.verify(provider_token(JWT_ALG_RS256, old_key.private_pem, kClaims, "2026-11"), kNow)
          .ok());
  EXPECT_FALSE(
      jwt.verify(provider_token(JWT_ALG_RS256, old_key.private_pem, kClaims, "unknown"), kNow)
          .ok());
  // Sets the server refuses: an RS256 alg on an EC key, an unknown kty, a short EC point.
  EXPECT_TRUE(JwtCodec(kSecret)
                  .add_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","alg":"RS256","kid":"x","x":")" +
                            std::string(43, 'A') + R"(","y":")" + std::string(43, 'A') + R"("}]})")
                  .has_value());
  EXPECT_TRUE(JwtCodec(kSecret).add_jwks(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})").has_value());
  EXPECT_TRUE(JwtCodec(kSecret)
                  .add_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]})")
                  .has_value());
  EXPECT_TRUE(JwtCodec(kSecret).add_jwks("not json").has_value());
}

TEST(JwtProvider, NotYetValidAndExpiredProviderTokensAreRefused) {
  KeyPair ec = make_key("EC");
  JwtCodec jwt(kSecret, "", "", 30);
  ASSERT_FALSE(jwt.add_public_key(ec.public_pem).has_value());
  auto early = jwt.verify(
      provider_token(JWT_ALG_ES256, ec.private_pem,
                     R"({"sub":"t1","role":"teacher","nbf":1790000100,"exp":1790000600})"),
      kNow);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, "token_not_yet_valid");
  auto late = jwt.verify(provider_token(JWT_ALG_ES256, ec.private_pem,
                                        R"({"sub":"t1","role":"teacher","exp":1789999900})"),
                         kNow);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "token_expired");
}

// Rotation: a new key set replaces the old one at once; tokens of a key that left stop working.
TEST(JwtProvider, ReplacingTheKeySetRotatesKeys) {
  JwkPair old_key = make_jwk("RSA", "2026-10"), new_key = make_jwk("EC", "2026-11");
  JwtCodec jwt(kSecret);
  ASSERT_FALSE(jwt.add_jwks(R"({"keys":[)" + old_key.jwk + "]}").has_value());
  std::string old_token = provider_token(JWT_ALG_RS256, old_key.private_pem, kClaims, "2026-10");
  std::string new_token = provider_token(JWT_ALG_ES256, new_key.private_pem, kClaims, "2026-11");
  EXPECT_TRUE(jwt.verify(old_token, kNow).ok());
  EXPECT_FALSE(jwt.verify(new_token, kNow).ok());

  PublicKeys both;
  ASSERT_FALSE(both.add_jwks(R"({"keys":[)" + old_key.jwk + "," + new_key.jwk + "]}"));
  EXPECT_EQ(both.describe(), "2 keys: RS256 kid 2026-10, ES256 kid 2026-11");
  jwt.set_public_keys(std::move(both));
  EXPECT_TRUE(jwt.verify(old_token, kNow).ok());
  EXPECT_TRUE(jwt.verify(new_token, kNow).ok());

  PublicKeys only_new;
  ASSERT_FALSE(only_new.add_jwks(R"({"keys":[)" + new_key.jwk + "]}"));
  jwt.set_public_keys(std::move(only_new));
  EXPECT_FALSE(jwt.verify(old_token, kNow).ok());
  EXPECT_TRUE(jwt.verify(new_token, kNow).ok());
  EXPECT_EQ(jwt.public_key_count(), 1u);
}

// Claims mapping for a Keycloak-style token: the user in preferred_username, roles in
// realm_access.roles (the highest one the server knows counts), the grants in the provider's
// own claims, course numbers as integers.
TEST(JwtProvider, ClaimNamesMapAProvidersTokens) {
  KeyPair rsa = make_key("RSA");
  JwtCodec jwt(kSecret, "https://idp.school.test/realms/school", "gramothi");
  ASSERT_FALSE(jwt.add_public_key(rsa.public_pem, "k1").has_value());
  jwt.set_claim_names(ClaimNames{"preferred_username",
                                 "realm_access.roles",
                                 "school.courses",
                                 "https://school.test/teaches",
                                 {{"editingteacher", Role::kTeacher},
                                  {"manager", Role::kAdmin},
                                  {"student", Role::kStudent}}});
  const std::string keycloak =
      R"({"iss":"https://idp.school.test/realms/school","aud":["account","gramothi"],)"
      R"("sub":"8a1c6f0e-3b1d-4c55-9d0e-2f6a7b8c9d01","preferred_username":"asha.k",)"
      R"("exp":1790000600,"realm_access":{"roles":["offline_access","editingteacher"]},)"
      R"("school":{"courses":[101,"bio-2"]},"https://school.test/teaches":["bio-2"]})";
  auto r = jwt.verify(provider_token(JWT_ALG_RS256, rsa.private_pem, keycloak, "k1"), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user_id, "asha.k");
  EXPECT_EQ(r->role, Role::kTeacher);
  EXPECT_EQ(r->classes, (std::vector<std::string>{"101", "bio-2"}));
  EXPECT_EQ(r->teaches, std::vector<std::string>{"bio-2"});

  // The highest known role of the list counts; unknown names alone give no role.
  auto with_roles = [&](const std::string &roles) {
    return jwt.verify(
        provider_token(JWT_ALG_RS256, rsa.private_pem,
                       R"({"iss":"https://idp.school.test/realms/school","aud":"gramothi",)"
                       R"("preferred_username":"u1","exp":1790000600,"realm_access":{"roles":)" +
                           roles + "}}",
                       "k1"),
        kNow);
  };
  EXPECT_EQ(with_roles(R"(["student","manager"])")->role, Role::kAdmin);
  // With role_values set, only the names it lists count: another application's "admin" role
  // makes nobody an admin here.
  EXPECT_EQ(with_roles(R"(["student","admin"])")->role, Role::kStudent);
  EXPECT_EQ(with_roles(R"(["student"])")->role, Role::kStudent);
  auto unknown = with_roles(R"(["offline_access"])");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("realm_access.roles"), std::string::npos);
  EXPECT_FALSE(with_roles("42").ok());

  // The server's own HS256 tokens keep the server's claim names.
  auto own = jwt.verify(jwt.sign(claims("s1", Role::kStudent)), kNow);
  ASSERT_TRUE(own.ok()) << own.error().message;
  EXPECT_EQ(own->user_id, "s1");
}

// `gramothi token --key`: signing as the provider would, with the configured claim names.
TEST(JwtProvider, SigningWithAPrivateKeyWritesTheConfiguredClaims) {
  for (const char *type : {"RSA", "EC"}) {
    KeyPair key = make_key(type);
    JwtCodec jwt(kSecret);
    ASSERT_FALSE(jwt.add_public_key(key.public_pem, "k9").has_value());
    jwt.set_claim_names(ClaimNames{"sub", "realm_access.roles", "classes", "teaches", {}});
    TokenClaims c = claims("t1", Role::kTeacher);
    c.teaches = {"m"};
    auto token = jwt.sign_with_key(c, key.private_pem, "k9");
    ASSERT_TRUE(token.ok()) << token.error().message;
    std::string payload = *base64url_decode(
        token->substr(token->find('.') + 1, token->rfind('.') - token->find('.') - 1));
    EXPECT_NE(payload.find(R"("realm_access":{"roles":"teacher"})"), std::string::npos) << payload;
    auto r = jwt.verify(*token, kNow);
    ASSERT_TRUE(r.ok()) << type << ": " << r.error().message;
    EXPECT_EQ(r->role, Role::kTeacher);
    EXPECT_EQ(r->teaches, std::vector<std::string>{"m"});
    // A public key, or garbage, is no signing key.
    EXPECT_EQ(jwt.sign_with_key(c, key.public_pem).error().code, "key_invalid");
  }
}

// A key set nested a few hundred thousand levels deep used to overflow the stack in JSON-GLib
// (the server died on reading such a key file, at start and on every reload).
TEST(Jwt, DeeplyNestedKeySetIsRefusedNotACrash) {
  PublicKeys keys;
  auto e = keys.add_jwks("{\"keys\":[],\"x\":" + std::string(300000, '[') +
                         std::string(300000, ']') + "}");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(keys.size(), 0u);
  EXPECT_FALSE(keys.add_jwks("{\"keys\":[],\"x\":[[[{\"a\":\"[[[[\"}]]]}").has_value());
}

// A key without a kid (public_key_file without public_key_id, or a JWK without "kid") must
// not hide the key a token's kid names: tokens of every key in jwks_file used to be refused.
TEST(Jwt, AKeyWithoutKidDoesNotHideTheKeyTheTokenNames) {
  TestKey pem = make_test_key("RSA"), named = make_test_key("RSA", "k2");
  JwtCodec jwt(kSecret);
  ASSERT_FALSE(jwt.add_public_key(pem.public_pem));
  ASSERT_FALSE(jwt.add_jwks("{\"keys\":[" + named.jwk + "]}"));
  std::string payload = R"({"sub":"u1","role":"student","exp":1790000600})";
  auto r = jwt.verify(sign_test_token(JWT_ALG_RS256, named.private_pem, payload, "k2"), kNow);
  EXPECT_TRUE(r.ok()) << r.error().message;
  // The kid-less key still verifies tokens with any kid, and tokens without one.
  EXPECT_TRUE(jwt.verify(sign_test_token(JWT_ALG_RS256, pem.private_pem, payload, "x"), kNow).ok());
  EXPECT_TRUE(jwt.verify(sign_test_token(JWT_ALG_RS256, pem.private_pem, payload), kNow).ok());
  EXPECT_FALSE(jwt.verify(sign_test_token(JWT_ALG_RS256, named.private_pem, payload), kNow).ok())
      << "no kid: the first key is tried";
}

// An RSA key with e = 1 "verifies" the padded hash itself as a signature: a key file with
// such a key would let anyone sign tokens. It is refused.
TEST(Jwt, RsaKeyWithExponentOneIsRefused) {
  TestKey k = make_test_key("RSA", "r1");
  std::string jwk = k.jwk;
  size_t e = jwk.find("\"e\":\"") + 5;
  jwk.replace(e, jwk.find('"', e) - e, "AQ");
  PublicKeys keys;
  auto err = keys.add_jwks("{\"keys\":[" + jwk + "]}");
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->message.find("e greater than 1"), std::string::npos) << err->message;
  EXPECT_EQ(keys.size(), 0u);
}

// An encrypted private key given as the public key file (or to sign_with_key) fails at once;
// OpenSSL's default callback would prompt on the terminal and block the main loop.
TEST(Jwt, EncryptedPemFailsWithoutAPassphrasePrompt) {
  TestKey k = make_test_key("EC");
  BIO *in = BIO_new_mem_buf(k.private_pem.data(), static_cast<int>(k.private_pem.size()));
  EVP_PKEY *pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(pkey, nullptr);
  BIO *out = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out, pkey, EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                          const_cast<char *>("hunter2")),
            1);
  char *data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string encrypted(data, static_cast<size_t>(len));
  BIO_free(out);
  EVP_PKEY_free(pkey);
  PublicKeys keys;
  EXPECT_TRUE(keys.add_pem(encrypted).has_value());
  JwtCodec jwt(kSecret);
  EXPECT_FALSE(jwt.sign_with_key(claims("u1", Role::kStudent), encrypted).ok());
}
