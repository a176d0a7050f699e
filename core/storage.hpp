// Storage: one interface, two backends (SQLite by default, PostgreSQL via libpq).
//
// `Database` is a single connection that runs SQL with `$1..$n` text parameters on either
// backend; it is not thread-safe and is used by one thread at a time (the StorageWorker's).
// `ClassStore` holds the class lifecycle rules on top of it, written once for both backends:
// every operation is one transaction, so a crash never leaves half an operation behind.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace gramothi {

// Thrown by Database on failure. kind: kUnavailable (cannot connect / connection lost),
// kConflict (a constraint or serialization failure: the operation may be retried),
// kInternal (anything else: bad SQL, corrupt file).
class StorageError : public std::runtime_error {
 public:
  StorageError(ErrorKind kind, const std::string &what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

using SqlValue = std::optional<std::string>;  // nullopt = SQL NULL
using SqlRow = std::vector<SqlValue>;

class Database {
 public:
  virtual ~Database() = default;
  virtual std::string_view backend() const = 0;  // "sqlite" or "postgresql"
  // One statement; parameters are $1..$n, passed as text (NULL for nullopt); results as text.
  virtual std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue> &params) = 0;
  std::vector<SqlRow> query(std::string_view sql) { return query(sql, {}); }
  // Several statements, no parameters (migrations).
  virtual void exec_script(std::string_view sql) = 0;
  // Transactions. begin() takes the write lock at once (SQLite: BEGIN IMMEDIATE).
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;  // never throws
  // PostgreSQL: SELECT ... FOR UPDATE; SQLite serializes writers already.
  virtual bool supports_row_locks() const = 0;
  // Cheap round trip; reconnects a lost connection first where the backend can. Throws.
  virtual void ping() = 0;
};

// `path` is a file path (created if missing, parent must exist). WAL mode, busy timeout.
std::unique_ptr<Database> open_sqlite(const std::string &path);
// `url` is a libpq connection URI ("postgresql://user@host:port/db?...").
std::unique_ptr<Database> open_postgres(const std::string &url);

// The schema version this build knows; migrate() brings a database up to it.
int latest_schema_version();
// Applies missing migrations in order, each in its own transaction, recording them in
// schema_migrations. Safe to run concurrently from two processes (PostgreSQL advisory lock;
// SQLite write lock). Refuses a database whose version is newer than this build's. Returns the
// version after migrating.
int migrate(Database &db);
int current_schema_version(Database &db);  // 0 for an empty database

enum class Role { kStudent, kTeacher, kAdmin };
std::string_view role_name(Role role);
std::optional<Role> parse_role(std::string_view name);

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

// Class ids and user ids: 1..64 (class) / 1..128 (user) chars of [A-Za-z0-9._:@-].
bool valid_class_id(std::string_view id);
bool valid_user_id(std::string_view id);

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

// ---- Slides ----

struct DeckInfo {
  std::string deck_id, class_id, uploaded_by, file_name;
  int64_t source_bytes = 0;
  std::string status;                 // "rendering", "ready" or "failed"
  std::optional<int64_t> page_count;  // known once the worker has opened the PDF
  int64_t pages_done = 0, pages_failed = 0;
  std::optional<std::string> error_code, error_message;
  int64_t created_at_ms = 0;
  bool active = false;
};

struct SlideInfo {
  std::string slide_id;  // "<deck_id>-<order_no>"
  std::string deck_id;
  int64_t order_no = 0;
  std::string status;  // "ready" or "failed"
  std::string text;
  std::string images_json;  // {"<profile>": {"file":..., "width":..., "height":..., "bytes":...}}
  std::optional<std::string> error;
};

// A class's active deck and its slides in order (empty when the class has no deck).
struct DeckSlides {
  std::optional<DeckInfo> deck;
  std::vector<SlideInfo> slides;
  std::optional<std::string> current_slide_id;
};

// Where a slide move left the class. `changed` false: nothing moved (`reason` says why:
// "first_slide", "last_slide", "same_slide"). `next` is the slide after the current one.
struct SlideMove {
  bool changed = false;
  std::string reason;
  SlideInfo current;
  std::optional<SlideInfo> next;
};

// Decks and the current slide. Same transaction and error rules as ClassStore:
//   create_deck: students -> kForbidden "forbidden_role"; a teacher who does not own the class
//          -> kForbidden "not_class_owner" (admins may). An unknown class is created, not live,
//          owned by the uploader (decks are prepared before class). The new deck becomes the
//          class's active deck and the current slide is cleared until its first page is ready.
//   record_pages / add_slide / finish_deck: the renderer's progress; add_slide makes a ready
//          page 1 of the active deck the current slide when there is none. Returns true then.
//   move: action "next", "previous" or "goto" (slide_id, or order_no >= 1) among the active
//          deck's ready slides. Students -> kForbidden "forbidden_role"; not owner ->
//          "not_class_owner"; no deck or no ready slide -> kConflict "no_slides"; an unknown
//          target -> kNotFound "slide_not_found". The first/last slide: changed=false.
// ---- Chat ----

struct ChatMessage {
  std::string message_id, class_id, user_id;
  Role role = Role::kStudent;
  std::string text;
  int64_t sent_at_ms = 0;
};

// A class's chat. post: the class must exist (kNotFound "class_not_found"); the caller checked
// the text. recent: the newest `limit` not removed, oldest first. remove: the class's owner or
// an admin (students -> kForbidden "forbidden_role", other teachers -> "not_class_owner");
// unknown or already removed -> kNotFound "message_not_found".
class ChatStore {
 public:
  explicit ChatStore(Database &db) : db_(db) {}
  Result<ChatMessage> post(const std::string &class_id, const std::string &user_id, Role role,
                           const std::string &text, int64_t now_ms);
  Result<std::vector<ChatMessage>> recent(const std::string &class_id, int limit);
  Result<ChatMessage> remove(const std::string &class_id, const std::string &message_id,
                             const std::string &user_id, Role role, int64_t now_ms);

 private:
  Database &db_;
};

class SlideStore {
 public:
  explicit SlideStore(Database &db) : db_(db) {}

  Result<DeckInfo> create_deck(const std::string &class_id, const std::string &user_id, Role role,
                               const std::string &deck_id, const std::string &file_name,
                               int64_t source_bytes, int64_t now_ms);
  Result<DeckInfo> record_page_count(const std::string &deck_id, int64_t pages);
  Result<bool> add_slide(const SlideInfo &slide);
  Result<DeckInfo> finish_deck(const std::string &deck_id, const std::string &status,
                               const std::optional<std::string> &error_code,
                               const std::optional<std::string> &error_message);
  Result<DeckInfo> deck(const std::string &deck_id);
  Result<DeckSlides> active_slides(const std::string &class_id);
  Result<SlideMove> move(const std::string &class_id, const std::string &user_id, Role role,
                         const std::string &action, const std::optional<std::string> &slide_id,
                         std::optional<int64_t> order_no);
  // Decks left "rendering" by a server that stopped: marked failed at start.
  Result<int64_t> fail_unfinished(int64_t now_ms);

 private:
  Database &db_;
};

}  // namespace gramothi
