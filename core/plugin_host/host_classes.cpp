// Classes for plugins, through core's ClassRegistry: the lifecycle (start, stop, join, leave,
// pinned profile) and status of a class, and whether a user attended it.
#include <optional>
#include <string>
#include <vector>

#include "base/ids.hpp"
#include "base/json.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {
namespace {

using RegistryOp = void (ClassRegistry::*)(const TokenClaims &, const std::string &,
                                           ClassRegistry::ChangeCallback);

void run_class_op(GramothiPluginContext *ctx, RegistryOp op, const GramothiPrincipal *who,
                  const char *class_id, GramothiResultCallback done, void *user_data,
                  const char *profile = nullptr) {
  if (!done) return;
  ClassRegistry::ChangeCallback cb = [done, user_data](Result<ClassChange> r) {
    if (!r) return deliver(done, user_data, &r.error(), "");
    deliver(done, user_data, nullptr,
            JsonObjectWriter()
                .boolean("changed", r->changed)
                .raw("class", ClassRegistry::status_json(r->status))
                .finish());
  };
  auto claims = claims_from(ctx, who);
  if (!claims) {
    Error e{ErrorKind::kInvalid, "invalid_principal", "The principal is not valid."};
    // Still answer later, never from inside the call.
    ctx->services->classes->pin_profile(TokenClaims{}, "", "",
                                        [cb, e](Result<ClassChange>) { cb(e); });
    return;
  }
  std::string id = class_id ? class_id : "";
  if (profile)
    ctx->services->classes->pin_profile(*claims, id, profile, std::move(cb));
  else
    (ctx->services->classes->*op)(*claims, id, std::move(cb));
}

}  // namespace

void host_class_start(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::start, who, class_id, done, user_data);
}
void host_class_stop(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::stop, who, class_id, done, user_data);
}
void host_class_join(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                     GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::join, who, class_id, done, user_data);
}
void host_class_leave(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, GramothiResultCallback done, void *user_data) {
  run_class_op(ctx, &ClassRegistry::leave, who, class_id, done, user_data);
}
void host_class_pin_profile(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                            const char *class_id, const char *profile, GramothiResultCallback done,
                            void *user_data) {
  run_class_op(ctx, nullptr, who, class_id, done, user_data, profile ? profile : "");
}

void host_class_status(GramothiPluginContext *ctx, const char *class_id,
                       GramothiResultCallback done, void *user_data) {
  if (!done) return;
  ctx->services->classes->status(
      class_id ? class_id : "", [done, user_data](Result<ClassStatus> r) {
        if (!r) return deliver(done, user_data, &r.error(), "");
        deliver(done, user_data, nullptr, ClassRegistry::status_json(*r));
      });
}

void host_class_pinned_profile(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                               const char *class_id, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = claims_from(ctx, who);
  std::string user = claims ? claims->user_id : "";
  // An invalid principal has no stored choice; still answer on a later iteration.
  ctx->services->classes->pinned_profile(user, class_id ? class_id : "",
                                         [done, user_data](Result<std::optional<std::string>> r) {
                                           if (!r) return deliver(done, user_data, &r.error(), "");
                                           JsonObjectWriter w;
                                           if (*r)
                                             w.str("profile", **r);
                                           else
                                             w.null("profile");
                                           deliver(done, user_data, nullptr, w.finish());
                                         });
}

void host_class_attended(GramothiPluginContext *ctx, const char *class_id, const char *user_id,
                         GramothiResultCallback done, void *user_data) {
  if (!done) return;
  if (!class_id || !user_id || !valid_class_id(class_id) || !valid_user_id(user_id)) {
    Error e{ErrorKind::kInvalid, "invalid_argument", "A class id and a user id are needed."};
    return deliver(done, user_data, &e, "");
  }
  ctx->services->classes->attended(class_id, user_id, [done, user_data](Result<bool> r) {
    if (!r) return deliver(done, user_data, &r.error(), "");
    deliver(done, user_data, nullptr, *r ? "{\"attended\":true}" : "{\"attended\":false}");
  });
}

void host_class_access(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                       const char *class_id, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = caller_or_answer(ctx, who, done, user_data);
  if (!claims) return;
  ctx->services->classes->access(
      *claims, class_id ? class_id : "", [done, user_data](Result<ClassAccess> r) {
        if (!r) return deliver(done, user_data, &r.error(), "");
        deliver(
            done, user_data, nullptr,
            JsonObjectWriter().boolean("attend", r->attend).boolean("teach", r->teach).finish());
      });
}

void host_class_set_teachers(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                             const char *class_id, const char *const *teachers, size_t n,
                             GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = caller_or_answer(ctx, who, done, user_data);
  if (!claims) return;
  std::vector<std::string> list;
  for (size_t i = 0; i < n && teachers; i++)
    list.emplace_back(teachers[i] ? teachers[i] : "");
  ctx->services->classes->set_teachers(
      *claims, class_id ? class_id : "", list, [done, user_data](Result<ClassStatus> r) {
        if (!r) return deliver(done, user_data, &r.error(), "");
        deliver(done, user_data, nullptr, ClassRegistry::status_json(*r));
      });
}

}  // namespace gramothi
