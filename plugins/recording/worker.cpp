#include "worker.hpp"

#include <memory>
#include <utility>

namespace gramothi::recording {

struct FileWorker::Delivery {
  FileWorker *worker;  // borrowed: a worker removes its deliveries before it goes
  Job then;
  guint source = 0;
};

FileWorker::FileWorker() : pool_(g_thread_pool_new(on_thread, nullptr, 1, TRUE, nullptr)) {}

FileWorker::~FileWorker() {
  g_thread_pool_free(pool_, FALSE, TRUE);
  std::lock_guard lock(mutex_);
  for (guint source : undelivered_)
    g_source_remove(source);
  undelivered_.clear();
}

void FileWorker::run(Job work, Job then) {
  auto *job = new Job([this, work = std::move(work), then = std::move(then)] {
    work();
    if (then) deliver(then);
  });
  g_thread_pool_push(pool_, job, nullptr);
}

void FileWorker::on_thread(gpointer job, gpointer) {
  std::unique_ptr<Job> owned(static_cast<Job *>(job));
  (*owned)();
}

void FileWorker::deliver(Job then) {
  // The lock is held until the source is recorded, so the main loop cannot run it before.
  std::lock_guard lock(mutex_);
  auto *d = new Delivery{this, std::move(then)};
  d->source = g_idle_add_full(
      G_PRIORITY_DEFAULT,
      [](gpointer p) -> gboolean {
        auto *d = static_cast<Delivery *>(p);
        {
          std::lock_guard lock(d->worker->mutex_);
          d->worker->undelivered_.erase(d->source);
        }
        d->then();
        return G_SOURCE_REMOVE;
      },
      d, [](gpointer p) { delete static_cast<Delivery *>(p); });
  undelivered_.insert(d->source);
}

std::string read_text(const std::string &path) {
  g_autofree char *text = nullptr;
  gsize len = 0;
  if (!g_file_get_contents(path.c_str(), &text, &len, nullptr)) return "";
  return std::string(text, len);
}

}  // namespace gramothi::recording
