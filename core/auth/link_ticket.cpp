#include "auth/link_ticket.hpp"

#include "base/ids.hpp"
#include "base/json.hpp"
#include "base/secrets.hpp"

namespace gramothi {
namespace {

Error invalid() {
  return Error{ErrorKind::kUnauthorized, "ticket_invalid",
               "The link's ticket is not valid here; ask for a new link."};
}

}  // namespace

LinkTickets::LinkTickets(std::string_view token_secret)
    : key_(hmac(G_CHECKSUM_SHA256, token_secret, "gramothi link tickets v1")) {}

std::string LinkTickets::sign(const std::string &user_id, Role role, const std::string &scope,
                              int64_t expires_at) const {
  std::string payload = base64url_encode(JsonObjectWriter()
                                             .str("sub", user_id)
                                             .str("role", role_name(role))
                                             .str("scope", scope)
                                             .num("exp", expires_at)
                                             .finish());
  return payload + "." + base64url_encode(hmac(G_CHECKSUM_SHA256, key_, payload));
}

Result<TokenClaims> LinkTickets::verify(std::string_view ticket, const std::string &scope,
                                        int64_t now_s) const {
  if (ticket.size() > kMaxTicketBytes) return invalid();
  size_t dot = ticket.find('.');
  if (dot == std::string_view::npos) return invalid();
  auto mac = base64url_decode(ticket.substr(dot + 1));
  std::string_view payload_text = ticket.substr(0, dot);
  if (!mac || !constant_time_equal(*mac, hmac(G_CHECKSUM_SHA256, key_, payload_text)))
    return invalid();
  // Past the MAC the payload is the server's own writing.
  auto raw = base64url_decode(payload_text);
  if (!raw) return invalid();
  auto payload = parse_json_object(*raw);
  if (!payload) return invalid();
  JsonObject *o = json_node_get_object(payload->get());
  const char *sub = json_object_get_string_member_with_default(o, "sub", "");
  const char *role = json_object_get_string_member_with_default(o, "role", "");
  const char *for_scope = json_object_get_string_member_with_default(o, "scope", "");
  auto parsed_role = parse_role(role);
  if (!valid_user_id(sub) || !parsed_role || scope != for_scope) return invalid();
  TokenClaims c;
  c.user_id = sub;
  c.role = *parsed_role;
  c.expires_at = json_object_get_int_member_with_default(o, "exp", 0);
  if (now_s >= c.expires_at)
    return Error{ErrorKind::kUnauthorized, "ticket_expired",
                 "The link has expired; open it again from the class page."};
  return c;
}

}  // namespace gramothi
