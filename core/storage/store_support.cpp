#include "storage/store_support.hpp"

namespace gramothi {

std::string num(int64_t v) {
  return std::to_string(v);
}
int64_t to_i64(const SqlValue &v) {
  return v ? g_ascii_strtoll(v->c_str(), nullptr, 10) : 0;
}
std::string new_id() {
  g_autofree char *uuid = g_uuid_string_random();
  return uuid;
}

Error not_found(const std::string &class_id) {
  return Error{ErrorKind::kNotFound, "class_not_found", "Class '" + class_id + "' does not exist."};
}
Error not_live(const std::string &class_id) {
  return Error{ErrorKind::kConflict, "class_not_live", "Class '" + class_id + "' is not live."};
}
Error not_owner(const std::string &class_id) {
  return Error{ErrorKind::kForbidden, "not_class_owner",
               "Only a teacher of class '" + class_id +
                   "' (granted by the school's token or assigned by an admin) may do that."};
}
Error not_in_class(const std::string &class_id) {
  return Error{ErrorKind::kForbidden, "not_in_class",
               "You are not a member of class '" + class_id + "'."};
}

bool may_teach(Database &db, const std::string &class_id, const Actor &who) {
  if (who.role == Role::kAdmin) return true;
  if (who.role != Role::kTeacher) return false;
  if (who.token_teaches) return true;
  return !db.query("SELECT 1 FROM class_teachers WHERE class_id = $1 AND user_id = $2",
                   {class_id, who.user_id})
              .empty();
}

bool may_attend(Database &db, const std::string &class_id, const Actor &who) {
  return who.role == Role::kAdmin || who.token_attends || may_teach(db, class_id, who);
}
Error forbidden_role(const char *what) {
  return Error{ErrorKind::kForbidden, "forbidden_role",
               std::string("Students may not ") + what + " a class."};
}

Error from_storage(const StorageError &e) {
  switch (e.kind()) {
    case ErrorKind::kUnavailable:
      return Error{ErrorKind::kUnavailable, "storage_unavailable",
                   std::string("Storage is unavailable: ") + e.what()};
    case ErrorKind::kConflict:
      return Error{ErrorKind::kConflict, "storage_conflict",
                   "A concurrent change got in the way; try again."};
    default:
      return Error{ErrorKind::kInternal, "storage_error",
                   std::string("Storage failed: ") + e.what()};
  }
}

std::optional<ClassRow> lock_class(Database &db, const std::string &class_id) {
  std::string sql = "SELECT owner_id, state, current_session_id FROM classes WHERE class_id = $1";
  if (db.supports_row_locks()) sql += " FOR UPDATE";
  auto rows = db.query(sql, {class_id});
  if (rows.empty()) return std::nullopt;
  return ClassRow{rows[0][0].value_or(""), rows[0][1].value_or(""), rows[0][2]};
}

std::optional<ClassStatus> read_status(Database &db, const std::string &class_id) {
  auto rows = db.query(
      "SELECT c.owner_id, c.state, c.current_session_id, c.current_slide_id, c.created_at_ms, "
      "s.teacher_id, s.started_at_ms, s.ended_at_ms "
      "FROM classes c LEFT JOIN sessions s ON s.session_id = c.current_session_id "
      "WHERE c.class_id = $1",
      {class_id});
  if (rows.empty()) return std::nullopt;
  const SqlRow &r = rows[0];
  ClassStatus s;
  s.class_id = class_id;
  s.owner_id = r[0].value_or("");
  s.state = r[1].value_or("ended");
  s.session_id = r[2];
  s.current_slide_id = r[3];
  s.created_at_ms = to_i64(r[4]);
  s.session_teacher = r[5];
  s.started_at_ms = to_i64(r[6]);
  if (r[7]) s.ended_at_ms = to_i64(r[7]);
  for (const auto &t : db.query(
           "SELECT user_id FROM class_teachers WHERE class_id = $1 ORDER BY user_id", {class_id}))
    s.teachers.push_back(t[0].value_or(""));
  if (s.state == "live" && s.session_id) {
    auto count = db.query(
        "SELECT count(DISTINCT user_id) FROM attendance WHERE session_id = $1 AND left_at_ms IS "
        "NULL",
        {*s.session_id});
    s.participant_count = to_i64(count.at(0).at(0));
  }
  return s;
}

}  // namespace gramothi
