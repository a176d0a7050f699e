// DTLS-SRTP (RFC 5763/5764) for one WebRTC peer, on OpenSSL and libsrtp2, without sockets:
// datagrams go in through receive() and come out through take_outgoing(), so the transport
// decides where they travel. Once the handshake is done and the peer's certificate matches the
// fingerprint from its SDP, the session protects RTP/RTCP with the exported keys.
//
// DtlsIdentity is the server's certificate (ECDSA P-256, self-signed, made at start); every
// offer carries its SHA-256 fingerprint. SRTP profiles, in our order of preference:
// SRTP_AEAD_AES_128_GCM (RFC 7714: one AES-GCM pass per packet, cheap with AES-NI, 16-byte tag),
// then SRTP_AES128_CM_SHA1_80 (AES-CTR + HMAC-SHA1, 10-byte tag), which every WebRTC peer has.
// As the DTLS server (browsers answer a=setup:active) our order decides; as the client, the
// peer's. A DtlsSrtpSession is not thread-safe: its owner serialises every call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct srtp_ctx_t_ *srtp_t;

namespace gramothi {

inline constexpr const char *kSrtpProfiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";

class DtlsIdentity {
 public:
  // `srtp_profiles`: OpenSSL's list (tests offer fewer).
  static Result<std::shared_ptr<DtlsIdentity>> generate(
      const std::string &srtp_profiles = kSrtpProfiles);
  ~DtlsIdentity();
  DtlsIdentity(const DtlsIdentity &) = delete;
  DtlsIdentity &operator=(const DtlsIdentity &) = delete;

  // "AB:CD:..." (SHA-256 of the certificate), for a=fingerprint:sha-256.
  const std::string &fingerprint() const { return fingerprint_; }
  SSL_CTX *context() const { return ctx_; }

 private:
  DtlsIdentity() = default;
  SSL_CTX *ctx_ = nullptr;
  std::string fingerprint_;
};

// True when the datagram holds an unprotected (epoch 0) alert record. Before the handshake is
// done, such alerts are ignored: anyone who sees the listener's address could forge one and end
// the join (the handshake's own retransmissions decide whether it failed). Malformed record
// framing counts as no alert.
bool has_plaintext_alert(const uint8_t *data, size_t len);

class DtlsSrtpSession {
 public:
  enum class Role { kServer, kClient };  // who waits for the ClientHello
  // `remote_fingerprint` as in SDP: "sha-256 AB:CD:...".
  DtlsSrtpSession(std::shared_ptr<DtlsIdentity> identity, Role role,
                  std::string remote_fingerprint);
  ~DtlsSrtpSession();
  DtlsSrtpSession(const DtlsSrtpSession &) = delete;
  DtlsSrtpSession &operator=(const DtlsSrtpSession &) = delete;

  // Client role: sends the ClientHello. Server role: nothing.
  void start();
  // One datagram from the peer (a DTLS record or flight).
  void receive(const uint8_t *data, size_t len);
  // Retransmits a flight when the handshake timer has run out.
  void on_timer();
  // Datagrams to send to the peer, in order.
  std::vector<std::vector<uint8_t>> take_outgoing();
  // A close_notify for the peer (then take_outgoing()).
  void shutdown();

  bool ready() const { return srtp_out_ != nullptr; }
  // The SRTP profile agreed ("SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_SHA1_80"), once ready.
  const std::string &srtp_profile() const { return srtp_profile_; }
  bool failed() const { return !failure_.empty(); }
  const std::string &failure() const { return failure_; }
  bool closed_by_peer() const { return closed_by_peer_; }

  // In place; the buffer must leave room for the SRTP trailer: 16 bytes after len for RTP, 20
  // for RTCP (the SRTCP index and the tag).
  bool protect_rtp(uint8_t *packet, int *len);
  bool protect_rtcp(uint8_t *packet, int *len);
  bool unprotect_rtcp(uint8_t *packet, int *len);
  bool unprotect_rtp(uint8_t *packet, int *len);

  // For the transport's BIO.
  void queue_outgoing(const uint8_t *data, size_t len);

 private:
  void after_io();
  void finish_handshake();
  void fail(const std::string &why);

  std::shared_ptr<DtlsIdentity> identity_;
  Role role_;
  std::string remote_fingerprint_;
  SSL *ssl_ = nullptr;
  srtp_t srtp_out_ = nullptr, srtp_in_ = nullptr;
  std::vector<std::vector<uint8_t>> outgoing_;
  std::string failure_;
  std::string srtp_profile_;
  bool closed_by_peer_ = false;
};

}  // namespace gramothi
