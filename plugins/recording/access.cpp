#include "access.hpp"

#include <cstring>
#include <memory>

namespace gramothi::recording {

namespace {

// A request waiting for the host's answers: first the class status, then (students only, when
// the token does not enrol them) whether the student attended.
struct AccessCheck {
  HostLink host;
  GramothiHttpExchange *ex;  // borrowed until answered
  GramothiPrincipal who;
  std::string class_id;
  bool enrolled;  // the token's "classes" claim names the class
  Allowed then;
};

void on_attended(const AccessCheck &c, const GramothiError *error, const char *json) {
  if (error) return c.host.respond_error(c.ex, *error);
  if (!json || !strstr(json, "\"attended\":true"))
    return c.host.respond_error(c.ex, 403, "not_in_class",
                                "Recordings are for the students of this class.");
  c.then(c.ex, c.who, c.class_id);
}

void on_class_status(const AccessCheck &c, const GramothiError *error, const char *json) {
  if (error) return c.host.respond_error(c.ex, *error);
  g_autoptr(JsonParser) p = json_parser_new();
  JsonObject *o = parse_object(p, json);
  auto member = [o](const char *name) {
    return o ? json_object_get_string_member_with_default(o, name, "") : "";
  };
  const char *user = c.who.user_id;
  if (c.who.role == GRAMOTHI_ROLE_ADMIN ||
      (c.who.role == GRAMOTHI_ROLE_TEACHER &&
       (g_strcmp0(member("owner_id"), user) == 0 || g_strcmp0(member("teacher_id"), user) == 0)))
    return c.then(c.ex, c.who, c.class_id);
  if (c.who.role == GRAMOTHI_ROLE_TEACHER)
    return c.host.respond_error(c.ex, 403, "not_class_owner",
                                "Only the class's own teachers see its recordings.");
  if (c.enrolled) return c.then(c.ex, c.who, c.class_id);
  c.host.api->class_attended(
      c.host.ctx, c.class_id.c_str(), c.who.user_id, OnResult::call,
      OnResult::wrap([c](const GramothiError *e, const char *json) { on_attended(c, e, json); }));
}

}  // namespace

void with_access(const HostLink &host, GramothiHttpExchange *ex, const std::string &class_id,
                 Allowed then) {
  GramothiPrincipal who{};
  GramothiError e{};
  const char *auth = host.api->http_header(ex, "Authorization");
  std::string query_auth;
  if ((!auth || !*auth) && host.api->http_query(ex, "token")) {
    query_auth = std::string("Bearer ") + host.api->http_query(ex, "token");
    auth = query_auth.c_str();
  }
  if (host.api->auth_verify(host.ctx, auth, &who, &e) != GRAMOTHI_OK) {
    host.api->http_add_header(ex, "WWW-Authenticate", "Bearer");
    return host.respond_error(ex, e);
  }
  bool enrolled = GRAMOTHI_HOST_HAS(host.api, auth_token_has_class) &&
                  host.api->auth_token_has_class(host.ctx, auth, class_id.c_str()) == 1;
  AccessCheck check{host, ex, who, class_id, enrolled, std::move(then)};
  host.api->class_status(host.ctx, class_id.c_str(), OnResult::call,
                         OnResult::wrap([check](const GramothiError *error, const char *json) {
                           on_class_status(check, error, json);
                         }));
}

}  // namespace gramothi::recording
