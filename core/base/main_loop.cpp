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
  // Always queued. g_main_context_invoke would run `fn` at once in the calling thread whenever
  // that thread can acquire the context: inside the caller on the main loop, and on a GStreamer
  // or worker thread whenever the main thread is not iterating at that moment (at shutdown, or
  // in a test that iterates by hand).
  run_later(std::move(fn));
}

}  // namespace gramothi
