#include "auth/jwt.hpp"

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>

#include "base/ids.hpp"
#include "base/json.hpp"
#include "base/secrets.hpp"

namespace gramothi {
namespace {

Error invalid(const std::string &why) {
  return Error{ErrorKind::kUnauthorized, "token_invalid", "The token is not valid: " + why + "."};
}

// Integer claim: absent -> nullopt with present=false; not an integer -> error.
bool read_time_claim(JsonObject *o, const char *name, int64_t *out, bool *present) {
  *present = json_object_has_member(o, name);
  if (!*present) return true;
  JsonNode *n = json_object_get_member(o, name);
  if (!JSON_NODE_HOLDS_VALUE(n)) return false;
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64) {
    *out = json_node_get_int(n);
    return *out >= -1000000000000000LL && *out <= 1000000000000000LL;
  }
  if (t == G_TYPE_DOUBLE) {
    double d = json_node_get_double(n);
    if (d < -1e15 || d > 1e15) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

// OpenSSL's default passphrase callback prompts on the terminal and waits: an encrypted PEM
// (a private key saved as the key file by mistake) must fail at once, never block.
int no_passphrase(char *, int, int, void *) {
  return -1;
}

const char *string_member(JsonObject *o, const char *name) {
  if (!json_object_has_member(o, name)) return nullptr;
  JsonNode *n = json_object_get_member(o, name);
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return nullptr;
  return json_node_get_string(n);
}

}  // namespace

JwtCodec::JwtCodec(std::string secret, std::string issuer, std::string audience, int64_t leeway_s,
                   int64_t max_lifetime_s)
    : secret_(std::move(secret)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      leeway_s_(leeway_s),
      max_lifetime_s_(max_lifetime_s) {}

namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// A PEM key, public or private, never asking for a passphrase; null when the text is not one.
PkeyPtr read_pem(const std::string &pem, bool private_key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  EVP_PKEY *key = nullptr;
  if (bio)
    key = private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
                      : PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr);
  return PkeyPtr(key, EVP_PKEY_free);
}

// An EC key on P-256, the curve of ES256.
bool on_p256(EVP_PKEY *key) {
  char curve[64] = "";
  size_t len = 0;
  EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &len);
  return g_strcmp0(curve, "prime256v1") == 0 || g_strcmp0(curve, "P-256") == 0;
}

}  // namespace

std::optional<Error> PublicKeys::add_pem(const std::string &pem, const std::string &kid) {
  auto bad = [](const std::string &why) {
    return Error{ErrorKind::kInvalid, "config_invalid", why};
  };
  PkeyPtr pkey = read_pem(pem, false);
  if (!pkey) return bad("not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  jwt_alg_t alg = JWT_ALG_INVAL;
  if (EVP_PKEY_get_base_id(pkey.get()) == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(pkey.get()) < 2048) return bad("an RSA key must have at least 2048 bits");
    if (EVP_PKEY_get_bits(pkey.get()) > 16384) return bad("an RSA key may have at most 16384 bits");
    // e = 1 verifies any "signature" that is the padded hash itself: anyone could sign.
    BIGNUM *n = nullptr, *e = nullptr;
    EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e);
    bool sound = n && e && BN_is_odd(n) && BN_is_odd(e) && !BN_is_one(e);
    BN_free(n);
    BN_free(e);
    if (!sound) return bad("not a valid RSA public key (n and e must be odd, e greater than 1)");
    alg = JWT_ALG_RS256;
  } else if (EVP_PKEY_get_base_id(pkey.get()) == EVP_PKEY_EC) {
    if (!on_p256(pkey.get())) return bad("an EC key must be on curve P-256 (ES256)");
    alg = JWT_ALG_ES256;
  } else {
    return bad("the key must be RSA (RS256) or EC P-256 (ES256)");
  }
  keys_.push_back({alg, pem, kid});
  return std::nullopt;
}

namespace {

// A JWK's public key as EVP_PKEY (RSA from n and e, EC P-256 from x and y), or null.
PkeyPtr jwk_key(JsonObject *k, std::string *why) {
  auto member = [k](const char *name) {
    const char *v = string_member(k, name);
    return v ? base64url_decode(v) : std::nullopt;
  };
  const char *kty = string_member(k, "kty");
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> n(nullptr, BN_free), e(nullptr, BN_free);
  std::string point;
  const char *type = nullptr;
  if (g_strcmp0(kty, "RSA") == 0) {
    auto nb = member("n"), eb = member("e");
    if (!nb || !eb) return *why = "an RSA key needs n and e", PkeyPtr(nullptr, EVP_PKEY_free);
    n.reset(BN_bin2bn(reinterpret_cast<const unsigned char *>(nb->data()),
                      static_cast<int>(nb->size()), nullptr));
    e.reset(BN_bin2bn(reinterpret_cast<const unsigned char *>(eb->data()),
                      static_cast<int>(eb->size()), nullptr));
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
    type = "RSA";
  } else if (g_strcmp0(kty, "EC") == 0) {
    auto x = member("x"), y = member("y");
    if (g_strcmp0(string_member(k, "crv"), "P-256") != 0 || !x || !y || x->size() != 32 ||
        y->size() != 32)
      return *why = "an EC key must be P-256 with x and y", PkeyPtr(nullptr, EVP_PKEY_free);
    point = std::string(1, '\x04') + *x + *y;
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    type = "EC";
  } else {
    return *why = "kty must be RSA or EC", PkeyPtr(nullptr, EVP_PKEY_free);
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY *pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    *why = "the key's numbers are not a valid key";
  return PkeyPtr(pkey, EVP_PKEY_free);
}

}  // namespace

std::optional<Error> PublicKeys::add_jwks(std::string_view jwks_json) {
  auto bad = [](const std::string &why) {
    return Error{ErrorKind::kInvalid, "config_invalid", why};
  };
  auto doc = parse_json_object(jwks_json);
  if (!doc) return bad("not a JSON object");
  JsonObject *o = json_node_get_object(doc->get());
  if (!json_object_has_member(o, "keys") ||
      !JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "keys")))
    return bad("no \"keys\" array");
  JsonArray *keys = json_object_get_array_member(o, "keys");
  // Providers publish a handful; thousands would only cost time at every reload.
  if (json_array_get_length(keys) > kMaxKeys)
    return bad("more than " + std::to_string(kMaxKeys) + " keys");
  for (guint i = 0; i < json_array_get_length(keys); i++) {
    JsonNode *node = json_array_get_element(keys, i);
    if (!JSON_NODE_HOLDS_OBJECT(node)) return bad("key " + std::to_string(i) + " is not an object");
    JsonObject *k = json_node_get_object(node);
    const char *use = string_member(k, "use");
    if (use && g_strcmp0(use, "sig") != 0) continue;
    const char *kid = string_member(k, "kid");
    std::string name = "key " + std::to_string(i) + (kid ? std::string(" (kid ") + kid + ")" : "");
    std::string why;
    PkeyPtr pkey = jwk_key(k, &why);
    if (!pkey) return bad(name + ": " + why);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    char *pem = nullptr;
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) return bad(name + ": unusable");
    long len = BIO_get_mem_data(bio.get(), &pem);
    if (auto e = add_pem(std::string(pem, static_cast<size_t>(len)), kid ? kid : ""))
      return bad(name + ": " + e->message);
    const char *alg = string_member(k, "alg");
    if (alg && jwt_str_alg(alg) != keys_.back().alg) {
      keys_.pop_back();
      return bad(name + ": its alg " + alg + " does not fit its key type");
    }
  }
  return std::nullopt;
}

std::string PublicKeys::describe() const {
  std::string out = std::to_string(keys_.size()) + (keys_.size() == 1 ? " key" : " keys");
  for (size_t i = 0; i < keys_.size(); i++) {
    out += (i ? ", " : ": ") + std::string(jwt_alg_str(static_cast<jwt_alg_t>(keys_[i].alg)));
    if (!keys_[i].kid.empty()) out += " kid " + keys_[i].kid;
  }
  return out;
}

std::optional<Error> JwtCodec::add_public_key(const std::string &pem, const std::string &kid) {
  PublicKeys keys = *this->keys();
  if (auto e = keys.add_pem(pem, kid)) return e;
  set_public_keys(std::move(keys));
  return std::nullopt;
}

std::optional<Error> JwtCodec::add_jwks(std::string_view jwks_json) {
  PublicKeys keys = *this->keys();
  if (auto e = keys.add_jwks(jwks_json)) return e;
  set_public_keys(std::move(keys));
  return std::nullopt;
}

void JwtCodec::set_public_keys(PublicKeys keys) {
  auto next = std::make_shared<const PublicKeys>(std::move(keys));
  std::lock_guard<std::mutex> lock(keys_mutex_);
  keys_ = std::move(next);
}

std::shared_ptr<const PublicKeys> JwtCodec::keys() const {
  std::lock_guard<std::mutex> lock(keys_mutex_);
  return keys_;
}

size_t JwtCodec::public_key_count() const {
  return keys()->size();
}

namespace {

// Sets `value` at `path` ("a.b.c": nested objects, made as needed).
void set_at_path(JsonObject *o, const std::string &path, JsonNode *value) {
  g_auto(GStrv) parts = g_strsplit(path.c_str(), ".", -1);
  for (guint i = 0; parts[i]; i++) {
    if (!parts[i + 1]) {
      json_object_set_member(o, parts[i], value);
      return;
    }
    if (!json_object_has_member(o, parts[i]) ||
        !JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, parts[i])))
      json_object_set_object_member(o, parts[i], json_object_new());
    o = json_object_get_object_member(o, parts[i]);
  }
}

// The claim named `name`, or else the member at `name` read as a dotted path; null if absent.
JsonNode *claim_at(JsonObject *o, const std::string &name) {
  if (json_object_has_member(o, name.c_str())) return json_object_get_member(o, name.c_str());
  if (name.find('.') == std::string::npos) return nullptr;
  g_auto(GStrv) parts = g_strsplit(name.c_str(), ".", -1);
  JsonNode *n = nullptr;
  for (guint i = 0; parts[i]; i++) {
    if (!o || !json_object_has_member(o, parts[i])) return nullptr;
    n = json_object_get_member(o, parts[i]);
    o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
  }
  return n;
}

// The role a role claim names: a string, or the highest known role of an array of strings.
std::optional<Role> role_of(JsonNode *n, const ClaimNames &names) {
  // With role_values set, only the names it lists count: a provider role that happens to be
  // called "admin" (another application's) must not make an admin here.
  auto one = [&names](const char *v) -> std::optional<Role> {
    for (const auto &[provider, ours] : names.role_values)
      if (provider == v) return ours;
    return names.role_values.empty() ? parse_role(v) : std::nullopt;
  };
  auto is_string = [](JsonNode *e) {
    return JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING;
  };
  if (!n) return std::nullopt;
  if (is_string(n)) return one(json_node_get_string(n));
  if (!JSON_NODE_HOLDS_ARRAY(n)) return std::nullopt;
  JsonArray *a = json_node_get_array(n);
  std::optional<Role> best;
  auto rank = [](Role r) { return r == Role::kAdmin ? 2 : r == Role::kTeacher ? 1 : 0; };
  for (guint i = 0; i < json_array_get_length(a) && i < 256; i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (!is_string(e)) continue;
    auto r = one(json_node_get_string(e));
    if (r && (!best || rank(*r) > rank(*best))) best = r;
  }
  return best;
}

// A grant claim: absent, or an array of at most kMaxClasses class ids (strings, or non-negative
// integers as providers that number their courses send them).
bool read_grant(JsonNode *n, std::vector<std::string> *out) {
  if (!n) return true;
  if (!JSON_NODE_HOLDS_ARRAY(n)) return false;
  JsonArray *a = json_node_get_array(n);
  if (json_array_get_length(a) > TokenClaims::kMaxClasses) return false;
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_VALUE(e)) return false;
    std::string id;
    if (json_node_get_value_type(e) == G_TYPE_STRING)
      id = json_node_get_string(e);
    else if (json_node_get_value_type(e) == G_TYPE_INT64 && json_node_get_int(e) >= 0)
      id = std::to_string(json_node_get_int(e));
    if (!valid_class_id(id)) return false;
    out->push_back(id);
  }
  return true;
}

JsonNode *string_array(const std::vector<std::string> &ids) {
  JsonArray *a = json_array_new();
  for (const auto &id : ids)
    json_array_add_string_element(a, id.c_str());
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(n, a);
  return n;
}

// A private PEM key's alg: RS256 (RSA >= 2048 bits), ES256 (EC P-256), or JWT_ALG_INVAL.
jwt_alg_t private_key_alg(const std::string &pem) {
  PkeyPtr pkey = read_pem(pem, true);
  if (!pkey) return JWT_ALG_INVAL;
  if (EVP_PKEY_get_base_id(pkey.get()) == EVP_PKEY_RSA)
    return EVP_PKEY_get_bits(pkey.get()) >= 2048 ? JWT_ALG_RS256 : JWT_ALG_INVAL;
  if (EVP_PKEY_get_base_id(pkey.get()) == EVP_PKEY_EC && on_p256(pkey.get())) return JWT_ALG_ES256;
  return JWT_ALG_INVAL;
}

// Encodes `claims_json` signed with `alg` and `key` by libjwt; "" on failure.
std::string encode(const std::string &claims_json, jwt_alg_t alg, std::string_view key,
                   const std::string &kid) {
  jwt_t *raw = nullptr;
  if (jwt_new(&raw) != 0) return "";
  std::unique_ptr<jwt_t, decltype(&jwt_free)> jwt(raw, jwt_free);
  if (jwt_add_grants_json(jwt.get(), claims_json.c_str()) != 0 ||
      (!kid.empty() && jwt_add_header(jwt.get(), "kid", kid.c_str()) != 0) ||
      jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char *>(key.data()),
                  static_cast<int>(key.size())) != 0)
    return "";
  std::unique_ptr<char, decltype(&free)> token(jwt_encode_str(jwt.get()), free);
  return token ? token.get() : "";
}

}  // namespace

std::string JwtCodec::claims_json(const TokenClaims &c, const ClaimNames &names) const {
  g_autoptr(JsonObject) o = json_object_new();
  auto str = [](const std::string &v) {
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    json_node_set_string(n, v.c_str());
    return n;
  };
  set_at_path(o, names.user, str(c.user_id));
  set_at_path(o, names.role, str(std::string(role_name(c.role))));
  json_object_set_int_member(o, "iat", c.issued_at);
  json_object_set_int_member(o, "exp", c.expires_at);
  if (!issuer_.empty()) json_object_set_string_member(o, "iss", issuer_.c_str());
  if (!audience_.empty()) json_object_set_string_member(o, "aud", audience_.c_str());
  if (!c.classes.empty()) set_at_path(o, names.classes, string_array(c.classes));
  if (!c.teaches.empty()) set_at_path(o, names.teaches, string_array(c.teaches));
  g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(root, o);
  g_autofree char *text = json_to_string(root, FALSE);
  return text;
}

std::string JwtCodec::sign(const TokenClaims &c) const {
  return encode(claims_json(c, ClaimNames{}), JWT_ALG_HS256, secret_, "");
}

Result<std::string> JwtCodec::sign_with_key(const TokenClaims &c, const std::string &private_pem,
                                            const std::string &kid) const {
  jwt_alg_t alg = private_key_alg(private_pem);
  std::string token =
      alg == JWT_ALG_INVAL ? "" : encode(claims_json(c, names_), alg, private_pem, kid);
  if (token.empty())
    return Error{ErrorKind::kInvalid, "key_invalid",
                 "The signing key must be a PEM private key: RSA of at least 2048 bits (RS256) or "
                 "EC P-256 (ES256)."};
  return token;
}

Result<TokenClaims> JwtCodec::verify(std::string_view token, int64_t now_s) const {
  if (token.size() > kMaxTokenBytes) return invalid("it is longer than 4096 bytes");
  size_t d1 = token.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return invalid("it does not have three dot-separated parts");

  // libjwt decodes leniently (padding, stray bits in the last character): only canonical
  // base64url parts go on, so that one token has exactly one spelling.
  auto header_raw = base64url_decode(token.substr(0, d1));
  auto payload_raw = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto signature = base64url_decode(token.substr(d2 + 1));
  if (!header_raw || !payload_raw || !signature) return invalid("a part is not base64url");

  // The algorithm is the server's choice, never the token's: HS256 only with the shared secret,
  // RS256 and ES256 only with a configured public key of that type (an HS256 token "signed"
  // with the public key as a secret, or one naming "none", is refused before any key is used).
  auto header = parse_json_object(*header_raw);
  if (!header) return invalid("the header is not a JSON object");
  JsonObject *h = json_node_get_object(header->get());
  const char *alg_name = string_member(h, "alg");
  jwt_alg_t alg = alg_name ? jwt_str_alg(alg_name) : JWT_ALG_INVAL;
  const char *kid = string_member(h, "kid");
  std::shared_ptr<const PublicKeys> provider_keys;  // holds `key` while it is used
  std::string_view key;
  if (alg == JWT_ALG_HS256) {
    key = secret_;
  } else if (alg == JWT_ALG_RS256 || alg == JWT_ALG_ES256) {
    provider_keys = keys();
    // The key the token's kid names; else the first key without a kid (or, for a token without
    // a kid, the first key) of that alg. A key without a kid must not hide one with the kid.
    for (const auto &k : provider_keys->keys_) {
      if (k.alg != alg) continue;
      if (kid && k.kid == kid) {
        key = k.pem;
        break;
      }
      if (key.empty() && (!kid || k.kid.empty())) key = k.pem;
    }
    if (key.empty()) return invalid("no configured key verifies alg " + std::string(alg_name));
  } else {
    return invalid("only alg HS256, RS256 and ES256 are accepted");
  }

  // The signature, by libjwt (HS256 compared in constant time: jwt_strcmp).
  std::string text(token);
  jwt_t *raw = nullptr;
  if (jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char *>(key.data()),
                 static_cast<int>(key.size())) != 0 ||
      !raw)
    return invalid("the signature does not match");
  std::unique_ptr<jwt_t, decltype(&jwt_free)> verified(raw, jwt_free);
  if (jwt_get_alg(verified.get()) != alg) return invalid("the signature does not match");

  // JSON-GLib hands strings out NUL-terminated: "sub":"a\u0000b" would read as "a".
  if (payload_raw->find("\\u0000") != std::string::npos)
    return invalid("a claim contains a NUL character");
  auto payload = parse_json_object(*payload_raw);
  if (!payload) return invalid("the payload is not a JSON object");
  JsonObject *o = json_node_get_object(payload->get());

  // The server's own tokens name their claims one way; the provider's as configured.
  static const ClaimNames kOurs;
  const ClaimNames &names = alg == JWT_ALG_HS256 ? kOurs : names_;
  TokenClaims c;
  JsonNode *sub = claim_at(o, names.user);
  if (!sub || !JSON_NODE_HOLDS_VALUE(sub) || json_node_get_value_type(sub) != G_TYPE_STRING ||
      !valid_user_id(json_node_get_string(sub)))
    return invalid("claim '" + names.user + "' must be a user id");
  c.user_id = json_node_get_string(sub);
  auto parsed_role = role_of(claim_at(o, names.role), names);
  if (!parsed_role)
    return invalid("claim '" + names.role + "' must name a role: student, teacher or admin");
  c.role = *parsed_role;

  bool present = false;
  if (!read_time_claim(o, "exp", &c.expires_at, &present))
    return invalid("claim 'exp' must be a number");
  if (!present) return invalid("claim 'exp' is required");
  if (!read_time_claim(o, "iat", &c.issued_at, &present))
    return invalid("claim 'iat' must be a number");
  int64_t nbf = 0;
  if (!read_time_claim(o, "nbf", &nbf, &present)) return invalid("claim 'nbf' must be a number");
  if (present && now_s + leeway_s_ < nbf)
    return Error{ErrorKind::kUnauthorized, "token_not_yet_valid", "The token is not valid yet."};
  if (now_s - leeway_s_ >= c.expires_at)
    return Error{ErrorKind::kUnauthorized, "token_expired", "The token has expired."};

  int64_t longest = max_lifetime_s_ + leeway_s_;
  if (c.expires_at - now_s > longest || (c.issued_at && c.expires_at - c.issued_at > longest))
    return Error{ErrorKind::kUnauthorized, "token_lifetime_too_long",
                 "The token lives longer than the " + std::to_string(max_lifetime_s_) +
                     " seconds this server accepts; ask for a shorter-lived token."};

  if (!read_grant(claim_at(o, names.classes), &c.classes))
    return invalid("claim '" + names.classes + "' must be an array of at most 256 class ids");
  if (!read_grant(claim_at(o, names.teaches), &c.teaches))
    return invalid("claim '" + names.teaches + "' must be an array of at most 256 class ids");
  if (!issuer_.empty() && g_strcmp0(string_member(o, "iss"), issuer_.c_str()) != 0)
    return invalid("claim 'iss' does not match");
  if (!audience_.empty()) {
    bool match = g_strcmp0(string_member(o, "aud"), audience_.c_str()) == 0;
    if (!match && json_object_has_member(o, "aud") &&
        JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "aud"))) {
      JsonArray *a = json_object_get_array_member(o, "aud");
      for (guint i = 0; i < json_array_get_length(a) && !match; i++) {
        JsonNode *n = json_array_get_element(a, i);
        match = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
                audience_ == json_node_get_string(n);
      }
    }
    if (!match) return invalid("claim 'aud' does not match");
  }
  return c;
}

Result<std::string> bearer_token(const char *header) {
  if (!header || !*header)
    return Error{ErrorKind::kUnauthorized, "token_missing",
                 "Send a token: Authorization: Bearer <jwt>."};
  std::string_view v(header);
  if (v.size() < 7 || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
    return Error{ErrorKind::kUnauthorized, "token_invalid",
                 "The Authorization header must be 'Bearer <jwt>'."};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ')
    v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ')
    v.remove_suffix(1);
  if (v.empty())
    return Error{ErrorKind::kUnauthorized, "token_missing",
                 "Send a token: Authorization: Bearer <jwt>."};
  return std::string(v);
}

}  // namespace gramothi
