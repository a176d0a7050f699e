// Key pairs made in the test with OpenSSL, as a school's identity provider holds them, and
// tokens signed with them by libjwt (an implementation other than the server's verify path
// decides nothing: the server verifies with its own configured keys).
#pragma once

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <string>

#include "base/secrets.hpp"

struct TestKey {
  std::string private_pem, public_pem;
  std::string jwk;  // the public key as a JWK, with its kid ("" if made without one)
};

// A fresh key: "RSA" (2048 bits, RS256) or "EC" (P-256, ES256); its JWK names `kid`.
inline TestKey make_test_key(const char *type, const std::string &kid = "") {
  bool rsa = std::string(type) == "RSA";
  EVP_PKEY *key = rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", 2048)
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  auto pem = [key](bool priv) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (priv)
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    else
      PEM_write_bio_PUBKEY(bio, key);
    char *data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(len));
    BIO_free(bio);
    return out;
  };
  auto bn = [key](const char *param) {
    BIGNUM *n = nullptr;
    EVP_PKEY_get_bn_param(key, param, &n);
    std::string bytes(static_cast<size_t>(BN_num_bytes(n)), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char *>(bytes.data()));
    BN_free(n);
    return gramothi::base64url_encode(bytes);
  };
  TestKey k{pem(true), pem(false), ""};
  if (rsa) {
    k.jwk = R"({"kty":"RSA","use":"sig","alg":"RS256","kid":")" + kid + R"(","n":")" +
            bn(OSSL_PKEY_PARAM_RSA_N) + R"(","e":")" + bn(OSSL_PKEY_PARAM_RSA_E) + R"("})";
  } else {
    unsigned char point[65];
    size_t n = 0;
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &n);
    std::string x(reinterpret_cast<char *>(point) + 1, 32),
        y(reinterpret_cast<char *>(point) + 33, 32);
    k.jwk = R"({"kty":"EC","crv":"P-256","use":"sig","kid":")" + kid + R"(","x":")" +
            gramothi::base64url_encode(x) + R"(","y":")" + gramothi::base64url_encode(y) + R"("})";
  }
  EVP_PKEY_free(key);
  return k;
}

// A token signed by libjwt with `alg` and `key` (a private PEM, or the secret for HS256).
inline std::string sign_test_token(jwt_alg_t alg, const std::string &key,
                                   const std::string &payload, const char *kid = nullptr) {
  jwt_t *jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, payload.c_str());
  if (kid) jwt_add_header(jwt, "kid", kid);
  jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char *>(key.data()),
              static_cast<int>(key.size()));
  char *t = jwt_encode_str(jwt);
  std::string out = t ? t : "";
  free(t);
  jwt_free(jwt);
  return out;
}
