// The class lifecycle (start, stop, join, leave, pinned profiles, attendance) on a Database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/role.hpp"
#include "storage/database.hpp"

namespace gramothi {

struct ClassStatus {
  std::string class_id;
  std::string state;                           // "live" or "ended"
  std::string owner_id;                        // the teacher who created the class (first start)
  std::optional<std::string> session_id;       // current (live) or last session
  std::optional<std::string> session_teacher;  // who started that session
  int64_t started_at_ms = 0;                   // of that session
  std::optional<int64_t> ended_at_ms;          // of that session, when ended
  int64_t participant_count = 0;               // users joined and not left, live session only
  std::optional<std::string> current_slide_id;
  int64_t created_at_ms = 0;
  // Not stored: the latest "recording.state" news for the class since the server started
  // ({recording_id, state, error}), kept by the ClassRegistry.
  std::optional<std::string> recording_json;
};

// Outcome of a lifecycle operation: the class after it, and whether anything changed
// (false for an idempotent repeat: start by the live session's teacher, join twice, ...).
struct ClassChange {
  ClassStatus status;
  bool changed = true;
};

struct AttendanceRecord {
  std::string session_id;
  std::string user_id;
  Role role = Role::kStudent;
  int64_t joined_at_ms = 0;
  std::optional<int64_t> left_at_ms;
};

// Lifecycle rules. Every method is one transaction; errors come back as Error (kind + code):
//   start: students -> kForbidden "forbidden_role". Unknown class -> created, owner = caller.
//          A teacher who is not the owner -> kForbidden "not_class_owner" (admins may).
//          Live already: same session teacher -> changed=false; else kConflict
//          "class_already_live".
//   stop:  unknown -> kNotFound "class_not_found"; not live -> kConflict "class_not_live";
//          students -> kForbidden "forbidden_role"; teacher that is neither owner nor session
//          teacher -> kForbidden "not_class_owner"; admins may. Closes open attendance.
//   join:  unknown -> kNotFound; not live -> kConflict "class_not_live"; already joined ->
//          changed=false. Records attendance (session, user, role, joined_at).
//   leave: unknown -> kNotFound; not live -> kConflict "class_not_live"; not joined ->
//          changed=false. Sets left_at.
//   pin_profile: unknown -> kNotFound. Upserts (class, user) -> profile; the caller validated
//          the profile name.
//   status: unknown -> kNotFound.
// A StorageError from the Database becomes an Error of its kind with code "storage_unavailable"
// (kUnavailable), "storage_conflict" (kConflict) or "storage_error" (kInternal).
class ClassStore {
 public:
  explicit ClassStore(Database &db) : db_(db) {}

  Result<ClassChange> start(const std::string &class_id, const std::string &user_id, Role role,
                            int64_t now_ms);
  Result<ClassChange> stop(const std::string &class_id, const std::string &user_id, Role role,
                           int64_t now_ms);
  Result<ClassChange> join(const std::string &class_id, const std::string &user_id, Role role,
                           int64_t now_ms);
  Result<ClassChange> leave(const std::string &class_id, const std::string &user_id,
                            int64_t now_ms);
  Result<ClassChange> pin_profile(const std::string &class_id, const std::string &user_id,
                                  const std::string &profile, int64_t now_ms);
  Result<ClassStatus> status(const std::string &class_id);
  // The user's pinned profile for the class, or nullopt when none was recorded.
  Result<std::optional<std::string>> pinned_profile(const std::string &class_id,
                                                    const std::string &user_id);
  Result<std::vector<AttendanceRecord>> attendance(const std::string &session_id);
  // Whether the user ever joined a session of the class.
  Result<bool> attended(const std::string &class_id, const std::string &user_id);

 private:
  Database &db_;
};

}  // namespace gramothi
