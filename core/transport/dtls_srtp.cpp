#include "transport/dtls_srtp.hpp"

#include <glib.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <srtp2/srtp.h>

#include <cstring>
#include <utility>

namespace gramothi {
namespace {

constexpr int kMtu = 1200;
constexpr size_t kMaxFlightDatagrams = 32;  // a peer that makes us say more is misbehaving
// Key and salt lengths of the SRTP profiles we speak (RFC 5764 §4.1.2, RFC 7714 §12).
constexpr size_t kKeyLen = 16, kCmSaltLen = 14, kGcmSaltLen = 12;

std::string openssl_error(const std::string &what) {
  unsigned long code = ERR_get_error();
  char buf[256] = "";
  if (code) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return code ? what + ": " + buf : what;
}

std::string hex_fingerprint(const unsigned char *md, unsigned n) {
  std::string out;
  char part[4];
  for (unsigned i = 0; i < n; i++) {
    g_snprintf(part, sizeof part, i ? ":%02X" : "%02X", md[i]);
    out += part;
  }
  return out;
}

// The write side of each session's SSL: every BIO_write is one datagram for the peer.
int bio_write(BIO *bio, const char *data, int len) {
  auto *session = static_cast<DtlsSrtpSession *>(BIO_get_data(bio));
  if (len <= 0 || !session) return len;
  session->queue_outgoing(reinterpret_cast<const uint8_t *>(data), static_cast<size_t>(len));
  return len;
}

long bio_ctrl(BIO *, int cmd, long, void *) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
      return kMtu;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING:
    default:
      return 0;
  }
}

BIO_METHOD *datagram_bio_method() {
  static BIO_METHOD *method = [] {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gramothi-dtls");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, [](BIO *b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

srtp_t make_srtp(const uint8_t *key, const uint8_t *salt, size_t salt_len, bool gcm,
                 bool outbound) {
  uint8_t master[kKeyLen + kCmSaltLen];
  std::memcpy(master, key, kKeyLen);
  std::memcpy(master + kKeyLen, salt, salt_len);
  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof policy);
  if (gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_rtp_default(&policy.rtp);
    srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  }
  policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.key = master;
  policy.window_size = 1024;
  policy.allow_repeat_tx = 0;
  policy.next = nullptr;
  srtp_t s = nullptr;
  srtp_err_status_t status = srtp_create(&s, &policy);
  OPENSSL_cleanse(master, sizeof master);
  return status == srtp_err_status_ok ? s : nullptr;
}

// libsrtp is initialised once per process. Another library in the process (GStreamer's srtp
// elements, in a process that also runs webrtcbins) may have done it first: srtp_init() then
// fails, but the library works, which a throw-away session shows.
bool srtp_ready_once() {
  static bool ok = [] {
    if (srtp_init() == srtp_err_status_ok) return true;
    uint8_t key[kKeyLen + kCmSaltLen] = {};
    srtp_t probe = make_srtp(key, key + kKeyLen, kCmSaltLen, false, true);
    if (probe) srtp_dealloc(probe);
    return probe != nullptr;
  }();
  return ok;
}

}  // namespace

Result<std::shared_ptr<DtlsIdentity>> DtlsIdentity::generate(const std::string &srtp_profiles) {
  auto fail = [](const std::string &why) {
    return Error{ErrorKind::kInternal, "dtls_error", openssl_error(why)};
  };
  if (!srtp_ready_once()) return Error{ErrorKind::kInternal, "srtp_error", "srtp_init failed"};
  EVP_PKEY *key = EVP_EC_gen("P-256");
  if (!key) return fail("cannot make an ECDSA key");
  X509 *cert = X509_new();
  X509_set_version(cert, 2);
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<unsigned char *>(&serial), sizeof serial);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -24 * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char *>("gramothi"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  if (!X509_sign(cert, key, EVP_sha256())) {
    X509_free(cert);
    EVP_PKEY_free(key);
    return fail("cannot sign the certificate");
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);

  std::shared_ptr<DtlsIdentity> id(new DtlsIdentity());
  id->fingerprint_ = hex_fingerprint(md, n);
  id->ctx_ = SSL_CTX_new(DTLS_method());
  bool ok = id->ctx_ && SSL_CTX_set_min_proto_version(id->ctx_, DTLS1_2_VERSION) &&
            SSL_CTX_use_certificate(id->ctx_, cert) && SSL_CTX_use_PrivateKey(id->ctx_, key) &&
            SSL_CTX_check_private_key(id->ctx_) &&
            SSL_CTX_set_tlsext_use_srtp(id->ctx_, srtp_profiles.c_str()) == 0;  // 0 = success
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return fail("cannot set up DTLS");
  // The peer's certificate is self-signed: it is checked against the SDP fingerprint instead.
  SSL_CTX_set_verify(id->ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     [](int, X509_STORE_CTX *) { return 1; });
  SSL_CTX_set_options(id->ctx_, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  SSL_CTX_set_read_ahead(id->ctx_, 1);
  return id;
}

DtlsIdentity::~DtlsIdentity() {
  if (ctx_) SSL_CTX_free(ctx_);
}

DtlsSrtpSession::DtlsSrtpSession(std::shared_ptr<DtlsIdentity> identity, Role role,
                                 std::string remote_fingerprint)
    : identity_(std::move(identity)),
      role_(role),
      remote_fingerprint_(std::move(remote_fingerprint)) {
  ssl_ = SSL_new(identity_->context());
  if (!ssl_) {
    fail(openssl_error("SSL_new"));
    return;
  }
  BIO *rbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio, -1);
  BIO *wbio = BIO_new(datagram_bio_method());
  BIO_set_data(wbio, this);
  SSL_set_bio(ssl_, rbio, wbio);
  SSL_set_mtu(ssl_, kMtu);
  DTLS_set_link_mtu(ssl_, kMtu);
  if (role_ == Role::kServer)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
}

DtlsSrtpSession::~DtlsSrtpSession() {
  if (srtp_out_) srtp_dealloc(srtp_out_);
  if (srtp_in_) srtp_dealloc(srtp_in_);
  if (ssl_) SSL_free(ssl_);
}

void DtlsSrtpSession::queue_outgoing(const uint8_t *data, size_t len) {
  if (outgoing_.size() < kMaxFlightDatagrams) outgoing_.emplace_back(data, data + len);
}

std::vector<std::vector<uint8_t>> DtlsSrtpSession::take_outgoing() {
  return std::exchange(outgoing_, {});
}

void DtlsSrtpSession::fail(const std::string &why) {
  if (failure_.empty()) failure_ = why;
}

void DtlsSrtpSession::start() {
  if (role_ == Role::kClient && ssl_ && !failed()) after_io();
}

void DtlsSrtpSession::receive(const uint8_t *data, size_t len) {
  if (!ssl_ || failed() || closed_by_peer_) return;
  BIO_write(SSL_get_rbio(ssl_), data, static_cast<int>(len));
  after_io();
}

void DtlsSrtpSession::after_io() {
  if (!SSL_is_init_finished(ssl_)) {
    int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      finish_handshake();
    } else {
      int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        fail(openssl_error("DTLS handshake failed"));
    }
  } else {
    // After the handshake only alerts matter (no data channel): read to see close_notify.
    uint8_t sink[2048];
    int r = SSL_read(ssl_, sink, sizeof sink);
    if (r <= 0 && SSL_get_error(ssl_, r) == SSL_ERROR_ZERO_RETURN) closed_by_peer_ = true;
  }
  ERR_clear_error();
}

void DtlsSrtpSession::finish_handshake() {
  X509 *peer = SSL_get1_peer_certificate(ssl_);
  if (!peer) return fail("the peer sent no certificate");
  // "sha-256 AB:CD..." -> digest name and hex.
  std::string algo, expected;
  auto space = remote_fingerprint_.find(' ');
  if (space != std::string::npos) {
    algo = remote_fingerprint_.substr(0, space);
    expected = remote_fingerprint_.substr(space + 1);
  }
  const EVP_MD *md = nullptr;
  if (g_ascii_strcasecmp(algo.c_str(), "sha-256") == 0)
    md = EVP_sha256();
  else if (g_ascii_strcasecmp(algo.c_str(), "sha-384") == 0)
    md = EVP_sha384();
  else if (g_ascii_strcasecmp(algo.c_str(), "sha-512") == 0)
    md = EVP_sha512();
  else if (g_ascii_strcasecmp(algo.c_str(), "sha-1") == 0)
    md = EVP_sha1();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  bool match = md && X509_digest(peer, md, digest, &n) &&
               g_ascii_strcasecmp(hex_fingerprint(digest, n).c_str(), expected.c_str()) == 0;
  X509_free(peer);
  if (!match) return fail("the peer's certificate does not match its SDP fingerprint");

  // The server's order of preference decides (ours: AEAD_AES_128_GCM first).
  const SRTP_PROTECTION_PROFILE *profile = SSL_get_selected_srtp_profile(ssl_);
  if (!profile || (profile->id != SRTP_AEAD_AES_128_GCM && profile->id != SRTP_AES128_CM_SHA1_80))
    return fail("the peer agreed no SRTP profile we support");
  bool gcm = profile->id == SRTP_AEAD_AES_128_GCM;
  size_t salt_len = gcm ? kGcmSaltLen : kCmSaltLen;
  // RFC 5764 §4.2: client key, server key, client salt, server salt.
  uint8_t km[2 * (kKeyLen + kCmSaltLen)];
  size_t km_len = 2 * (kKeyLen + salt_len);
  static const char kLabel[] = "EXTRACTOR-dtls_srtp";
  if (SSL_export_keying_material(ssl_, km, km_len, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1)
    return fail(openssl_error("cannot export the SRTP keys"));
  const uint8_t *client_key = km, *server_key = km + kKeyLen;
  const uint8_t *client_salt = km + 2 * kKeyLen, *server_salt = client_salt + salt_len;
  bool server = role_ == Role::kServer;
  srtp_in_ = make_srtp(server ? client_key : server_key, server ? client_salt : server_salt,
                       salt_len, gcm, false);
  srtp_t out = make_srtp(server ? server_key : client_key, server ? server_salt : client_salt,
                         salt_len, gcm, true);
  OPENSSL_cleanse(km, sizeof km);
  if (!srtp_in_ || !out) {
    if (out) srtp_dealloc(out);
    return fail("cannot create the SRTP sessions");
  }
  srtp_profile_ = profile->name;
  srtp_out_ = out;
}

void DtlsSrtpSession::on_timer() {
  if (!ssl_ || failed() || SSL_is_init_finished(ssl_)) return;
  if (DTLSv1_handle_timeout(ssl_) < 0) fail(openssl_error("DTLS handshake timed out"));
}

void DtlsSrtpSession::shutdown() {
  if (ssl_ && SSL_is_init_finished(ssl_) && !closed_by_peer_) SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool DtlsSrtpSession::protect_rtp(uint8_t *packet, int *len) {
  return srtp_out_ && srtp_protect(srtp_out_, packet, len) == srtp_err_status_ok;
}

bool DtlsSrtpSession::protect_rtcp(uint8_t *packet, int *len) {
  return srtp_out_ && srtp_protect_rtcp(srtp_out_, packet, len) == srtp_err_status_ok;
}

bool DtlsSrtpSession::unprotect_rtp(uint8_t *packet, int *len) {
  return srtp_in_ && srtp_unprotect(srtp_in_, packet, len) == srtp_err_status_ok;
}

bool DtlsSrtpSession::unprotect_rtcp(uint8_t *packet, int *len) {
  return srtp_in_ && srtp_unprotect_rtcp(srtp_in_, packet, len) == srtp_err_status_ok;
}

bool has_plaintext_alert(const uint8_t *data, size_t len) {
  // DTLS 1.2 record header: type (1), version (2), epoch (2), sequence (6), length (2).
  constexpr size_t kHeader = 13;
  constexpr uint8_t kAlert = 21;
  size_t at = 0;
  while (at + kHeader <= len) {
    uint16_t epoch = static_cast<uint16_t>(data[at + 3] << 8 | data[at + 4]);
    size_t length = static_cast<size_t>(data[at + 11] << 8 | data[at + 12]);
    if (data[at] == kAlert && epoch == 0) return true;
    at += kHeader + length;
  }
  return false;
}

}  // namespace gramothi
