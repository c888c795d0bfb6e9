// The writer's WAL housekeeping and the lean schema (audit/store.cpp, audit/schema.hpp;
// docs/performance.md §8): WAL checkpoints run on their own thread beside commits without losing
// an entry, the WAL stays bounded, a new store has no secondary indexes, and a store created with
// the old indexes is still written and verified.
#include <catch2/catch.hpp>
#include <filesystem>
#include <semaphore>
#include <thread>
#include <vector>

#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

// What one `SELECT` of a single integer returns, or -1.
std::int64_t query_int(raw_db& db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    v = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  return v;
}

std::uintmax_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

// The secondary indexes of stores created before the writer's schema lost them.
constexpr const char* legacy_indexes = R"sql(
CREATE INDEX entries_time ON entries(time_us);
CREATE INDEX entries_agreement ON entries(agreement, time_us) WHERE agreement IS NOT NULL;
CREATE INDEX entries_requester ON entries(requester, time_us) WHERE requester IS NOT NULL;
CREATE INDEX entries_reason ON entries(reason, time_us) WHERE reason IS NOT NULL;
CREATE INDEX entries_case_ref ON entries(case_ref) WHERE case_ref IS NOT NULL;
CREATE INDEX entries_acting_user ON entries(acting_user) WHERE acting_user IS NOT NULL;
CREATE INDEX entries_counted ON entries(agreement, permission, time_us) WHERE counted = 1;
)sql";

}  // namespace

TEST_CASE("WAL checkpoints race commits on their own thread and lose no entry", "[store][wal]") {
  temp_dir dir;
  auto opts = options_in(dir);
  // A tiny threshold makes a checkpoint fall due every few commits, so they overlap constantly.
  opts.wal_checkpoint_frames = 16;
  opts.checkpoint_interval = std::chrono::milliseconds(20);
  constexpr std::uint64_t per_thread = 1500;
  constexpr unsigned threads = 3;
  std::string error;
  store_stats stats;
  {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    std::atomic<std::uint64_t> failed{0};
    std::vector<std::thread> appenders;
    for (unsigned t = 0; t < threads; ++t) {
      appenders.emplace_back([&, t] {
        // A few in flight per thread: batches of a few entries, many commits.
        std::counting_semaphore<8> window(4);
        std::atomic<int> outstanding{0};
        for (std::uint64_t i = 0; i < per_thread; ++i) {
          window.acquire();
          outstanding.fetch_add(1);
          s->append(make_entry(t * per_thread + i), [&](const commit_result& r) {
            if (!r.ok) {
              failed.fetch_add(1);
            }
            window.release();
            outstanding.fetch_sub(1);
          });
        }
        while (outstanding.load() != 0) {
          std::this_thread::yield();
        }
      });
    }
    for (auto& a : appenders) {
      a.join();
    }
    CHECK(failed.load() == 0);
    stats = s->stats();
  }
  // Most checkpoints ran on the checkpointer's connection, not inside the writer's loop.
  CHECK(stats.wal_checkpoints > 0);
  CHECK(stats.wal_checkpoints > stats.wal_checkpoints_by_writer);
  CHECK(stats.entries == threads * per_thread);
  auto r = take(reader::open(opts.db_path), error);
  INFO(error);
  REQUIRE(r);
  CHECK(r->entry_count() == threads * per_thread);
  r.reset();
  const verify_result v = completed(verify_store(opts.db_path));
  INFO((v.problems.empty() ? std::string() : v.problems.front().detail));
  CHECK(v.intact());
  CHECK(v.entries == threads * per_thread);
}

TEST_CASE("the WAL stays bounded while one-entry commits follow each other", "[store][wal]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.wal_checkpoint_frames = 16;
  std::filesystem::path wal = opts.db_path;
  wal += "-wal";
  std::string error;
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  std::uintmax_t largest = 0;
  for (std::uint64_t i = 0; i < 600; ++i) {
    REQUIRE(append_sync(*s, make_entry(i)).ok);
    largest = std::max(largest, file_size_or_zero(wal));
  }
  // The writer checkpoints itself at 4 x 16 frames if the checkpointer has not emptied the WAL
  // by then, and a one-entry commit adds a few frames: the WAL never holds ~70 frames of 4 KiB
  // (plus a 24-byte header each and the 32-byte file header). 600 commits without checkpoints
  // would take well over 600 frames.
  CHECK(largest > 0);
  CHECK(largest <= 72 * (4096 + 24) + 32);
  const store_stats stats = s->stats();
  CHECK(stats.wal_checkpoints > 0);
  s->close();
  CHECK(completed(verify_store(opts.db_path)).intact());
}

TEST_CASE("a new store has no secondary indexes; a store with the old ones is written and verifies",
          "[store][wal]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    for (std::uint64_t i = 0; i < 20; ++i) {
      REQUIRE(append_sync(*s, make_entry(i)).ok);
    }
  }
  {
    raw_db db(opts.db_path);
    CHECK(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'") == 0);
    // The store as created before the indexes were dropped from the schema.
    REQUIRE(db.exec(legacy_indexes) == SQLITE_OK);
  }
  {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    CHECK(s->size() == 20);
    for (std::uint64_t i = 20; i < 220; ++i) {
      REQUIRE(append_sync(*s, make_entry(i)).ok);
    }
    auto counted = take(s->counted_since(0), error);
    INFO(error);
    REQUIRE(counted);
    CHECK(counted->size() == 176);  // every entry but each fifth (make_entry) is counted
  }
  const verify_result v = completed(verify_store(opts.db_path));
  CHECK(v.intact());
  CHECK(v.entries == 220);
  raw_db db(opts.db_path);
  CHECK(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'") == 7);
  // SQLite kept the old indexes up to date: each agrees with the table.
  CHECK(query_int(db,
                  "SELECT count(*) FROM entries INDEXED BY entries_counted WHERE counted = 1 "
                  "AND agreement IS NOT NULL") == 176);
  CHECK(query_int(db, "SELECT count(*) FROM entries INDEXED BY entries_time WHERE time_us > 0") ==
        220);
  sqlite3_stmt* check = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(), "PRAGMA integrity_check", -1, &check, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(check) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(check, 0))) == "ok");
  sqlite3_finalize(check);
}
