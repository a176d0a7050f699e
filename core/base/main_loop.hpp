// Deferring work to the main loop (the default GMainContext), for code that must answer "later,
// never inside the call" or must leave a GStreamer/worker thread before touching shared state.
#pragma once

#include <functional>

namespace gramothi {

// Runs `fn` on the main context at its next idle moment (from the main loop itself).
void run_later(std::function<void()> fn);
// Runs `fn` on the main context from any thread (soon; never inside the caller).
void run_on_main(std::function<void()> fn);

}  // namespace gramothi
