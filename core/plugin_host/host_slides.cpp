// Slides for plugins, through core's SlideService (absent when the server runs without it):
// deck upload, the class's active deck, moving the current slide, and rendered images.
#include "base/main_loop.hpp"
#include "domain/slide_service.hpp"
#include "plugin_host/host_context.hpp"
#include "plugin_host/host_table.hpp"

namespace gramothi {
namespace {

Error slides_unavailable() {
  return Error{ErrorKind::kUnavailable, "slides_unavailable", "Slides are not available."};
}

// The slide service, or null after answering `done` (later) that there is none.
SlideService *slides_or_answer(GramothiPluginContext *ctx, GramothiResultCallback done,
                               void *user_data) {
  if (!ctx->services->slides) deliver_later(done, user_data, slides_unavailable());
  return ctx->services->slides;
}

}  // namespace

void host_slides_upload(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                        const char *class_id, const uint8_t *body, size_t length,
                        const char *content_type, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  SlideService *slides = slides_or_answer(ctx, done, user_data);
  if (!slides) return;
  auto claims = caller_or_answer(ctx, who, done, user_data);
  if (!claims) return;
  g_autoptr(GBytes) bytes = g_bytes_new(body, length);
  slides->upload(*claims, class_id ? class_id : "", bytes, content_type ? content_type : "",
                 answer(done, user_data));
}

void host_slides_list(GramothiPluginContext *ctx, const char *class_id, GramothiResultCallback done,
                      void *user_data) {
  if (!done) return;
  SlideService *slides = slides_or_answer(ctx, done, user_data);
  if (!slides) return;
  slides->list(class_id ? class_id : "", answer(done, user_data));
}

void host_slides_sync(GramothiPluginContext *ctx, const GramothiPrincipal *who,
                      const char *class_id, const char *action, const char *slide_id,
                      int64_t order_no, GramothiResultCallback done, void *user_data) {
  if (!done) return;
  SlideService *slides = slides_or_answer(ctx, done, user_data);
  if (!slides) return;
  auto claims = caller_or_answer(ctx, who, done, user_data);
  if (!claims) return;
  slides->sync(*claims, class_id ? class_id : "", action ? action : "", slide_id ? slide_id : "",
               order_no, answer(done, user_data));
}

void host_slides_image(GramothiPluginContext *ctx, const char *file, GramothiBytesCallback done,
                       void *user_data) {
  if (!done) return;
  auto fail = [done, user_data](const Error &e) {
    GramothiError ge{};
    fill_error(&ge, e);
    done(&ge, nullptr, 0, user_data);
  };
  if (!ctx->services->slides) {
    Error e = slides_unavailable();
    run_later([fail, e] { fail(e); });
    return;
  }
  ctx->services->slides->image(file ? file : "", [done, user_data, fail](Result<GBytes *> r) {
    if (!r) return fail(r.error());
    gsize len = 0;
    const void *data = g_bytes_get_data(*r, &len);
    done(nullptr, static_cast<const uint8_t *>(data), len, user_data);
  });
}

}  // namespace gramothi
