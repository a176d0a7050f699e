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

// Who acts on a class: the user, their role, and what their token grants for this one class.
// Rights (store_support.hpp): admins may do everything; a teacher teaches the class with a
// "teaches" grant or an admin's assignment (class_teachers); attending needs a grant, open
// attendance, or teaching it.
struct Actor {
  std::string user_id;
  Role role = Role::kStudent;
  bool token_attends = false;  // a "classes" grant for the class, or open attendance
  bool token_teaches = false;  // a "teaches" grant for the class
};

// What an actor may do in a class.
struct ClassAccess {
  bool attend = false;  // listen, chat, see slides, chat history and recordings
  bool teach = false;   // start, stop, upload, move slides, remove messages, see the roster
};

struct ClassStatus {
  std::string class_id;
  std::string state;                           // "live" or "ended"
  std::string owner_id;                        // who created the class (informational)
  std::vector<std::string> teachers;           // assigned by an admin (class_teachers)
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
//   start: students -> kForbidden "forbidden_role". A caller who may not teach the class ->
//          kForbidden "not_class_owner". Unknown class -> created (owner_id = caller) when the
//          caller's token grants it or the caller is an admin. Live already: same session
//          teacher -> changed=false; else kConflict "class_already_live".
//   Rights come before existence: a caller without them gets the same 403 whether or not the
//   class exists.
//   stop:  students -> kForbidden "forbidden_role"; a caller who neither teaches the class nor
//          teaches its live session -> kForbidden "not_class_owner"; unknown -> kNotFound
//          "class_not_found"; not live -> kConflict "class_not_live". Closes open attendance.
//   join:  may not attend -> kForbidden "not_in_class"; unknown -> kNotFound; not live ->
//          kConflict "class_not_live"; already joined -> changed=false. Records attendance.
//   leave: neither joined nor may attend -> "not_in_class"; unknown -> kNotFound; not live ->
//          kConflict "class_not_live"; not joined -> changed=false. Sets left_at.
//   pin_profile: may not attend -> "not_in_class"; unknown -> kNotFound. Upserts (class, user)
//          -> profile; the caller validated the profile name.
//   status: unknown -> kNotFound.
//   set_teachers: admins only ("forbidden_role"); creates the class (ended) if unknown, then
//          replaces its assigned teachers.
// A StorageError from the Database becomes an Error of its kind with code "storage_unavailable"
// (kUnavailable), "storage_conflict" (kConflict) or "storage_error" (kInternal).
class ClassStore {
 public:
  explicit ClassStore(Database &db) : db_(db) {}

  Result<ClassChange> start(const std::string &class_id, const Actor &who, int64_t now_ms);
  Result<ClassChange> stop(const std::string &class_id, const Actor &who, int64_t now_ms);
  Result<ClassChange> join(const std::string &class_id, const Actor &who, int64_t now_ms);
  Result<ClassChange> leave(const std::string &class_id, const Actor &who, int64_t now_ms);
  Result<ClassChange> pin_profile(const std::string &class_id, const Actor &who,
                                  const std::string &profile, int64_t now_ms);
  Result<ClassStatus> set_teachers(const std::string &class_id, const Actor &who,
                                   const std::vector<std::string> &teachers, int64_t now_ms);
  // What `who` may do in the class (the class need not exist).
  Result<ClassAccess> access(const std::string &class_id, const Actor &who);
  // The classes whose teachers were inherited from their creator by migration 4 and not yet
  // reviewed by an admin (set_teachers replaces them).
  Result<std::vector<std::string>> inherited_teachers();
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
