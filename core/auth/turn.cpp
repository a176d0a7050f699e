#include "auth/turn.hpp"

#include "base/secrets.hpp"

namespace gramothi {

TurnCredential make_turn_credential(const std::string &shared_secret, const std::string &user_id,
                                    int64_t now_s, int64_t ttl_s) {
  TurnCredential c;
  c.expires_at = now_s + ttl_s;
  c.username = std::to_string(c.expires_at) + ":" + user_id;
  std::string mac = hmac(G_CHECKSUM_SHA1, shared_secret, c.username);
  g_autofree char *b64 = g_base64_encode(reinterpret_cast<const guchar *>(mac.data()), mac.size());
  c.password = b64;
  return c;
}

}  // namespace gramothi
