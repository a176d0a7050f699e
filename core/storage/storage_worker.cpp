#include "storage/storage_worker.hpp"

#include "base/log.hpp"

namespace gramothi {

StorageWorker::StorageWorker(std::unique_ptr<Database> db, Opener reopen,
                             GMainContext *main_context)
    : db_(std::move(db)),
      reopen_(std::move(reopen)),
      main_context_(g_main_context_ref(main_context)),
      thread_([this] { run(); }) {}

StorageWorker::~StorageWorker() {
  lifetime_.end();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  g_main_context_unref(main_context_);
}

void StorageWorker::post(Job job, Done done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(job), std::move(done)});
  }
  cv_.notify_one();
}

void StorageWorker::run() {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string open_error;
    if (!db_) {
      try {
        db_ = reopen_();
        log_message(LogLevel::kInfo, "storage", "database connection re-established");
      } catch (const StorageError &e) {
        open_error = e.what();
      }
    }
    item.job(db_.get(), open_error);

    auto *done = new Done([watch = lifetime_.watch(), done = std::move(item.done)] {
      if (watch.alive() && done) done();
    });
    // Queued on the main context, never run here: g_main_context_invoke would run it on this
    // thread whenever the main thread is not iterating at that moment.
    GSource *source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(
        source,
        [](gpointer p) -> gboolean {
          (*static_cast<Done *>(p))();
          return G_SOURCE_REMOVE;
        },
        done, [](gpointer p) { delete static_cast<Done *>(p); });
    g_source_attach(source, main_context_);
    g_source_unref(source);
  }
}

}  // namespace gramothi
