// GRef<T>: an owning reference to a GObject (or any type with a ref/unref pair), for members
// and containers. Locals use g_autoptr. adopt() takes over a reference the caller owns; ref()
// adds one.
#pragma once

#include <glib-object.h>

#include <utility>

namespace gramothi {

template <typename T>
class GRef {
 public:
  GRef() = default;
  static GRef adopt(T *p) { return GRef(p); }
  static GRef ref(T *p) { return GRef(p ? static_cast<T *>(g_object_ref(p)) : nullptr); }

  GRef(const GRef &o) : p_(o.p_ ? static_cast<T *>(g_object_ref(o.p_)) : nullptr) {}
  GRef(GRef &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  GRef &operator=(GRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~GRef() { reset(); }

  void reset() {
    if (p_) g_object_unref(std::exchange(p_, nullptr));
  }
  T *get() const { return p_; }
  T *operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  explicit GRef(T *p) : p_(p) {}
  T *p_ = nullptr;
};

}  // namespace gramothi
