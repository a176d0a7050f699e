// ClassRegistry: the asynchronous face of the class lifecycle for the main loop. It validates
// input, runs the ClassStore rules on the StorageWorker, publishes an event for every change
// ("class.started", "class.stopped", "class.joined", "class.left", "class.profile_pinned"),
// and answers on the main loop.
#pragma once

#include <functional>
#include <string>

#include "event_bus.hpp"
#include "jwt.hpp"
#include "profiles.hpp"
#include "storage.hpp"
#include "storage_worker.hpp"

namespace gramothi {

class ClassRegistry {
 public:
  using ChangeCallback = std::function<void(Result<ClassChange>)>;
  using StatusCallback = std::function<void(Result<ClassStatus>)>;
  using HealthCallback = std::function<void(Result<int> /* schema version */)>;

  ClassRegistry(StorageWorker &worker, EventBus &bus, const ProfileSet &profiles)
      : worker_(worker), bus_(bus), profiles_(profiles) {}

  void start(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void stop(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void join(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void leave(const TokenClaims &who, const std::string &class_id, ChangeCallback done);
  void pin_profile(const TokenClaims &who, const std::string &class_id, const std::string &profile,
                   ChangeCallback done);
  void status(const std::string &class_id, StatusCallback done);
  // The user's stored profile choice for the class ("auto", a profile name) or nullopt.
  void pinned_profile(const std::string &user_id, const std::string &class_id,
                      std::function<void(Result<std::optional<std::string>>)> done);
  void health(HealthCallback done);

  // The public JSON shape of a class status.
  static std::string status_json(const ClassStatus &status);

 private:
  using Op = std::function<Result<ClassChange>(ClassStore &)>;
  void run_change(const std::string &class_id, Op op,
                  std::function<void(const ClassChange &)> on_change, ChangeCallback done);

  StorageWorker &worker_;
  EventBus &bus_;
  const ProfileSet &profiles_;
};

int64_t now_ms();

}  // namespace gramothi
