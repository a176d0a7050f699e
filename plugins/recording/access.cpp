#include "access.hpp"

#include <cstring>

namespace gramothi::recording {

bool authenticate(const HostLink &host, GramothiHttpExchange *ex, GramothiPrincipal *who) {
  GramothiError e{};
  const char *auth = host.api->http_header(ex, "Authorization");
  if ((!auth || !*auth) && host.api->http_query(ex, "token")) {
    host.api->http_add_header(ex, "WWW-Authenticate", "Bearer");
    host.respond_error(ex, 401, "token_in_url",
                       "Tokens do not go in URLs: send 'Authorization: Bearer <jwt>', or use a "
                       "link from POST /api/v1/recordings/{recording_id}/links.");
    return false;
  }
  if (host.api->auth_verify(host.ctx, auth, who, &e) == GRAMOTHI_OK) return true;
  host.api->http_add_header(ex, "WWW-Authenticate", "Bearer");
  host.respond_error(ex, e);
  return false;
}

void with_right(const HostLink &host, GramothiHttpExchange *ex, const GramothiPrincipal &who,
                const std::string &class_id, Right right, Allowed then, Refused refused) {
  auto answered = [host, ex, who, class_id, right, then = std::move(then),
                   refused = std::move(refused)](const GramothiError *error, const char *json) {
    if (error) return host.respond_error(ex, *error);
    bool allowed = strstr(json, right == Right::kTeach ? "\"teach\":true" : "\"attend\":true");
    if (!allowed && refused) return refused(ex);
    if (right == Right::kTeach && !strstr(json, "\"teach\":true"))
      return host.respond_error(ex, 403, "not_class_owner",
                                "Only the class's teachers turn its recording on or off.");
    if (!strstr(json, "\"attend\":true"))
      return host.respond_error(ex, 403, "not_in_class",
                                "Recordings are for the members of class '" + class_id + "'.");
    then(ex, who, class_id);
  };
  host.api->class_access(host.ctx, &who, class_id.c_str(), OnResult::call,
                         OnResult::wrap(std::move(answered)));
}

std::string ticket_scope(const std::string &recording_id) {
  return "recording:" + recording_id;
}

}  // namespace gramothi::recording
