// Lifetime: tells deferred work and callbacks from other threads whether the object that queued
// them still exists. The owner keeps a Lifetime member and ends it when it goes (the destructor
// does, or end() earlier, e.g. when a peer closes but is freed later); each callback holds a
// Watch and checks alive() before it touches the owner. Checking and ending are thread-safe;
// acting on the owner after alive() is safe only on the owner's own thread (the main loop), which
// is where callbacks hop to before they check.
#pragma once

#include <atomic>
#include <memory>

namespace gramothi {

class Lifetime {
 public:
  class Watch {
   public:
    Watch() = default;
    bool alive() const { return flag_ && flag_->load(std::memory_order_acquire); }

   private:
    friend class Lifetime;
    explicit Watch(std::shared_ptr<const std::atomic<bool>> flag) : flag_(std::move(flag)) {}
    std::shared_ptr<const std::atomic<bool>> flag_;
  };

  Lifetime() = default;
  Lifetime(const Lifetime &) = delete;
  Lifetime &operator=(const Lifetime &) = delete;
  ~Lifetime() { end(); }

  void end() { flag_->store(false, std::memory_order_release); }
  bool alive() const { return flag_->load(std::memory_order_acquire); }
  Watch watch() const { return Watch(flag_); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace gramothi
