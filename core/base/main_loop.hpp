// Deferring work to the main loop (the default GMainContext), for code that must answer "later,
// never inside the call" or must leave a GStreamer/worker thread before touching shared state.
#pragma once

#include <functional>

namespace gramothi {

// Runs `fn` on the main context at its next idle moment: from the main loop itself ("later, never
// inside this call") or from any other thread ("on the main loop, never on this thread"). Both
// names queue the same way; they say why the caller defers.
void run_later(std::function<void()> fn);
void run_on_main(std::function<void()> fn);

}  // namespace gramothi
