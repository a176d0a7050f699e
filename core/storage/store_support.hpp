// What the stores share (internal to core/storage): row conversions, the errors every store
// reports in the same words, the locked class row, and the retrying transaction.
#pragma once

#include <glib.h>

#include <cstdint>
#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/role.hpp"
#include "storage/class_store.hpp"
#include "storage/database.hpp"

namespace gramothi {

std::string num(int64_t v);
int64_t to_i64(const SqlValue &v);
std::string new_id();  // a random UUID

Error not_found(const std::string &class_id);
Error not_live(const std::string &class_id);
Error not_owner(const std::string &class_id);
Error forbidden_role(const char *what);
// A StorageError as the Error the stores report (storage_unavailable, _conflict, _error).
Error from_storage(const StorageError &e);

Error not_in_class(const std::string &class_id);

// The class row, locked for the transaction where the backend can.
struct ClassRow {
  std::string owner_id;
  std::string state;
  std::optional<std::string> session_id;
};

// The rights of class_store.hpp's Actor, read in the caller's transaction.
bool may_teach(Database &db, const std::string &class_id, const Actor &who);
bool may_attend(Database &db, const std::string &class_id, const Actor &who);

std::optional<ClassRow> lock_class(Database &db, const std::string &class_id);
std::optional<ClassStatus> read_status(Database &db, const std::string &class_id);

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

}  // namespace gramothi
