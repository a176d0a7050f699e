// The PostgreSQL backend of Database, over libpq: text parameters and results, one connection,
// reconnected (PQreset) before a statement when it was lost outside a transaction.
#include <libpq-fe.h>

#include <cstring>
#include <string>

#include "storage/database.hpp"

namespace gramothi {
namespace {

// Frees a PGresult on every path out of a scope.
struct PgResult {
  PGresult *r = nullptr;
  ~PgResult() { PQclear(r); }
};

std::string trimmed(const char *message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(const std::string &url) {
    // connect_timeout comes first so that one in the URL wins.
    const char *keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char *values[] = {"5", "gramothi", url.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
      PQfinish(conn_);
      conn_ = nullptr;
      throw StorageError(ErrorKind::kUnavailable, "cannot connect to PostgreSQL: " + why);
    }
    // CREATE ... IF NOT EXISTS and friends send NOTICEs; they are not worth a log line.
    PQsetNoticeProcessor(
        conn_, [](void *, const char *) {}, nullptr);
    exec_script("SET client_min_messages = warning");
  }
  ~PostgresDatabase() override { PQfinish(conn_); }

  using Database::query;
  std::string_view backend() const override { return "postgresql"; }

  std::vector<SqlRow> query(std::string_view sql, const std::vector<SqlValue> &params) override {
    ensure_connected();
    std::string text(sql);
    std::vector<const char *> values;
    std::vector<int> lengths;
    values.reserve(params.size());
    for (const auto &p : params) {
      values.push_back(p ? p->c_str() : nullptr);
      lengths.push_back(p ? static_cast<int>(p->size()) : 0);
    }
    PgResult res{PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr,
                              values.data(), lengths.data(), nullptr, 0)};
    check(res.r, sql);
    std::vector<SqlRow> rows;
    if (PQresultStatus(res.r) != PGRES_TUPLES_OK) return rows;
    int n_rows = PQntuples(res.r), n_cols = PQnfields(res.r);
    rows.reserve(static_cast<size_t>(n_rows));
    for (int r = 0; r < n_rows; r++) {
      SqlRow row;
      row.reserve(static_cast<size_t>(n_cols));
      for (int c = 0; c < n_cols; c++) {
        if (PQgetisnull(res.r, r, c))
          row.emplace_back(std::nullopt);
        else
          row.emplace_back(
              std::string(PQgetvalue(res.r, r, c), static_cast<size_t>(PQgetlength(res.r, r, c))));
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  void exec_script(std::string_view sql) override {
    ensure_connected();
    std::string text(sql);
    PgResult res{PQexec(conn_, text.c_str())};
    check(res.r, sql);
  }

  void begin() override {
    exec_script("BEGIN ISOLATION LEVEL READ COMMITTED");
    in_transaction_ = true;
  }
  void commit() override {
    in_transaction_ = false;
    exec_script("COMMIT");
  }
  void rollback() override {
    in_transaction_ = false;
    if (PQstatus(conn_) != CONNECTION_OK) return;
    PGresult *r = PQexec(conn_, "ROLLBACK");
    PQclear(r);
  }
  bool supports_row_locks() const override { return true; }
  void ping() override { query("SELECT 1"); }

 private:
  void ensure_connected() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    if (in_transaction_)
      throw StorageError(ErrorKind::kUnavailable, "connection to PostgreSQL lost mid-transaction");
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK)
      throw StorageError(ErrorKind::kUnavailable,
                         "cannot reconnect to PostgreSQL: " + trimmed(PQerrorMessage(conn_)));
  }

  void check(PGresult *res, std::string_view sql) {
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    ErrorKind kind = ErrorKind::kInternal;
    if (PQstatus(conn_) != CONNECTION_OK) {
      kind = ErrorKind::kUnavailable;
    } else if (state) {
      // 23xxx integrity, 40001 serialization, 40P01 deadlock: the operation may be retried.
      if (strncmp(state, "23", 2) == 0 || strcmp(state, "40001") == 0 ||
          strcmp(state, "40P01") == 0)
        kind = ErrorKind::kConflict;
      else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
               strncmp(state, "53", 2) == 0)
        kind = ErrorKind::kUnavailable;
    }
    std::string why = res ? trimmed(PQresultErrorMessage(res)) : trimmed(PQerrorMessage(conn_));
    std::string statement(sql.substr(0, 60));
    throw StorageError(kind, why + " (in: " + statement + (sql.size() > 60 ? "…" : "") + ")");
  }

  PGconn *conn_ = nullptr;
  bool in_transaction_ = false;
};

}  // namespace

std::unique_ptr<Database> open_postgres(const std::string &url) {
  return std::make_unique<PostgresDatabase>(url);
}

}  // namespace gramothi
