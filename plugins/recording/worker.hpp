// FileWorker: one background thread for file work, and the way back to the main loop.
//
// run(work, then) queues `work` for the thread (jobs run one at a time, in the order queued),
// then queues `then`, if any, for the main loop. `work` must touch only what it captured by
// value; `then` runs on the main loop like everything else in the plugin.
//
// Destroying the worker (on the main loop) first runs the work already queued, then drops the
// `then`s not yet delivered, so none runs, or is freed, after the plugin is unloaded.
#pragma once

#include <glib.h>

#include <functional>
#include <mutex>
#include <set>
#include <string>

namespace gramothi::recording {

class FileWorker {
 public:
  using Job = std::function<void()>;

  FileWorker();
  ~FileWorker();
  FileWorker(const FileWorker &) = delete;
  FileWorker &operator=(const FileWorker &) = delete;

  void run(Job work, Job then = nullptr);

 private:
  struct Delivery;
  static void on_thread(gpointer job, gpointer);
  void deliver(Job then);  // on the thread

  GThreadPool *pool_ = nullptr;  // owned
  std::mutex mutex_;             // guards undelivered_
  std::set<guint> undelivered_;  // main-loop sources of `then`s not run yet
};

// The whole file at `path`, or "" when it cannot be read. For work on a FileWorker.
std::string read_text(const std::string &path);

}  // namespace gramothi::recording
