// Conversions the host-table files share: core's errors, claims and results in ABI form.
#include "plugin_host/host_context.hpp"

#include <cstring>

#include "base/ids.hpp"
#include "base/main_loop.hpp"

namespace gramothi {

void fill_error(GramothiError *out, const Error &e) {
  if (!out) return;
  out->status = abi_status(e.kind);
  g_strlcpy(out->code, e.code.c_str(), sizeof out->code);
  g_strlcpy(out->message, e.message.c_str(), sizeof out->message);
}

void plugin_log(GramothiPluginContext *ctx, LogLevel level, const std::string &message) {
  log_message(level, "plugin:" + ctx->name, message);
}

bool valid_principal_user(const GramothiPrincipal *who) {
  return who && memchr(who->user_id, '\0', sizeof who->user_id) && valid_user_id(who->user_id);
}

std::optional<TokenClaims> claims_from(GramothiPluginContext *ctx, const GramothiPrincipal *who) {
  if (!valid_principal_user(who)) return std::nullopt;
  TokenClaims c;
  c.user_id = who->user_id;
  switch (who->role) {
    case GRAMOTHI_ROLE_STUDENT:
      c.role = Role::kStudent;
      break;
    case GRAMOTHI_ROLE_TEACHER:
      c.role = Role::kTeacher;
      break;
    case GRAMOTHI_ROLE_ADMIN:
      c.role = Role::kAdmin;
      break;
    default:
      return std::nullopt;
  }
  c.expires_at = who->expires_at;
  if (ctx->services->grants) ctx->services->grants->fill(&c, g_get_real_time() / G_USEC_PER_SEC);
  return c;
}

void deliver(GramothiResultCallback done, void *user_data, const Error *error,
             const std::string &json) {
  if (error) {
    GramothiError e{};
    fill_error(&e, *error);
    done(&e, nullptr, user_data);
  } else {
    done(nullptr, json.c_str(), user_data);
  }
}

void deliver_later(GramothiResultCallback done, void *user_data, Error error) {
  run_later([done, user_data, error] { deliver(done, user_data, &error, ""); });
}

std::optional<TokenClaims> caller_or_answer(GramothiPluginContext *ctx,
                                            const GramothiPrincipal *who,
                                            GramothiResultCallback done, void *user_data) {
  auto claims = claims_from(ctx, who);
  if (!claims)
    deliver_later(done, user_data,
                  Error{ErrorKind::kUnauthorized, "invalid_principal", "Not a valid caller."});
  return claims;
}

ClassRegistry::JsonCallback answer(GramothiResultCallback done, void *user_data) {
  return [done, user_data](Result<std::string> r) {
    if (!r) return deliver(done, user_data, &r.error(), "");
    deliver(done, user_data, nullptr, *r);
  };
}

}  // namespace gramothi
