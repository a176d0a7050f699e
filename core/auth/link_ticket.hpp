// Link tickets: short-lived, narrowly scoped credentials for URLs that cannot carry a header
// (an <audio> source, a download link). A ticket names one user, their role, one scope (e.g.
// "recording:recording-id:<id>") and an expiry, signed with HMAC-SHA256 under a key derived from
// the server's token secret: "<base64url payload>.<base64url mac>". A long-lived token never
// goes into a URL; a ticket that leaks opens one thing for a short time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "base/error.hpp"

namespace gramothi {

class LinkTickets {
 public:
  static constexpr int64_t kMaxTtl = 24 * 3600;
  static constexpr size_t kMaxTicketBytes = 1024;

  explicit LinkTickets(std::string_view token_secret);

  // A ticket for `scope` until `expires_at` (unix seconds).
  std::string sign(const std::string &user_id, Role role, const std::string &scope,
                   int64_t expires_at) const;
  // The ticket's user and role (issued_at 0, expires_at the ticket's) when it is genuine, for
  // `scope` and not expired. Errors (kUnauthorized): "ticket_invalid", "ticket_expired".
  Result<TokenClaims> verify(std::string_view ticket, const std::string &scope,
                             int64_t now_s) const;

 private:
  std::string key_;
};

}  // namespace gramothi
