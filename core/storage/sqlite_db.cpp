// The SQLite backend of Database: one connection to a file, WAL journal, a busy timeout so a
// second process (`gramothi migrate` beside a running server) waits instead of failing.
#include <sqlite3.h>

#include <string>

#include "storage/database.hpp"

namespace gramothi {
namespace {

ErrorKind kind_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CONSTRAINT:
      return ErrorKind::kConflict;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorKind::kUnavailable;
    default:
      return ErrorKind::kInternal;
  }
}

// Finalizes a statement on every path out of a scope.
struct Statement {
  sqlite3_stmt *stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(const std::string &path) : path_(path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw StorageError(ErrorKind::kUnavailable,
                         "cannot open SQLite database '" + path + "': " + why);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
    try {
      exec_script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      // A file that is not a database fails here rather than on the first real query.
      query("SELECT count(*) FROM sqlite_master");
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~SqliteDatabase() override { sqlite3_close(db_); }

  using Database::query;
  std::string_view backend() const override { return "sqlite"; }

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue> &params) override {
    Statement s;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s.stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, sql);
    int expected = sqlite3_bind_parameter_count(s.stmt);
    if (expected != static_cast<int>(params.size()))
      throw StorageError(ErrorKind::kInternal, "statement takes " + std::to_string(expected) +
                                                   " parameters, got " +
                                                   std::to_string(params.size()));
    for (size_t i = 0; i < params.size(); i++) {
      // Parameters are written $1..$n; SQLite treats them as named, so bind by name.
      std::string name = "$" + std::to_string(i + 1);
      int index = sqlite3_bind_parameter_index(s.stmt, name.c_str());
      if (index == 0)
        throw StorageError(ErrorKind::kInternal, "statement does not use parameter " + name);
      rc = params[i] ? sqlite3_bind_text(s.stmt, index, params[i]->data(),
                                         static_cast<int>(params[i]->size()), SQLITE_TRANSIENT)
                     : sqlite3_bind_null(s.stmt, index);
      if (rc != SQLITE_OK) fail(rc, sql);
    }
    std::vector<SqlRow> rows;
    while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
      int n = sqlite3_column_count(s.stmt);
      SqlRow row;
      row.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; c++) {
        if (sqlite3_column_type(s.stmt, c) == SQLITE_NULL) {
          row.emplace_back(std::nullopt);
        } else {
          const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(s.stmt, c));
          row.emplace_back(std::string(text, static_cast<size_t>(sqlite3_column_bytes(s.stmt, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) fail(rc, sql);
    return rows;
  }

  void exec_script(std::string_view sql) override {
    std::string copy(sql);
    char *err = nullptr;
    int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string why = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw StorageError(kind_for(rc), why);
    }
  }

  void begin() override { exec_script("BEGIN IMMEDIATE"); }
  void commit() override { exec_script("COMMIT"); }
  void rollback() override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool supports_row_locks() const override { return false; }
  void ping() override { query("SELECT 1"); }

 private:
  [[noreturn]] void fail(int rc, std::string_view sql) {
    std::string statement(sql.substr(0, 60));
    throw StorageError(kind_for(rc), std::string(sqlite3_errmsg(db_)) + " (in: " + statement +
                                         (sql.size() > 60 ? "…" : "") + ")");
  }

  std::string path_;
  sqlite3 *db_ = nullptr;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string &path) {
  return std::make_unique<SqliteDatabase>(path);
}

}  // namespace gramothi
