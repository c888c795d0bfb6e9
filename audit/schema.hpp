#pragma once

// Internal to dsa_audit: the SQL of the on-disk format described in store.hpp, shared by the
// writer (store.cpp) and the read-only side (reader.cpp), and small SQLite helpers.

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace dsa::audit::detail {

// The format this code writes, and the one before it: dsa-audit/1 stores hold checkpoint notes
// without a signed time and rows whose columns were copied from the entry rather than derived
// from its text (store.hpp, "FORMAT VERSIONS"). Both are read; a writer upgrades a /1 store.
inline constexpr std::string_view format_name = "dsa-audit/2";
inline constexpr std::string_view legacy_format_name = "dsa-audit/1";

inline bool known_format(std::string_view f) { return f == format_name || f == legacy_format_name; }

// When a store cannot be read as one, the usual cause is a database file separated from its
// write-ahead log (copied alone from a running or crashed gateway, or the -wal lost). Returns a
// sentence naming the files and what to do, or "" when the -wal and -shm beside `db` explain
// nothing. `store_found` says whether `db` held audit tables.
std::string wal_diagnosis(const std::filesystem::path& db, bool store_found);

// Fails when `db`'s -shm records committed frames that its -wal no longer holds (the -wal is
// missing or shorter): reading `db` alone would silently show an older log. The error names the
// files and what to copy.
[[nodiscard]] result<void> wal_complete(const std::filesystem::path& db);

// The tables a new store is created with. Stores created before 2026-12 also carry seven indexes
// on entries (time_us; agreement, requester, reason each with time_us; case_ref; acting_user; and
// agreement, permission, time_us over counted rows) that nothing reads, since every query and
// count works from verified entry texts (store.hpp, "READING"); a new store has none, so a commit
// writes one b-tree instead of eight (docs/performance.md §8). SQLite keeps an old store's
// indexes up to date by itself; they change nothing that is hashed or verified.
inline constexpr const char* schema_sql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries(
  seq INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  kind TEXT NOT NULL,
  decision TEXT,
  reason TEXT,
  agreement TEXT,
  permission TEXT,
  requester TEXT,
  purpose TEXT,
  case_ref TEXT,
  acting_user TEXT,
  counted INTEGER NOT NULL,
  entry TEXT NOT NULL,
  leaf_hash BLOB NOT NULL);
CREATE TABLE checkpoints(
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  time_us INTEGER NOT NULL,
  note TEXT NOT NULL,
  signature BLOB NOT NULL);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
  BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
  BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
  BEGIN SELECT RAISE(ABORT, 'audit metadata is write-once'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
  BEGIN SELECT RAISE(ABORT, 'audit metadata is write-once'); END;
)sql";

// A prepared statement that finalizes itself.
class statement {
 public:
  statement(sqlite3* db, std::string_view sql) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK && stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }
  int step() { return sqlite3_step(stmt_); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

inline std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p),
                                    static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
                      : std::string();
}

inline std::string_view column_view(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return p != nullptr ? std::string_view(static_cast<const char*>(p),
                                         static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
                      : std::string_view();
}

inline std::string db_error(sqlite3* db) {
  return db != nullptr ? sqlite3_errmsg(db) : "out of memory";
}

// Runs `sql` (one or more statements); the error is SQLite's message.
[[nodiscard]] inline result<void> exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string error = msg != nullptr ? msg : db_error(db);
    sqlite3_free(msg);
    return fail(std::move(error));
  }
  return {};
}

}  // namespace dsa::audit::detail
