// Chat for plugins, through core's ClassRegistry: posting, the recent messages of a class, and
// removing a message.
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {

void host_chat_post(GramothiPluginContext *ctx, const GramothiPrincipal *who, const char *class_id,
                    const char *text, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  auto claims = caller_or_answer(ctx, who, done, user_data);
  if (!claims) return;
  ctx->services->classes->chat_post(*claims, class_id ? class_id : "", text ? text : "",
                                    answer(done, user_data));
}

void host_chat_recent(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data) {
  if (!done) return;
  ctx->services->classes->chat_recent(class_id ? class_id : "", answer(done, user_data));
}

void host_chat_remove(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *message_id, GramothiResultCallback done,
                      void *user_data) {
  if (!done) return;
  auto claims = caller_or_answer(ctx, who, done, user_data);
  if (!claims) return;
  ctx->services->classes->chat_remove(*claims, class_id ? class_id : "",
                                      message_id ? message_id : "", answer(done, user_data));
}

}  // namespace gramothi
