// EventBus: topic + JSON payload events between core and plugins, all on the main loop.
// Subscribers match by topic prefix. publish() queues; delivery happens from an idle callback,
// so a subscriber never runs inside the publisher's call and may (un)subscribe freely.
#pragma once

#include <glib.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

namespace gramothi {

class EventBus {
 public:
  using Callback = std::function<void(const std::string &topic, const std::string &payload)>;

  EventBus() = default;
  EventBus(const EventBus &) = delete;
  EventBus &operator=(const EventBus &) = delete;
  ~EventBus();

  int64_t subscribe(std::string topic_prefix, Callback callback);
  void unsubscribe(int64_t id);
  void publish(std::string topic, std::string payload_json);

 private:
  static gboolean deliver_cb(gpointer self);
  void deliver();

  struct Subscription {
    std::string prefix;
    Callback callback;
  };
  std::map<int64_t, Subscription> subscriptions_;
  std::deque<std::pair<std::string, std::string>> pending_;
  int64_t next_id_ = 1;
  guint idle_source_ = 0;
};

}  // namespace gramothi
