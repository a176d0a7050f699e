// The signaling plugin's state. What the plugin does and its options: plugin.cpp; what its
// parts offer each other: handlers.hpp.
#pragma once

#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client.hpp"
#include "gramothi/plugin.h"
#include "rooms.hpp"

namespace gramothi::signaling {

// [plugin.signaling], read once by init.
struct Options {
  size_t max_message = 64 * 1024;
  int64_t auth_timeout_ms = 10000;
  double rate_per_second = 20;
  double chat_per_minute = 20;      // sustained; a burst of 5 is allowed
  size_t max_sockets_per_user = 5;  // authenticated sockets of one user in one class
};

// Chat messages a user may send in a class, over all their sockets and across reconnects: a
// bucket of 5 refilled at chat_per_minute. Users whose bucket is full again are forgotten now
// and then.
class ChatAllowance {
 public:
  explicit ChatAllowance(double per_minute) : per_minute_(per_minute) {}
  // Takes one message from the user's allowance; false when there is none left.
  bool take(const std::string &class_id, const std::string &user_id);
  // Gives back a message the host refused: it does not count.
  void refund(const std::string &class_id, const std::string &user_id);

 private:
  struct Bucket {
    double tokens;
    int64_t counted_at_us;  // 0: never
  };
  double per_minute_;
  std::map<std::pair<std::string, std::string>, Bucket> buckets_;  // by class and user
};

// The plugin's state: created by init, deleted by shutdown. Host callbacks reach it through
// their user_data, or through a Client's `plugin`.
struct Signaling {
  Signaling(const GramothiHost *host, GramothiPluginContext *ctx, const Options &options)
      : host(host), ctx(ctx), options(options), chat_allowance(options.chat_per_minute) {}
  // Removes the timers and the subscriptions, then ends what clients are left without telling
  // them: at shutdown the host has closed every socket without calling us back.
  ~Signaling();
  Signaling(const Signaling &) = delete;
  Signaling &operator=(const Signaling &) = delete;

  const GramothiHost *const host;    // borrowed: lives as long as the plugin
  GramothiPluginContext *const ctx;  // borrowed
  const Options options;
  std::map<std::string, Room> rooms;                  // by class id
  std::map<std::string, std::string> recording_news;  // class id -> the last "recording" message
  ChatAllowance chat_allowance;
  std::vector<int64_t> subscriptions;  // on the event bus
  guint listeners_timer = 0;           // refreshes the teachers' listener lists
  // Classes whose presence (counts to everyone, and the teachers' list) or only whose teachers'
  // list is to be sent, at most once per kPresenceIntervalMs (rooms.cpp).
  std::set<std::string> presence_pending, roster_pending;
  guint presence_timer = 0;
  int64_t presence_sent_at_us = 0;
};

}  // namespace gramothi::signaling
