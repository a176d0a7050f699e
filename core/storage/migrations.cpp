// Schema migrations. SQL here is the common subset of SQLite and PostgreSQL: TEXT, BIGINT, CHECK,
// $n parameters.
#include "storage/migrations.hpp"

#include <glib.h>

#include <array>
#include <string>

#include "storage/store_support.hpp"

namespace gramothi {
namespace {

// Append-only: a released migration is never edited; a change is a new entry.
const std::array<const char *, 4> kMigrations = {
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
    // 4: teachers are assigned (by an admin or the school's token), not the first comer. The
    // teacher who created each existing class stays assigned to it, marked as inherited
    // (assigned_by 'migration') so that an operator can review what the first comers took.
    R"sql(
CREATE TABLE class_teachers (
  class_id TEXT NOT NULL REFERENCES classes (class_id),
  user_id TEXT NOT NULL,
  assigned_by TEXT NOT NULL,
  assigned_at_ms BIGINT NOT NULL,
  PRIMARY KEY (class_id, user_id)
);
INSERT INTO class_teachers (class_id, user_id, assigned_by, assigned_at_ms)
  SELECT class_id, owner_id, 'migration', created_at_ms FROM classes;
)sql",
};

bool has_migrations_table(Database &db) {
  auto rows = db.backend() == "postgresql"
                  ? db.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
                  : db.query(
                        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = "
                        "'schema_migrations'");
  const SqlValue &v = rows.at(0).at(0);
  return v && (*v == "t" || *v == "1" || *v == "true");
}

}  // namespace

int latest_schema_version() {
  return static_cast<int>(kMigrations.size());
}

int current_schema_version(Database &db) {
  if (!has_migrations_table(db)) return 0;
  auto rows = db.query("SELECT max(version) FROM schema_migrations");
  return static_cast<int>(to_i64(rows.at(0).at(0)));
}

int migrate(Database &db, int target) {
  bool pg = db.backend() == "postgresql";
  if (target < 0 || target > latest_schema_version()) target = latest_schema_version();
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
      if (version >= target) {
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

}  // namespace gramothi
