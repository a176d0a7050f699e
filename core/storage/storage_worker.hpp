// StorageWorker: the one thread that talks to the database, so the main loop never blocks on
// disk or network. Jobs run in submission order; each job's completion runs on the main
// context. A lost connection is reopened on the next job.
#pragma once

#include <glib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/lifetime.hpp"
#include "storage/database.hpp"

namespace gramothi {

class StorageWorker {
 public:
  using Opener = std::function<std::unique_ptr<Database>()>;  // may throw StorageError
  // Runs on the worker thread. `db` is null when the database cannot be opened; then
  // `open_error` says why.
  using Job = std::function<void(Database *db, const std::string &open_error)>;
  using Done = std::function<void()>;

  // Takes an already-open connection (opened and migrated at start) and how to reopen it.
  StorageWorker(std::unique_ptr<Database> db, Opener reopen, GMainContext *main_context);
  StorageWorker(const StorageWorker &) = delete;
  StorageWorker &operator=(const StorageWorker &) = delete;
  // Finishes queued jobs, then joins. Completions not yet delivered are dropped.
  ~StorageWorker();

  void post(Job job, Done done);

 private:
  void run();

  struct Item {
    Job job;
    Done done;
  };
  std::unique_ptr<Database> db_;
  Opener reopen_;
  GMainContext *main_context_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  // Cleared by the destructor: completions still queued on the main context then do nothing.
  Lifetime lifetime_;  // ended first by the destructor: no completion runs after it
  std::thread thread_;
};

}  // namespace gramothi
