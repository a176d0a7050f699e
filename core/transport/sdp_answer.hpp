// A listener's SDP answer, read and checked before any media code sees it (the lite transport,
// or a listener's webrtcbin). The server offers one send-only audio m-line with DTLS-SRTP and
// ICE; an answer is usable when it is SDP text of at most kMaxAnswerBytes with exactly one
// m-line, audio, not rejected (port 0) and not inactive, over DTLS-SRTP, accepting the offered
// payload type, with ICE credentials (RFC 8839 lengths, printable ASCII, no ':' in the ufrag), a
// DTLS fingerprint in a hash we check (sha-1, sha-256, sha-384, sha-512) and a setup other than
// holdconn. An answer may also accept RED (RFC 2198) when it was offered. Anything else is an
// "invalid_sdp" Error whose message says what is missing; the answer then changes nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace gramothi {

constexpr size_t kMaxAnswerBytes = 32 * 1024;

struct ListenerAnswer {
  std::string ice_ufrag, ice_pwd;
  std::string fingerprint;  // as in SDP: "sha-256 AB:CD:..."
  std::string setup;        // "active", "passive", "actpass" or "" (absent)
  bool red = false;         // accepts RED (RFC 2198) at the offered red payload type
};

// `red_payload_type` (0: none offered): the answer accepts redundant audio when it lists that
// payload type with a=rtpmap "red/48000/2" (browsers keep the offer's numbers).
Result<ListenerAnswer> parse_listener_answer(std::string_view sdp, unsigned payload_type,
                                             unsigned red_payload_type = 0);

}  // namespace gramothi
