// Schema migrations, written once for both backends.
#pragma once

#include "storage/database.hpp"

namespace gramothi {

// The schema version this build knows; migrate() brings a database up to it.
int latest_schema_version();
// Applies missing migrations in order, each in its own transaction, recording them in
// schema_migrations. Safe to run concurrently from two processes (PostgreSQL advisory lock;
// SQLite write lock). Refuses a database whose version is newer than this build's. Returns the
// version after migrating. `target` stops at an older version (for testing a migration).
int migrate(Database &db, int target = -1);
int current_schema_version(Database &db);  // 0 for an empty database

}  // namespace gramothi
