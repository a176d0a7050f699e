#include "base/event_bus.hpp"

#include <vector>

namespace gramothi {

EventBus::~EventBus() {
  if (idle_source_) g_source_remove(idle_source_);
}

int64_t EventBus::subscribe(std::string topic_prefix, Callback callback) {
  int64_t id = next_id_++;
  subscriptions_[id] = {std::move(topic_prefix), std::move(callback)};
  return id;
}

void EventBus::unsubscribe(int64_t id) {
  subscriptions_.erase(id);
}

void EventBus::publish(std::string topic, std::string payload_json) {
  pending_.emplace_back(std::move(topic), std::move(payload_json));
  if (!idle_source_) idle_source_ = g_idle_add(deliver_cb, this);
}

gboolean EventBus::deliver_cb(gpointer self) {
  auto *bus = static_cast<EventBus *>(self);
  bus->idle_source_ = 0;
  bus->deliver();
  return G_SOURCE_REMOVE;
}

void EventBus::deliver() {
  while (!pending_.empty()) {
    auto [topic, payload] = std::move(pending_.front());
    pending_.pop_front();
    std::vector<int64_t> targets;
    for (const auto &[id, sub] : subscriptions_)
      if (topic.compare(0, sub.prefix.size(), sub.prefix) == 0) targets.push_back(id);
    for (int64_t id : targets) {
      auto it = subscriptions_.find(id);  // a callback may have unsubscribed it
      if (it == subscriptions_.end()) continue;
      Callback cb = it->second.callback;  // keep alive if it unsubscribes itself
      cb(topic, payload);
    }
  }
}

}  // namespace gramothi
