// The database seam: one interface, two backends (SQLite by default, PostgreSQL via libpq).
//
// `Database` is a single connection that runs SQL with `$1..$n` text parameters on either
// backend; it is not thread-safe and is used by one thread at a time (the StorageWorker's).
// The stores (class_store, slide_store, chat_store) hold the rules on top of it, written once
// for both backends: every operation is one transaction, so a crash never leaves half an
// operation behind.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

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

}  // namespace gramothi
