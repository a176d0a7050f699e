#include "transport/stun.hpp"

#include <glib.h>
#include <netinet/in.h>

#include <cstring>

namespace gramothi::stun {
namespace {

constexpr uint32_t kMagicCookie = 0x2112A442;
constexpr uint32_t kFingerprintXor = 0x5354554e;
constexpr size_t kHeader = 20;
constexpr uint16_t kAttrUsername = 0x0006;
constexpr uint16_t kAttrIntegrity = 0x0008;
constexpr uint16_t kAttrXorMapped = 0x0020;
constexpr uint16_t kAttrUseCandidate = 0x0025;
constexpr uint16_t kAttrSoftware = 0x8022;
constexpr uint16_t kAttrFingerprint = 0x8028;
constexpr uint16_t kAttrIceControlling = 0x802A;
constexpr uint16_t kAttrPriority = 0x0024;

uint16_t be16(const uint8_t *p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
void put16(std::vector<uint8_t> &out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t> &out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}
void set16(uint8_t *p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// HMAC-SHA1 of data[0, upto) with the header's length field as if the message ended right
// after the MESSAGE-INTEGRITY attribute (RFC 5389 §15.4).
std::array<uint8_t, 20> hmac_sha1(const uint8_t *data, size_t upto, const std::string &key) {
  std::vector<uint8_t> copy(data, data + upto);
  set16(copy.data() + 2, static_cast<uint16_t>(upto - kHeader + 24));
  GHmac *h = g_hmac_new(G_CHECKSUM_SHA1, reinterpret_cast<const guchar *>(key.data()), key.size());
  g_hmac_update(h, copy.data(), static_cast<gssize>(copy.size()));
  std::array<uint8_t, 20> out{};
  gsize n = out.size();
  g_hmac_get_digest(h, out.data(), &n);
  g_hmac_unref(h);
  return out;
}

uint32_t fingerprint_of(const uint8_t *data, size_t upto) {
  std::vector<uint8_t> copy(data, data + upto);
  set16(copy.data() + 2, static_cast<uint16_t>(upto - kHeader + 8));
  return crc32(copy.data(), copy.size()) ^ kFingerprintXor;
}

// Appends MESSAGE-INTEGRITY and FINGERPRINT and sets the header's length.
void seal(std::vector<uint8_t> &out, const std::string &password) {
  size_t mi_at = out.size();
  auto mac = hmac_sha1(out.data(), mi_at, password);
  put16(out, kAttrIntegrity);
  put16(out, 20);
  out.insert(out.end(), mac.begin(), mac.end());
  uint32_t fp = fingerprint_of(out.data(), out.size());
  put16(out, kAttrFingerprint);
  put16(out, 4);
  put32(out, fp);
  set16(out.data() + 2, static_cast<uint16_t>(out.size() - kHeader));
}

}  // namespace

uint32_t crc32(const uint8_t *data, size_t len) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++)
    c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool looks_like_stun(const uint8_t *data, size_t len) {
  return len >= kHeader && data[0] < 4 && be32(data + 4) == kMagicCookie &&
         (be16(data + 2) & 3) == 0 && kHeader + be16(data + 2) == len;
}

std::optional<Message> parse(const uint8_t *data, size_t len) {
  if (!looks_like_stun(data, len)) return std::nullopt;
  Message m;
  m.type = be16(data);
  std::memcpy(m.transaction.data(), data + 8, 12);
  size_t at = kHeader;
  while (at < len) {
    if (m.fingerprint_at) return std::nullopt;  // nothing may follow FINGERPRINT
    if (len - at < 4) return std::nullopt;
    uint16_t type = be16(data + at), alen = be16(data + at + 2);
    size_t padded = (alen + 3u) & ~3u;
    if (len - at - 4 < padded) return std::nullopt;
    const uint8_t *v = data + at + 4;
    if (!m.integrity_at || type == kAttrFingerprint) {  // attributes after MI are ignored
      switch (type) {
        case kAttrUsername:
          if (alen > 513) return std::nullopt;
          m.username.assign(reinterpret_cast<const char *>(v), alen);
          break;
        case kAttrUseCandidate:
          m.use_candidate = true;
          break;
        case kAttrIceControlling:
          m.ice_controlling = true;
          break;
        case kAttrIntegrity:
          if (alen != 20) return std::nullopt;
          m.integrity_at = at;
          break;
        case kAttrFingerprint:
          if (alen != 4 || be32(v) != fingerprint_of(data, at)) return std::nullopt;
          m.fingerprint_at = at;
          break;
        default:
          break;
      }
    }
    at += 4 + padded;
  }
  return m;
}

bool integrity_ok(const uint8_t *data, size_t len, const Message &m, const std::string &password) {
  if (!m.integrity_at || m.integrity_at + 24 > len) return false;
  auto mac = hmac_sha1(data, m.integrity_at, password);
  // Constant time: the comparison must not tell an attacker how much of the MAC was right.
  uint8_t diff = 0;
  for (size_t i = 0; i < mac.size(); i++)
    diff |= static_cast<uint8_t>(mac[i] ^ data[m.integrity_at + 4 + i]);
  return diff == 0;
}

std::vector<uint8_t> binding_success(const TransactionId &transaction, const sockaddr *peer,
                                     const std::string &password, const std::string &software) {
  std::vector<uint8_t> out;
  out.reserve(128);
  put16(out, kBindingSuccess);
  put16(out, 0);  // length, set below
  put32(out, kMagicCookie);
  out.insert(out.end(), transaction.begin(), transaction.end());
  if (!software.empty()) {
    put16(out, kAttrSoftware);
    put16(out, static_cast<uint16_t>(software.size()));
    out.insert(out.end(), software.begin(), software.end());
    while (out.size() % 4)
      out.push_back(0x20);  // RFC 5769 pads with spaces; any value is allowed
  }
  put16(out, kAttrXorMapped);
  if (peer->sa_family == AF_INET6) {
    const auto *a = reinterpret_cast<const sockaddr_in6 *>(peer);
    put16(out, 20);
    put16(out, 0x0002);
    put16(out, static_cast<uint16_t>(ntohs(a->sin6_port) ^ (kMagicCookie >> 16)));
    uint8_t mask[16];
    for (int i = 0; i < 4; i++)
      mask[i] = static_cast<uint8_t>(kMagicCookie >> (24 - 8 * i));
    std::memcpy(mask + 4, transaction.data(), 12);
    for (int i = 0; i < 16; i++)
      out.push_back(a->sin6_addr.s6_addr[i] ^ mask[i]);
  } else {
    const auto *a = reinterpret_cast<const sockaddr_in *>(peer);
    put16(out, 8);
    put16(out, 0x0001);
    put16(out, static_cast<uint16_t>(ntohs(a->sin_port) ^ (kMagicCookie >> 16)));
    put32(out, ntohl(a->sin_addr.s_addr) ^ kMagicCookie);
  }
  seal(out, password);
  return out;
}

std::vector<uint8_t> binding_request(const TransactionId &transaction, const std::string &username,
                                     const std::string &password, uint32_t priority,
                                     uint64_t tie_breaker, bool use_candidate) {
  std::vector<uint8_t> out;
  out.reserve(128);
  put16(out, kBindingRequest);
  put16(out, 0);
  put32(out, kMagicCookie);
  out.insert(out.end(), transaction.begin(), transaction.end());
  put16(out, kAttrUsername);
  put16(out, static_cast<uint16_t>(username.size()));
  out.insert(out.end(), username.begin(), username.end());
  while (out.size() % 4)
    out.push_back(0);
  put16(out, kAttrPriority);
  put16(out, 4);
  put32(out, priority);
  put16(out, kAttrIceControlling);
  put16(out, 8);
  put32(out, static_cast<uint32_t>(tie_breaker >> 32));
  put32(out, static_cast<uint32_t>(tie_breaker));
  if (use_candidate) {
    put16(out, kAttrUseCandidate);
    put16(out, 0);
  }
  seal(out, password);
  return out;
}

}  // namespace gramothi::stun
