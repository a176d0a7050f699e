// STUN (RFC 5389) as an ICE-lite agent needs it (RFC 8445 §2.5): parse a peer's Binding request,
// check its MESSAGE-INTEGRITY (short-term credential: our ice-pwd) and FINGERPRINT, and build
// the success response with XOR-MAPPED-ADDRESS. Nothing else of STUN is spoken: a lite agent
// sends no requests of its own.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gramothi::stun {

constexpr uint16_t kBindingRequest = 0x0001;
constexpr uint16_t kBindingIndication = 0x0011;
constexpr uint16_t kBindingSuccess = 0x0101;

using TransactionId = std::array<uint8_t, 12>;

// True when the datagram is shaped like STUN (RFC 7983 demultiplexing plus the magic cookie).
bool looks_like_stun(const uint8_t *data, size_t len);

struct Message {
  uint16_t type = 0;
  TransactionId transaction{};
  std::string username;          // USERNAME, if present
  bool use_candidate = false;    // USE-CANDIDATE
  bool ice_controlling = false;  // ICE-CONTROLLING
  size_t integrity_at = 0;       // offset of MESSAGE-INTEGRITY, 0 = absent
  size_t fingerprint_at = 0;     // offset of FINGERPRINT, 0 = absent
};

// Parses the header and attributes; nullopt if the message is malformed (lengths, padding,
// attributes after FINGERPRINT, a FINGERPRINT that does not match).
std::optional<Message> parse(const uint8_t *data, size_t len);

// Checks MESSAGE-INTEGRITY (HMAC-SHA1 keyed with `password`); false if absent or wrong.
bool integrity_ok(const uint8_t *data, size_t len, const Message &m, const std::string &password);

// A Binding success response: XOR-MAPPED-ADDRESS of `peer`, SOFTWARE if given,
// MESSAGE-INTEGRITY keyed with `password`, FINGERPRINT.
std::vector<uint8_t> binding_success(const TransactionId &transaction, const sockaddr *peer,
                                     const std::string &password, const std::string &software = "");

// A Binding request as a full ICE agent in the controlling role sends it (for load clients and
// tests): USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE if asked, MESSAGE-INTEGRITY keyed
// with `password` (the other side's ice-pwd), FINGERPRINT.
std::vector<uint8_t> binding_request(const TransactionId &transaction, const std::string &username,
                                     const std::string &password, uint32_t priority,
                                     uint64_t tie_breaker, bool use_candidate);

uint32_t crc32(const uint8_t *data, size_t len);

}  // namespace gramothi::stun
