// Schema migrations and the class lifecycle rules, written once for both backends. SQL here is
// the common subset of SQLite and PostgreSQL: TEXT, BIGINT, CHECK, $n parameters.
#include "storage.hpp"

#include <glib.h>

#include <array>

namespace gramothi {
namespace {

// Append-only: a released migration is never edited; a change is a new entry.
const std::array<const char *, 3> kMigrations = {
    // 1: classes, their sessions, attendance, and each user's pinned profile.
    R"sql(
CREATE TABLE classes (
  class_id TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('live', 'ended')),
  current_session_id TEXT,
  current_slide_id TEXT,
  created_at_ms BIGINT NOT NULL
);
CREATE TABLE sessions (
  session_id TEXT PRIMARY KEY,
  class_id TEXT NOT NULL REFERENCES classes (class_id),
  teacher_id TEXT NOT NULL,
  started_at_ms BIGINT NOT NULL,
  ended_at_ms BIGINT
);
CREATE INDEX sessions_by_class ON sessions (class_id, started_at_ms);
CREATE TABLE attendance (
  attendance_id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions (session_id),
  user_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('student', 'teacher', 'admin')),
  joined_at_ms BIGINT NOT NULL,
  left_at_ms BIGINT
);
CREATE INDEX attendance_by_session ON attendance (session_id, user_id);
CREATE TABLE profile_choices (
  class_id TEXT NOT NULL REFERENCES classes (class_id),
  user_id TEXT NOT NULL,
  profile TEXT NOT NULL,
  updated_at_ms BIGINT NOT NULL,
  PRIMARY KEY (class_id, user_id)
);
)sql",
    // 2: slide decks (several per class, one active) and their rendered slides.
    R"sql(
CREATE TABLE decks (
  deck_id TEXT PRIMARY KEY,
  class_id TEXT NOT NULL REFERENCES classes (class_id),
  uploaded_by TEXT NOT NULL,
  file_name TEXT NOT NULL,
  source_bytes BIGINT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('rendering', 'ready', 'failed')),
  page_count BIGINT,
  pages_done BIGINT NOT NULL DEFAULT 0,
  pages_failed BIGINT NOT NULL DEFAULT 0,
  error_code TEXT,
  error_message TEXT,
  created_at_ms BIGINT NOT NULL
);
CREATE INDEX decks_by_class ON decks (class_id, created_at_ms);
CREATE TABLE slides (
  slide_id TEXT PRIMARY KEY,
  deck_id TEXT NOT NULL REFERENCES decks (deck_id),
  order_no BIGINT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ready', 'failed')),
  text TEXT NOT NULL,
  images TEXT NOT NULL,
  error TEXT,
  UNIQUE (deck_id, order_no)
);
ALTER TABLE classes ADD COLUMN active_deck_id TEXT;
)sql",
    // 3: class chat.
    R"sql(
CREATE TABLE chat_messages (
  message_id TEXT PRIMARY KEY,
  class_id TEXT NOT NULL REFERENCES classes (class_id),
  user_id TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('student', 'teacher', 'admin')),
  text TEXT NOT NULL,
  sent_at_ms BIGINT NOT NULL,
  removed_at_ms BIGINT,
  removed_by TEXT
);
CREATE INDEX chat_by_class ON chat_messages (class_id, sent_at_ms);
)sql",
};

bool valid_id(std::string_view id, size_t max) {
  if (id.empty() || id.size() > max) return false;
  for (char ch : id) {
    bool ok = g_ascii_isalnum(ch) || ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '-';
    if (!ok) return false;
  }
  // "." and ".." are path components, never ids.
  return id != "." && id != "..";
}

bool has_migrations_table(Database &db) {
  auto rows = db.backend() == "postgresql"
                  ? db.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
                  : db.query(
                        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = "
                        "'schema_migrations'");
  const SqlValue &v = rows.at(0).at(0);
  return v && (*v == "t" || *v == "1" || *v == "true");
}

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
               "Only the teacher who owns class '" + class_id + "' (or an admin) may do that."};
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

// The class row, locked for the transaction where the backend can.
struct ClassRow {
  std::string owner_id;
  std::string state;
  std::optional<std::string> session_id;
};

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
  if (s.state == "live" && s.session_id) {
    auto count = db.query(
        "SELECT count(DISTINCT user_id) FROM attendance WHERE session_id = $1 AND left_at_ms IS "
        "NULL",
        {*s.session_id});
    s.participant_count = to_i64(count.at(0).at(0));
  }
  return s;
}

// Runs `op` in one transaction; a conflict (two writers on one class, PostgreSQL's
// serialization failures) is retried a few times before it is reported.
template <typename T, typename Op>
Result<T> in_transaction(Database &db, Op op) {
  for (int attempt = 0;; attempt++) {
    try {
      db.begin();
      Result<T> r = op();
      if (r.ok())
        db.commit();
      else
        db.rollback();
      return r;
    } catch (const StorageError &e) {
      db.rollback();
      if (e.kind() != ErrorKind::kConflict || attempt >= 4) return from_storage(e);
      g_usleep(static_cast<gulong>(1000 * (attempt + 1)));
    }
  }
}

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

bool valid_class_id(std::string_view id) {
  return valid_id(id, 64);
}
bool valid_user_id(std::string_view id) {
  return valid_id(id, 128);
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kStudent:
      return "student";
    case Role::kTeacher:
      return "teacher";
    case Role::kAdmin:
      return "admin";
  }
  return "student";
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "student") return Role::kStudent;
  if (name == "teacher") return Role::kTeacher;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

int latest_schema_version() {
  return static_cast<int>(kMigrations.size());
}

int current_schema_version(Database &db) {
  if (!has_migrations_table(db)) return 0;
  auto rows = db.query("SELECT max(version) FROM schema_migrations");
  return static_cast<int>(to_i64(rows.at(0).at(0)));
}

int migrate(Database &db) {
  bool pg = db.backend() == "postgresql";
  for (;;) {
    db.begin();
    try {
      // Two servers starting against one PostgreSQL database take turns here.
      if (pg) db.query("SELECT pg_advisory_xact_lock(7283551)");
      db.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
          "applied_at_ms BIGINT NOT NULL)");
      int version = current_schema_version(db);
      if (version > latest_schema_version())
        throw StorageError(ErrorKind::kInternal, "the database schema is version " +
                                                     std::to_string(version) +
                                                     ", newer than this build's " +
                                                     std::to_string(latest_schema_version()) +
                                                     "; upgrade gramothi instead of migrating");
      if (version == latest_schema_version()) {
        db.commit();
        return version;
      }
      db.exec_script(kMigrations[static_cast<size_t>(version)]);
      db.query("INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
               {num(version + 1), num(g_get_real_time() / 1000)});
      db.commit();
    } catch (...) {
      db.rollback();
      throw;
    }
  }
}

Result<ClassChange> ClassStore::start(const std::string &class_id, const std::string &user_id,
                                      Role role, int64_t now_ms) {
  if (role == Role::kStudent) return forbidden_role("start");
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    bool changed = true;
    std::string session_id = new_id();
    if (!row) {
      db_.query(
          "INSERT INTO classes (class_id, owner_id, state, current_session_id, created_at_ms) "
          "VALUES ($1, $2, 'live', NULL, $3)",
          {class_id, user_id, num(now_ms)});
    } else {
      if (role == Role::kTeacher && row->owner_id != user_id) return not_owner(class_id);
      if (row->state == "live") {
        auto rows = db_.query("SELECT teacher_id FROM sessions WHERE session_id = $1",
                              {row->session_id.value_or("")});
        if (!rows.empty() && rows[0][0] == user_id) {
          changed = false;
        } else {
          return Error{ErrorKind::kConflict, "class_already_live",
                       "Class '" + class_id + "' is already live with another teacher's session."};
        }
      }
    }
    if (changed) {
      db_.query(
          "INSERT INTO sessions (session_id, class_id, teacher_id, started_at_ms) "
          "VALUES ($1, $2, $3, $4)",
          {session_id, class_id, user_id, num(now_ms)});
      db_.query("UPDATE classes SET state = 'live', current_session_id = $2 WHERE class_id = $1",
                {class_id, session_id});
    }
    return ClassChange{*read_status(db_, class_id), changed};
  });
}

Result<ClassChange> ClassStore::stop(const std::string &class_id, const std::string &user_id,
                                     Role role, int64_t now_ms) {
  if (role == Role::kStudent) return forbidden_role("stop");
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    if (!row) return not_found(class_id);
    if (role == Role::kTeacher && row->owner_id != user_id) {
      bool session_teacher = false;
      if (row->session_id) {
        auto rows =
            db_.query("SELECT teacher_id FROM sessions WHERE session_id = $1", {*row->session_id});
        session_teacher = !rows.empty() && rows[0][0] == user_id;
      }
      if (!session_teacher) return not_owner(class_id);
    }
    if (row->state != "live" || !row->session_id) return not_live(class_id);
    db_.query("UPDATE sessions SET ended_at_ms = $2 WHERE session_id = $1",
              {*row->session_id, num(now_ms)});
    db_.query("UPDATE attendance SET left_at_ms = $2 WHERE session_id = $1 AND left_at_ms IS NULL",
              {*row->session_id, num(now_ms)});
    db_.query("UPDATE classes SET state = 'ended' WHERE class_id = $1", {class_id});
    return ClassChange{*read_status(db_, class_id), true};
  });
}

Result<ClassChange> ClassStore::join(const std::string &class_id, const std::string &user_id,
                                     Role role, int64_t now_ms) {
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    if (!row) return not_found(class_id);
    if (row->state != "live" || !row->session_id) return not_live(class_id);
    bool changed = !open_attendance(db_, *row->session_id, user_id);
    if (changed)
      db_.query(
          "INSERT INTO attendance (attendance_id, session_id, user_id, role, joined_at_ms) "
          "VALUES ($1, $2, $3, $4, $5)",
          {new_id(), *row->session_id, user_id, std::string(role_name(role)), num(now_ms)});
    return ClassChange{*read_status(db_, class_id), changed};
  });
}

Result<ClassChange> ClassStore::leave(const std::string &class_id, const std::string &user_id,
                                      int64_t now_ms) {
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
    if (!row) return not_found(class_id);
    if (row->state != "live" || !row->session_id) return not_live(class_id);
    auto open = open_attendance(db_, *row->session_id, user_id);
    if (open)
      db_.query("UPDATE attendance SET left_at_ms = $2 WHERE attendance_id = $1",
                {*open, num(now_ms)});
    return ClassChange{*read_status(db_, class_id), open.has_value()};
  });
}

Result<ClassChange> ClassStore::pin_profile(const std::string &class_id, const std::string &user_id,
                                            const std::string &profile, int64_t now_ms) {
  return in_transaction<ClassChange>(db_, [&]() -> Result<ClassChange> {
    auto row = lock_class(db_, class_id);
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

// ---- SlideStore ----

namespace gramothi {
namespace {

const char *kDeckColumns =
    "d.deck_id, d.class_id, d.uploaded_by, d.file_name, d.source_bytes, d.status, d.page_count, "
    "d.pages_done, d.pages_failed, d.error_code, d.error_message, d.created_at_ms, "
    "c.active_deck_id";

DeckInfo deck_from(const SqlRow &r) {
  DeckInfo d;
  d.deck_id = r[0].value_or("");
  d.class_id = r[1].value_or("");
  d.uploaded_by = r[2].value_or("");
  d.file_name = r[3].value_or("");
  d.source_bytes = to_i64(r[4]);
  d.status = r[5].value_or("");
  if (r[6]) d.page_count = to_i64(r[6]);
  d.pages_done = to_i64(r[7]);
  d.pages_failed = to_i64(r[8]);
  d.error_code = r[9];
  d.error_message = r[10];
  d.created_at_ms = to_i64(r[11]);
  d.active = r[12] && *r[12] == d.deck_id;
  return d;
}

const char *kSlideColumns = "slide_id, deck_id, order_no, status, text, images, error";

SlideInfo slide_from(const SqlRow &r) {
  SlideInfo s;
  s.slide_id = r[0].value_or("");
  s.deck_id = r[1].value_or("");
  s.order_no = to_i64(r[2]);
  s.status = r[3].value_or("");
  s.text = r[4].value_or("");
  s.images_json = r[5].value_or("{}");
  s.error = r[6];
  return s;
}

std::optional<DeckInfo> read_deck(Database &db, const std::string &deck_id) {
  auto rows = db.query(std::string("SELECT ") + kDeckColumns +
                           " FROM decks d JOIN classes c ON c.class_id = d.class_id "
                           "WHERE d.deck_id = $1",
                       {deck_id});
  if (rows.empty()) return std::nullopt;
  return deck_from(rows[0]);
}

Error deck_not_found(const std::string &deck_id) {
  return Error{ErrorKind::kNotFound, "deck_not_found", "Deck '" + deck_id + "' does not exist."};
}

}  // namespace

Result<DeckInfo> SlideStore::create_deck(const std::string &class_id, const std::string &user_id,
                                         Role role, const std::string &deck_id,
                                         const std::string &file_name, int64_t source_bytes,
                                         int64_t now_ms) {
  if (role == Role::kStudent)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Students may not upload slides."};
  return in_transaction<DeckInfo>(db_, [&]() -> Result<DeckInfo> {
    auto cls = lock_class(db_, class_id);
    if (!cls) {
      db_.query(
          "INSERT INTO classes (class_id, owner_id, state, created_at_ms) VALUES ($1, $2, "
          "'ended', $3)",
          {class_id, user_id, num(now_ms)});
    } else if (role != Role::kAdmin && cls->owner_id != user_id) {
      return not_owner(class_id);
    }
    db_.query(
        "INSERT INTO decks (deck_id, class_id, uploaded_by, file_name, source_bytes, status, "
        "created_at_ms) VALUES ($1, $2, $3, $4, $5, 'rendering', $6)",
        {deck_id, class_id, user_id, file_name, num(source_bytes), num(now_ms)});
    db_.query("UPDATE classes SET active_deck_id = $1, current_slide_id = NULL WHERE class_id = $2",
              {deck_id, class_id});
    return *read_deck(db_, deck_id);
  });
}

Result<DeckInfo> SlideStore::record_page_count(const std::string &deck_id, int64_t pages) {
  return in_transaction<DeckInfo>(db_, [&]() -> Result<DeckInfo> {
    db_.query("UPDATE decks SET page_count = $1 WHERE deck_id = $2", {num(pages), deck_id});
    auto d = read_deck(db_, deck_id);
    if (!d) return deck_not_found(deck_id);
    return *d;
  });
}

Result<bool> SlideStore::add_slide(const SlideInfo &slide) {
  return in_transaction<bool>(db_, [&]() -> Result<bool> {
    auto d = read_deck(db_, slide.deck_id);
    if (!d) return deck_not_found(slide.deck_id);
    auto existing = db_.query("SELECT 1 FROM slides WHERE slide_id = $1", {slide.slide_id});
    if (!existing.empty()) return false;  // a page reported twice counts once
    db_.query(std::string("INSERT INTO slides (") + kSlideColumns +
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
              {slide.slide_id, slide.deck_id, num(slide.order_no), slide.status, slide.text,
               slide.images_json, slide.error});
    db_.query(slide.status == "ready"
                  ? "UPDATE decks SET pages_done = pages_done + 1 WHERE deck_id = $1"
                  : "UPDATE decks SET pages_failed = pages_failed + 1 WHERE deck_id = $1",
              {slide.deck_id});
    if (slide.status != "ready" || slide.order_no != 1 || !d->active) return false;
    auto cls = db_.query("SELECT current_slide_id FROM classes WHERE class_id = $1", {d->class_id});
    if (!cls.empty() && cls[0][0]) return false;
    db_.query("UPDATE classes SET current_slide_id = $1 WHERE class_id = $2",
              {slide.slide_id, d->class_id});
    return true;
  });
}

Result<DeckInfo> SlideStore::finish_deck(const std::string &deck_id, const std::string &status,
                                         const std::optional<std::string> &error_code,
                                         const std::optional<std::string> &error_message) {
  return in_transaction<DeckInfo>(db_, [&]() -> Result<DeckInfo> {
    db_.query(
        "UPDATE decks SET status = $1, error_code = $2, error_message = $3 WHERE deck_id = $4",
        {status, error_code, error_message, deck_id});
    auto d = read_deck(db_, deck_id);
    if (!d) return deck_not_found(deck_id);
    return *d;
  });
}

Result<DeckInfo> SlideStore::deck(const std::string &deck_id) {
  try {
    auto d = read_deck(db_, deck_id);
    if (!d) return deck_not_found(deck_id);
    return *d;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<DeckSlides> SlideStore::active_slides(const std::string &class_id) {
  try {
    auto cls = db_.query("SELECT active_deck_id, current_slide_id FROM classes WHERE class_id = $1",
                         {class_id});
    if (cls.empty()) return not_found(class_id);
    DeckSlides out;
    out.current_slide_id = cls[0][1];
    if (!cls[0][0]) return out;
    out.deck = read_deck(db_, *cls[0][0]);
    for (const auto &r : db_.query(std::string("SELECT ") + kSlideColumns +
                                       " FROM slides WHERE deck_id = $1 ORDER BY order_no",
                                   {*cls[0][0]}))
      out.slides.push_back(slide_from(r));
    return out;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<SlideMove> SlideStore::move(const std::string &class_id, const std::string &user_id,
                                   Role role, const std::string &action,
                                   const std::optional<std::string> &slide_id,
                                   std::optional<int64_t> order_no) {
  if (role == Role::kStudent)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Students may not move slides."};
  return in_transaction<SlideMove>(db_, [&]() -> Result<SlideMove> {
    auto cls = lock_class(db_, class_id);
    if (!cls) return not_found(class_id);
    if (role != Role::kAdmin && cls->owner_id != user_id) return not_owner(class_id);
    auto row = db_.query("SELECT active_deck_id, current_slide_id FROM classes WHERE class_id = $1",
                         {class_id});
    std::vector<SlideInfo> ready;
    if (row[0][0])
      for (const auto &r : db_.query(std::string("SELECT ") + kSlideColumns +
                                         " FROM slides WHERE deck_id = $1 AND status = 'ready' "
                                         "ORDER BY order_no",
                                     {*row[0][0]}))
        ready.push_back(slide_from(r));
    if (ready.empty())
      return Error{ErrorKind::kConflict, "no_slides",
                   "Class '" + class_id + "' has no rendered slides yet."};
    size_t at = 0;
    bool has_current = false;
    for (size_t i = 0; i < ready.size(); i++)
      if (row[0][1] && ready[i].slide_id == *row[0][1]) at = i, has_current = true;
    size_t target = at;
    SlideMove m;
    if (action == "next") {
      if (has_current && at + 1 >= ready.size())
        m.reason = "last_slide";
      else if (has_current)
        target = at + 1;
    } else if (action == "previous") {
      if (has_current && at == 0)
        m.reason = "first_slide";
      else if (has_current)
        target = at - 1;
    } else {  // goto
      bool found = false;
      for (size_t i = 0; i < ready.size(); i++)
        if ((slide_id && ready[i].slide_id == *slide_id) ||
            (!slide_id && order_no && ready[i].order_no == *order_no))
          target = i, found = true;
      if (!found)
        return Error{ErrorKind::kNotFound, "slide_not_found",
                     "No rendered slide " +
                         (slide_id ? "'" + *slide_id + "'" : std::to_string(order_no.value_or(0))) +
                         " in the class's deck."};
      if (has_current && target == at) m.reason = "same_slide";
    }
    m.changed = m.reason.empty();
    m.current = ready[target];
    if (target + 1 < ready.size()) m.next = ready[target + 1];
    if (m.changed)
      db_.query("UPDATE classes SET current_slide_id = $1 WHERE class_id = $2",
                {m.current.slide_id, class_id});
    return m;
  });
}

Result<int64_t> SlideStore::fail_unfinished(int64_t) {
  return in_transaction<int64_t>(db_, [&]() -> Result<int64_t> {
    auto rows = db_.query("SELECT count(*) FROM decks WHERE status = 'rendering'");
    db_.query(
        "UPDATE decks SET status = 'failed', error_code = 'interrupted', error_message = "
        "'The server stopped while the deck was rendering; upload it again.' "
        "WHERE status = 'rendering'");
    return to_i64(rows.at(0).at(0));
  });
}

}  // namespace gramothi

// ---- ChatStore ----

namespace gramothi {
namespace {

ChatMessage chat_from(const SqlRow &r) {
  ChatMessage m;
  m.message_id = r[0].value_or("");
  m.class_id = r[1].value_or("");
  m.user_id = r[2].value_or("");
  m.role = parse_role(r[3].value_or("")).value_or(Role::kStudent);
  m.text = r[4].value_or("");
  m.sent_at_ms = to_i64(r[5]);
  return m;
}

const char *kChatColumns = "message_id, class_id, user_id, role, text, sent_at_ms";

}  // namespace

Result<ChatMessage> ChatStore::post(const std::string &class_id, const std::string &user_id,
                                    Role role, const std::string &text, int64_t now_ms) {
  return in_transaction<ChatMessage>(db_, [&]() -> Result<ChatMessage> {
    auto cls = db_.query("SELECT 1 FROM classes WHERE class_id = $1", {class_id});
    if (cls.empty()) return not_found(class_id);
    ChatMessage m;
    m.message_id = new_id();
    m.class_id = class_id;
    m.user_id = user_id;
    m.role = role;
    m.text = text;
    m.sent_at_ms = now_ms;
    db_.query(std::string("INSERT INTO chat_messages (") + kChatColumns +
                  ") VALUES ($1, $2, $3, $4, $5, $6)",
              {m.message_id, class_id, user_id, std::string(role_name(role)), text, num(now_ms)});
    return m;
  });
}

Result<std::vector<ChatMessage>> ChatStore::recent(const std::string &class_id, int limit) {
  try {
    // The newest `limit`, returned oldest first.
    auto rows = db_.query(std::string("SELECT ") + kChatColumns +
                              " FROM chat_messages WHERE class_id = $1 AND removed_at_ms IS NULL "
                              "ORDER BY sent_at_ms DESC, message_id DESC LIMIT $2",
                          {class_id, num(limit)});
    std::vector<ChatMessage> out;
    for (auto it = rows.rbegin(); it != rows.rend(); ++it)
      out.push_back(chat_from(*it));
    return out;
  } catch (const StorageError &e) {
    return from_storage(e);
  }
}

Result<ChatMessage> ChatStore::remove(const std::string &class_id, const std::string &message_id,
                                      const std::string &user_id, Role role, int64_t now_ms) {
  if (role == Role::kStudent)
    return Error{ErrorKind::kForbidden, "forbidden_role", "Students may not remove messages."};
  return in_transaction<ChatMessage>(db_, [&]() -> Result<ChatMessage> {
    auto cls = lock_class(db_, class_id);
    if (!cls) return not_found(class_id);
    if (role != Role::kAdmin && cls->owner_id != user_id) return not_owner(class_id);
    auto rows = db_.query(std::string("SELECT ") + kChatColumns +
                              " FROM chat_messages WHERE message_id = $1 AND class_id = $2 AND "
                              "removed_at_ms IS NULL",
                          {message_id, class_id});
    if (rows.empty())
      return Error{ErrorKind::kNotFound, "message_not_found", "No such message in this class."};
    db_.query("UPDATE chat_messages SET removed_at_ms = $1, removed_by = $2 WHERE message_id = $3",
              {num(now_ms), user_id, message_id});
    return chat_from(rows[0]);
  });
}

}  // namespace gramothi
