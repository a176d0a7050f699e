// ClassRegistry: the asynchronous face of the class lifecycle for the main loop. It validates
// input, runs the ClassStore rules on the StorageWorker, publishes an event for every change
// ("class.started", "class.stopped", "class.joined", "class.left", "class.profile_pinned"),
// and answers on the main loop.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "auth/jwt.hpp"
#include "base/event_bus.hpp"
#include "config/profiles.hpp"
#include "storage/chat_store.hpp"
#include "storage/class_store.hpp"
#include "storage/slide_store.hpp"
#include "storage/storage_worker.hpp"

namespace gramothi {

// The caller as the stores see them for `class_id`: their grants for it (class_store.hpp).
Actor actor_for(const TokenClaims &who, const std::string &class_id, bool open_attendance);

class ClassRegistry {
 public:
  using ChangeCallback = std::function<void(Result<ClassChange>)>;
  using StatusCallback = std::function<void(Result<ClassStatus>)>;
  using HealthCallback = std::function<void(Result<int> /* schema version */)>;

  // `open_attendance`: any signed-in user may attend any class ([auth] open_attendance).
  ClassRegistry(StorageWorker &worker, EventBus &bus, const ProfileSet &profiles,
                bool open_attendance = false)
      : worker_(worker), bus_(bus), profiles_(profiles), open_attendance_(open_attendance) {
    recording_subscription_ = bus_.subscribe(
        "recording.state",
        [this](const std::string &, const std::string &payload) { on_recording_state(payload); });
  }
  ~ClassRegistry() { bus_.unsubscribe(recording_subscription_); }

  void start(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void stop(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void join(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void leave(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void pin_profile(const TokenClaims &who, const std::string &class_id, const std::string &profile,
                   ChangeCallback done);
  void status(const std::string &class_id, StatusCallback done);
  // What the caller may do in the class: its token's grants, open attendance, and the teachers
  // an admin assigned (class_store.hpp, Actor).
  void access(const TokenClaims &who, const std::string &class_id,
              std::function<void(Result<ClassAccess>)> done);
  // Admins: creates the class if needed and replaces its assigned teachers; publishes
  // "class.teachers" {class_id, teachers}.
  void set_teachers(const TokenClaims &who, const std::string &class_id,
                    const std::vector<std::string> &teachers, StatusCallback done);
  // The caller as the stores see them for one class.
  Actor actor(const TokenClaims &who, const std::string &class_id) const {
    return actor_for(who, class_id, open_attendance_);
  }
  // The user's stored profile choice for the class ("auto", a profile name) or nullopt.
  void pinned_profile(const std::string &user_id, const std::string &class_id,
                      std::function<void(Result<std::optional<std::string>>)> done);
  void health(HealthCallback done);
  // Whether the user ever joined a session of the class (for access to its recordings).
  void attended(const std::string &class_id, const std::string &user_id,
                std::function<void(Result<bool>)> done);

  // Chat. post: the text is trimmed and must be 1..kMaxChatChars characters of UTF-8 without
  // control characters other than newlines and tabs (kInvalid "invalid_field"); publishes
  // "chat.message" with the message. recent: {"messages": [...]} (the last 100, oldest first).
  // remove: the class's owner or an admin; publishes "chat.removed" {class_id, message_id}.
  static constexpr size_t kMaxChatChars = 500;
  using JsonCallback = std::function<void(Result<std::string>)>;
  void chat_post(const TokenClaims &who, const std::string &class_id, const std::string &text,
                 JsonCallback done);
  void chat_recent(const std::string &class_id, JsonCallback done);
  void chat_remove(const TokenClaims &who, const std::string &class_id,
                   const std::string &message_id, JsonCallback done);
  static std::string chat_json(const ChatMessage &m);

  // The public JSON shape of a class status.
  static std::string status_json(const ClassStatus &status);

 private:
  void on_recording_state(const std::string &payload);
  template <class Store, class T>
  void run(std::function<Result<T>(Store &)> op, std::function<void(Result<T>)> done);
  using Op = std::function<Result<ClassChange>(ClassStore &)>;
  void run_chat(const std::string &class_id, std::function<Result<std::string>(ChatStore &)> op,
                JsonCallback done);
  void run_change(const std::string &class_id, Op op,
                  std::function<void(const ClassChange &)> on_change, ChangeCallback done);

  StorageWorker &worker_;
  EventBus &bus_;
  const ProfileSet &profiles_;
  const bool open_attendance_;
  // class id -> {recording_id, state, error} from the recording plugin's "recording.state".
  std::map<std::string, std::string> recording_news_;
  int64_t recording_subscription_ = 0;
};

int64_t now_ms();

}  // namespace gramothi
