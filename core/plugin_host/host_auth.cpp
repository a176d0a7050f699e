// Tokens for plugins: verifying a request's bearer token into a principal (and remembering its
// class grants), link tickets, and the ICE servers (with time-limited TURN credentials).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "auth/turn.hpp"
#include "base/json.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {

namespace {

// The claims of `authorization` ("Bearer <jwt>"), verified as of now.
Result<TokenClaims> verify_bearer(GramothiPluginContext *ctx, const char *authorization) {
  auto token = bearer_token(authorization);
  if (!token) return token.error();
  return ctx->services->jwt->verify(*token, g_get_real_time() / G_USEC_PER_SEC);
}

void principal_from(const TokenClaims &claims, GramothiPrincipal *out) {
  *out = GramothiPrincipal{};
  g_strlcpy(out->user_id, claims.user_id.c_str(), sizeof out->user_id);
  out->role = claims.role == Role::kAdmin     ? GRAMOTHI_ROLE_ADMIN
              : claims.role == Role::kTeacher ? GRAMOTHI_ROLE_TEACHER
                                              : GRAMOTHI_ROLE_STUDENT;
  out->expires_at = claims.expires_at;
}

}  // namespace

int32_t host_auth_verify(GramothiPluginContext *ctx, const char *authorization,
                         GramothiPrincipal *out, GramothiError *error) {
  auto claims = verify_bearer(ctx, authorization);
  if (!claims) {
    fill_error(error, claims.error());
    return abi_status(claims.error().kind);
  }
  if (ctx->services->grants)
    ctx->services->grants->remember(*claims, g_get_real_time() / G_USEC_PER_SEC);
  if (out) principal_from(*claims, out);
  return GRAMOTHI_OK;
}

int32_t host_auth_token_has_class(GramothiPluginContext *ctx, const char *authorization,
                                  const char *class_id) {
  if (!class_id) return 0;
  auto claims = verify_bearer(ctx, authorization);
  if (!claims) return 0;
  return std::find(claims->classes.begin(), claims->classes.end(), class_id) !=
                 claims->classes.end()
             ? 1
             : 0;
}

namespace {

// Tickets are scoped per plugin: one plugin's scope means nothing to another.
std::string plugin_scope(GramothiPluginContext *ctx, const char *scope) {
  return ctx->name + "/" + scope;
}

}  // namespace

char *host_auth_ticket(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *scope,
                       int64_t ttl_s) {
  auto claims = claims_from(ctx, who);
  if (!claims || !scope || !*scope || strlen(scope) > 256 || !ctx->services->tickets)
    return nullptr;
  int64_t now_s = g_get_real_time() / G_USEC_PER_SEC;
  if (claims->expires_at <= now_s) return nullptr;
  ttl_s = std::clamp<int64_t>(ttl_s, 1, LinkTickets::kMaxTtl);
  int64_t expires = std::min(now_s + ttl_s, claims->expires_at);
  return g_strdup(
      ctx->services->tickets->sign(claims->user_id, claims->role, plugin_scope(ctx, scope), expires)
          .c_str());
}

int32_t host_auth_verify_ticket(GramothiPluginContext *ctx, const char *ticket, const char *scope,
                                GramothiPrincipal *out, GramothiError *error) {
  Result<TokenClaims> claims =
      Error{ErrorKind::kUnauthorized, "ticket_invalid", "The link carries no valid ticket."};
  if (ticket && scope && ctx->services->tickets)
    claims = ctx->services->tickets->verify(ticket, plugin_scope(ctx, scope),
                                            g_get_real_time() / G_USEC_PER_SEC);
  if (!claims) {
    fill_error(error, claims.error());
    return abi_status(claims.error().kind);
  }
  if (out) principal_from(*claims, out);
  return GRAMOTHI_OK;
}

char *host_ice_servers_json(GramothiPluginContext *ctx, const GramothiPrincipal *who) {
  const Config &c = *ctx->services->config;
  auto url_array = [](const std::vector<std::string> &urls) {
    std::string a = "[";
    for (const auto &u : urls)
      a += (a.size() > 1 ? "," : "") + json_quote(u);
    return a + "]";
  };
  std::string servers = "[";
  if (!c.stun_urls.empty())
    servers += JsonObjectWriter().raw("urls", url_array(c.stun_urls)).finish();
  int64_t now_s = g_get_real_time() / G_USEC_PER_SEC;
  int64_t expires = 0;
  if (!c.turn_urls.empty()) {
    std::string user = who && memchr(who->user_id, '\0', sizeof who->user_id) && *who->user_id
                           ? who->user_id
                           : "anonymous";
    TurnCredential cred =
        make_turn_credential(c.turn_shared_secret, user, now_s, c.turn_credential_ttl_s);
    expires = cred.expires_at;
    if (servers.size() > 1) servers += ",";
    servers += JsonObjectWriter()
                   .raw("urls", url_array(c.turn_urls))
                   .str("username", cred.username)
                   .str("credential", cred.password)
                   .str("credentialType", "password")
                   .finish();
  }
  servers += "]";
  JsonObjectWriter w;
  w.raw("ice_servers", servers);
  if (expires) {
    w.num("ttl_seconds", c.turn_credential_ttl_s)
        .str("expires_at", iso8601_from_ms(expires * 1000));
  } else {
    w.null("ttl_seconds").null("expires_at");
  }
  return g_strdup(w.finish().c_str());
}

}  // namespace gramothi
