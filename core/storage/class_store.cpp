// The class lifecycle rules, written once for both backends.
#include "storage/class_store.hpp"

#include "storage/store_support.hpp"

namespace gramothi {
namespace {

std::optional<std::string> open_attendance(Database &db, const std::string &session_id,
                                           const std::string &user_id) {
  auto rows = db.query(
      "SELECT attendance_id FROM attendance WHERE session_id = $1 AND user_id = $2 AND "
      "left_at_ms IS NULL",
      {session_id, user_id});
  if (rows.empty()) return std::nullopt;
  return rows[0][0];
}

}  // namespace

Result<ClassChange> ClassStore::start(const std::string &class_id, const Actor &who,
                                      int64_t now_ms) {
  if (who.role == Role::kStudent) return forbidden_role("start");
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    // Nobody claims a class by starting it first: an unknown class is created only for a
    // caller whose token grants it (or an admin), and a known one needs a teacher of it.
    if (!may_teach(db_, class_id, who)) return not_owner(class_id);
    bool changed = true;
    std::string session_id = new_id();
    if (!row) {
      db_.query(
          "INSERT INTO classes (class_id, owner_id, state, current_session_id, created_at_ms) "
          "VALUES ($1, $2, 'live', NULL, $3)",
          {class_id, who.user_id, num(now_ms)});
    } else if (row->state == "live") {
      auto rows = db_.query("SELECT teacher_id FROM sessions WHERE session_id = $1",
                            {row->session_id.value_or("")});
      if (!rows.empty() && rows[0][0] == who.user_id) {
        changed = false;
      } else {
        return Error{ErrorKind::kConflict, "class_already_live",
                     "Class '" + class_id + "' is already live with another teacher's session."};
      }
    }
    if (changed) {
      db_.query(
          "INSERT INTO sessions (session_id, class_id, teacher_id, started_at_ms) "
          "VALUES ($1, $2, $3, $4)",
          {session_id, class_id, who.user_id, num(now_ms)});
      db_.query("UPDATE classes SET state = 'live', current_session_id = $2 WHERE class_id = $1",
                {class_id, session_id});
    }
    return ClassChange{*read_status(db_, class_id), changed};
  });
}

Result<ClassChange> ClassStore::stop(const std::string &class_id, const Actor &who,
                                     int64_t now_ms) {
  if (who.role == Role::kStudent) return forbidden_role("stop");
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    // Rights before existence: an outsider learns nothing about whether the class exists.
    auto row = lock_class(db_, class_id);
    if (!may_teach(db_, class_id, who)) {
      bool session_teacher = false;
      if (row && row->session_id) {
        auto rows =
            db_.query("SELECT teacher_id FROM sessions WHERE session_id = $1", {*row->session_id});
        session_teacher = !rows.empty() && rows[0][0] == who.user_id;
      }
      if (!session_teacher) return not_owner(class_id);
    }
    if (!row) return not_found(class_id);
    if (row->state != "live" || !row->session_id) return not_live(class_id);
    db_.query("UPDATE sessions SET ended_at_ms = $2 WHERE session_id = $1",
              {*row->session_id, num(now_ms)});
    db_.query("UPDATE attendance SET left_at_ms = $2 WHERE session_id = $1 AND left_at_ms IS NULL",
              {*row->session_id, num(now_ms)});
    db_.query("UPDATE classes SET state = 'ended' WHERE class_id = $1", {class_id});
    return ClassChange{*read_status(db_, class_id), true};
  });
}

Result<ClassChange> ClassStore::join(const std::string &class_id, const Actor &who,
                                     int64_t now_ms) {
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    if (!may_attend(db_, class_id, who)) return not_in_class(class_id);
    if (!row) return not_found(class_id);
    if (row->state != "live" || !row->session_id) return not_live(class_id);
    bool changed = !open_attendance(db_, *row->session_id, who.user_id);
    if (changed)
      db_.query(
          "INSERT INTO attendance (attendance_id, session_id, user_id, role, joined_at_ms) "
          "VALUES ($1, $2, $3, $4, $5)",
          {new_id(), *row->session_id, who.user_id, std::string(role_name(who.role)), num(now_ms)});
    return ClassChange{*read_status(db_, class_id), changed};
  });
}

Result<ClassChange> ClassStore::leave(const std::string &class_id, const Actor &who,
                                      int64_t now_ms) {
  const std::string &user_id = who.user_id;
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    // Whoever joined may always leave (a grant withdrawn meanwhile included); others learn
    // nothing about the class.
    auto open =
        row && row->session_id ? open_attendance(db_, *row->session_id, user_id) : std::nullopt;
    if (!open && !may_attend(db_, class_id, who)) return not_in_class(class_id);
    if (!row) return not_found(class_id);
    if (row->state != "live" || !row->session_id) return not_live(class_id);
    if (open)
      db_.query("UPDATE attendance SET left_at_ms = $2 WHERE attendance_id = $1",
                {*open, num(now_ms)});
    return ClassChange{*read_status(db_, class_id), open.has_value()};
  });
}

Result<ClassChange> ClassStore::pin_profile(const std::string &class_id, const Actor &who,
                                            const std::string &profile, int64_t now_ms) {
  const std::string &user_id = who.user_id;
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    if (!may_attend(db_, class_id, who)) return not_in_class(class_id);
    if (!row) return not_found(class_id);
    auto before =
        db_.query("SELECT profile FROM profile_choices WHERE class_id = $1 AND user_id = $2",
                  {class_id, user_id});
    bool changed = before.empty() || before[0][0] != profile;
    // INSERT ... ON CONFLICT: SQLite >= 3.24 and PostgreSQL >= 9.5 both speak it.
    db_.query(
        "INSERT INTO profile_choices (class_id, user_id, profile, updated_at_ms) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (class_id, user_id) DO UPDATE SET "
        "profile = excluded.profile, updated_at_ms = excluded.updated_at_ms",
        {class_id, user_id, profile, num(now_ms)});
    return ClassChange{*read_status(db_, class_id), changed};
  });
}

Result<ClassStatus> ClassStore::set_teachers(const std::string &class_id, const Actor &who,
                                             const std::vector<std::string> &teachers,
                                             int64_t now_ms) {
  if (who.role != Role::kAdmin)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Only admins assign teachers."};
  return in_transaction<ClassStatus>(db_, [&]() -> Result<ClassStatus> {
    if (!lock_class(db_, class_id))
      db_.query(
          "INSERT INTO classes (class_id, owner_id, state, created_at_ms) VALUES ($1, $2, "
          "'ended', $3)",
          {class_id, who.user_id, num(now_ms)});
    db_.query("DELETE FROM class_teachers WHERE class_id = $1", {class_id});
    for (const auto &t : teachers)
      db_.query(
          "INSERT INTO class_teachers (class_id, user_id, assigned_by, assigned_at_ms) VALUES "
          "($1, $2, $3, $4) ON CONFLICT (class_id, user_id) DO NOTHING",
          {class_id, t, who.user_id, num(now_ms)});
    return *read_status(db_, class_id);
  });
}

Result<ClassAccess> ClassStore::access(const std::string &class_id, const Actor &who) {
  try {
    ClassAccess a;
    a.teach = may_teach(db_, class_id, who);
    a.attend = a.teach || may_attend(db_, class_id, who);
    return a;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<std::vector<std::string>> ClassStore::inherited_teachers() {
  try {
    std::vector<std::string> out;
    for (const auto &r : db_.query("SELECT DISTINCT class_id FROM class_teachers WHERE "
                                   "assigned_by = 'migration' ORDER BY class_id"))
      out.push_back(r[0].value_or(""));
    return out;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<ClassStatus> ClassStore::status(const std::string &class_id) {
  try {
    auto s = read_status(db_, class_id);
    if (!s) return not_found(class_id);
    return *s;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<std::optional<std::string>> ClassStore::pinned_profile(const std::string &class_id,
                                                              const std::string &user_id) {
  try {
    auto rows =
        db_.query("SELECT profile FROM profile_choices WHERE class_id = $1 AND user_id = $2",
                  {class_id, user_id});
    if (rows.empty()) return std::optional<std::string>();
    return std::optional<std::string>(rows[0][0]);
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<bool> ClassStore::attended(const std::string &class_id, const std::string &user_id) {
  try {
    auto rows = db_.query(
        "SELECT 1 FROM attendance a JOIN sessions s ON s.session_id = a.session_id "
        "WHERE s.class_id = $1 AND a.user_id = $2 LIMIT 1",
        {class_id, user_id});
    return !rows.empty();
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<std::vector<AttendanceRecord>> ClassStore::attendance(const std::string &session_id) {
  try {
    auto rows = db_.query(
        "SELECT session_id, user_id, role, joined_at_ms, left_at_ms FROM attendance "
        "WHERE session_id = $1 ORDER BY joined_at_ms, attendance_id",
        {session_id});
    std::vector<AttendanceRecord> out;
    for (const auto &r : rows) {
      AttendanceRecord a;
      a.session_id = r[0].value_or("");
      a.user_id = r[1].value_or("");
      a.role = parse_role(r[2].value_or("")).value_or(Role::kStudent);
      a.joined_at_ms = to_i64(r[3]);
      if (r[4]) a.left_at_ms = to_i64(r[4]);
      out.push_back(std::move(a));
    }
    return out;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

}  // namespace gramothi
