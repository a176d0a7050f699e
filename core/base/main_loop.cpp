#include "base/main_loop.hpp"

#include <glib.h>

namespace gramothi {
namespace {

gboolean call_once(gpointer p) {
  (*static_cast<std::function<void()> *>(p))();
  return G_SOURCE_REMOVE;
}
void free_fn(gpointer p) {
  delete static_cast<std::function<void()> *>(p);
}

}  // namespace

void run_later(std::function<void()> fn) {
  g_idle_add_full(G_PRIORITY_DEFAULT, call_once, new std::function<void()>(std::move(fn)), free_fn);
}

void run_on_main(std::function<void()> fn) {
  g_main_context_invoke_full(nullptr, G_PRIORITY_DEFAULT, call_once,
                             new std::function<void()>(std::move(fn)), free_fn);
}

}  // namespace gramothi
