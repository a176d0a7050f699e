// TURN REST API credentials (the scheme coturn implements with --use-auth-secret):
// username "EXPIRY_UNIX:user_id", password base64(HMAC-SHA1(shared_secret, username)).
#pragma once

#include <cstdint>
#include <string>

namespace gramothi {

struct TurnCredential {
  std::string username;
  std::string password;
  int64_t expires_at = 0;  // unix seconds
};

TurnCredential make_turn_credential(const std::string &shared_secret, const std::string &user_id,
                                    int64_t now_s, int64_t ttl_s);

}  // namespace gramothi
