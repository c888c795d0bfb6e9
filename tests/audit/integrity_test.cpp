// The audit log's own integrity against someone who can write the file: indexed columns edited
// behind the triggers, a WAL separated from its database, a store from before signed times.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "audit/checkpoint.hpp"
#include "audit/reader.hpp"
#include "audit/schema.hpp"
#include "audit/verify.hpp"
#include "common/clock.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

std::vector<std::string> query_texts(const std::filesystem::path& db, const query_filter& f) {
  std::string error;
  auto r = take(reader::open(db), error);
  INFO(error);
  REQUIRE(r);
  std::vector<std::string> out;
  REQUIRE(take(r->query(f,
                        [&](std::string_view t) {
                          out.emplace_back(t);
                          return true;
                        }),
               error));
  return out;
}

void copy_over(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

std::filesystem::path with_suffix(const std::filesystem::path& p, const char* suffix) {
  auto q = p;
  q += suffix;
  return q;
}

}  // namespace

TEST_CASE("a column edited behind the triggers is tampering at its seq, naming the column",
          "[integrity]") {
  temp_dir dir;
  auto opts = make_store(dir);
  REQUIRE(verify_store(opts.db_path)->intact());
  raw_db db(opts.db_path);
  db.drop_triggers();
  struct edit {
    const char* sql;
    const char* column;
  };
  const edit edits[] = {
      {"UPDATE entries SET counted = 0 WHERE seq = 17", "column counted differs"},
      {"UPDATE entries SET requester = 'westmoor-council' WHERE seq = 17",
       "column requester differs"},
      {"UPDATE entries SET time_us = 0 WHERE seq = 17", "column time_us differs"},
      {"UPDATE entries SET case_ref = NULL WHERE seq = 17", "column case_ref differs"},
      {"UPDATE entries SET decision = 'deny', reason = 'prohibited' WHERE seq = 17",
       "columns decision, reason differ"},
      {"UPDATE entries SET kind = 'startup' WHERE seq = 17", "column kind differs"},
      {"UPDATE entries SET agreement = 'x', permission = 'y', purpose = 'z', "
       "acting_user = 'w' WHERE seq = 17",
       "columns agreement, permission, purpose, acting_user differ"},
  };
  for (const edit& e : edits) {
    SECTION(e.sql) {
      REQUIRE(db.exec(e.sql) == SQLITE_OK);
      const auto v = verify_store(opts.db_path);
      const auto p = first_problem(v);
      CHECK(p.kind == problem_kind::column_altered);
      CHECK(p.seq == std::optional<std::uint64_t>(17));
      CHECK(p.detail.find(e.column) != std::string::npos);
      CHECK(p.detail.find("from the hashed entry") != std::string::npos);
      CHECK(v->problems.size() == 1);  // the entries, leaves and roots are untouched
    }
  }
}

TEST_CASE("query, stats and counted_since read the hashed entries, not edited columns",
          "[integrity]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  const std::int64_t start = dsa::common::now_us();
  std::size_t counted = 0;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    for (std::uint64_t i = 0; i < 40; ++i) {
      auto e = make_entry(i);
      e.time_us = start + static_cast<std::int64_t>(i);
      counted += e.counted ? 1 : 0;
      REQUIRE(append_sync(*s, e).ok);
    }
  }
  query_filter police;
  police.requester = "northshire-police";
  const auto before = query_texts(opts.db_path, police);
  REQUIRE(before.size() == 20);
  const std::vector<group_count> stats_before =
      take(take(reader::open(opts.db_path), error)->stats("requester"), error).value();

  {
    // What an operator resetting volume caps and hiding a partner's requests would do.
    raw_db db(opts.db_path);
    db.drop_triggers();
    REQUIRE(db.exec("UPDATE entries SET counted = 0, time_us = 0, requester = 'nobody', "
                    "decision = 'deny'") == SQLITE_OK);
  }
  const auto v = verify_store(opts.db_path);
  CHECK(first_problem(v).kind == problem_kind::column_altered);
  CHECK(first_problem(v).seq == std::optional<std::uint64_t>(0));

  CHECK(query_texts(opts.db_path, police) == before);
  query_filter nobody;
  nobody.requester = "nobody";
  CHECK(query_texts(opts.db_path, nobody).empty());
  query_filter since;
  since.since_us = start;
  CHECK(query_texts(opts.db_path, since).size() == 40);
  const std::vector<group_count> stats_after =
      take(take(reader::open(opts.db_path), error)->stats("requester"), error).value();
  REQUIRE(stats_after.size() == stats_before.size());
  for (std::size_t i = 0; i < stats_after.size(); ++i) {
    CHECK(stats_after[i].key == stats_before[i].key);
    CHECK(stats_after[i].by_decision == stats_before[i].by_decision);
  }

  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  auto seeded = take(s->counted_since(start - 1'000'000), error);
  INFO(error);
  REQUIRE(seeded);
  CHECK(seeded->size() == counted);
  for (const auto& c : *seeded) {
    CHECK(c.time_us >= start);
    CHECK(c.requester != "nobody");
  }
  // The seeded rows carry the fields volume caps key on, read from the entry texts.
  CHECK(std::count_if(seeded->begin(), seeded->end(), [&](const counted_request& c) {
          return c.agreement == "asb-sharing" && c.permission == "police-read-cases" &&
                 c.requester == "northshire-police" && c.time_us < start + 1000;
        }) > 0);
}

TEST_CASE(
    "counted_since refuses an entry whose text no longer matches its hash, and starts at "
    "a checkpoint signed before the window",
    "[integrity]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    for (std::uint64_t i = 0; i < 10; ++i) {
      auto e = make_entry(i);
      e.time_us = dsa::common::now_us();
      REQUIRE(append_sync(*s, e).ok);
    }
  }  // the checkpoint at close covers 0 … 9 and is signed after their times
  // The window starts strictly after the close checkpoint's signing time.
  const std::int64_t closed_at = dsa::common::now_us();
  std::int64_t window = dsa::common::now_us();
  while (window <= closed_at) {
    window = dsa::common::now_us();
  }
  std::size_t counted_in_window = 0;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    for (std::uint64_t i = 10; i < 20; ++i) {
      auto e = make_entry(i);
      e.time_us = dsa::common::now_us();
      counted_in_window += e.counted ? 1 : 0;
      REQUIRE(append_sync(*s, e).ok);
    }
  }
  {
    // Turn a counted entry before the window into an uncounted one, text only.
    raw_db db(opts.db_path);
    db.drop_triggers();
    REQUIRE(db.exec("UPDATE entries SET entry = replace(entry, ',\"counted\":true', '') "
                    "WHERE seq = 3") == SQLITE_OK);
  }
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  // The window starts after the first checkpoint's signed time: rows below its size are not read.
  auto in_window = take(s->counted_since(window), error);
  INFO(error);
  REQUIRE(in_window);
  CHECK(in_window->size() == counted_in_window);
  // From the start of time every row is read, and the edited one is refused by seq.
  std::string full_error;
  CHECK_FALSE(take(s->counted_since(0), full_error));
  CHECK(full_error.find("entry 3 does not match its hash") != std::string::npos);
}

TEST_CASE("after close the database file alone holds the whole log", "[integrity][wal]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  auto s = take(store::open(opts), error);
  REQUIRE(s);
  for (std::uint64_t i = 0; i < 25; ++i) {
    REQUIRE(append_sync(*s, make_entry(i)).ok);
  }
  // Another connection left open (a `dsa audit` command, the store's own count connection) is
  // what used to keep SQLite from folding the WAL into the file at close.
  raw_db other(opts.db_path);
  REQUIRE(other.exec("SELECT count(*) FROM entries") == SQLITE_OK);
  s->close();
  CHECK(s->stats().wal_truncated);
  const auto wal = with_suffix(opts.db_path, "-wal");
  CHECK((!std::filesystem::exists(wal) || std::filesystem::file_size(wal) == 0));

  temp_dir copy;
  copy_over(opts.db_path, copy / "audit.db");
  const auto v = verify_store(copy / "audit.db");
  INFO(v.error());
  CHECK(v->intact());
  CHECK(v->entries == 25);
  CHECK(v->covered == 25);
  CHECK(v->format == std::string(detail::format_name));
}

TEST_CASE("a database separated from its WAL is explained, naming the files", "[integrity][wal]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  auto s = take(store::open(opts), error);
  REQUIRE(s);
  for (std::uint64_t i = 0; i < 10; ++i) {
    REQUIRE(append_sync(*s, make_entry(i)).ok);
  }
  const auto wal = with_suffix(opts.db_path, "-wal");
  const auto shm = with_suffix(opts.db_path, "-shm");
  REQUIRE(std::filesystem::file_size(wal) > 32);  // the running store's log is in its WAL
  temp_dir copy;
  const auto db = copy / "audit.db";

  SECTION("the database copied alone from a running gateway") {
    copy_over(opts.db_path, db);
    auto v = verify_store(db);
    CHECK_FALSE(v.has_value());
    CHECK(v.error().find("is not a DSA audit store") != std::string::npos);
    CHECK(v.error().find("audit.db-wal") != std::string::npos);
    CHECK(v.error().find("copy audit.db together with audit.db-wal") != std::string::npos);
  }
  SECTION("the database and its -shm, but not the -wal") {
    copy_over(opts.db_path, db);
    copy_over(shm, with_suffix(db, "-shm"));
    auto v = verify_store(db);
    CHECK_FALSE(v.has_value());
    CHECK(v.error().find("committed WAL frames") != std::string::npos);
    CHECK(v.error().find((copy / "audit.db-wal").string() + " is missing") != std::string::npos);
    // The writer refuses it too rather than start over from an older state.
    auto other = opts;
    other.db_path = db;
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("is missing") != std::string::npos);
  }
  SECTION("the -wal without its database") {
    copy_over(wal, with_suffix(db, "-wal"));
    auto v = verify_store(db);
    CHECK_FALSE(v.has_value());
    CHECK(v.error().find("no such audit store") != std::string::npos);
    CHECK(v.error().find("exists without the database it belongs to") != std::string::npos);
    auto other = opts;
    other.db_path = db;
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("refusing to create audit store") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(db));
  }
  SECTION("the database and its -wal copied together") {
    copy_over(opts.db_path, db);
    copy_over(wal, with_suffix(db, "-wal"));
    auto v = verify_store(db);
    INFO(v.error());
    CHECK(v->intact());
    CHECK(v->entries == 10);
  }
}

TEST_CASE("a dsa-audit/1 store (checkpoints without a signed time) is read, then upgraded",
          "[integrity][legacy]") {
  temp_dir dir;
  auto opts = make_store(dir);
  std::string error;
  {
    // Rewrite it as the previous version left it: format /1, three-line notes, signed.
    auto key = take(signing_key::load_or_create(opts.signing_key_path), error);
    REQUIRE(key);
    const std::vector<stored_checkpoint> rows =
        take(take(reader::open(opts.db_path), error)->checkpoints(), error).value();
    raw_db db(opts.db_path);
    db.drop_triggers();
    REQUIRE(db.exec("DROP TRIGGER meta_no_update") == SQLITE_OK);
    REQUIRE(db.exec("UPDATE meta SET value = 'dsa-audit/1' WHERE key = 'format'") == SQLITE_OK);
    for (const auto& row : rows) {
      auto c = parse_checkpoint_note(row.note).value();
      REQUIRE(c.time_us);
      c.time_us.reset();
      const std::string note = checkpoint_note(c);
      const std::string sig = key->sign(note).value();
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db.get(), "UPDATE checkpoints SET note = ?1, signature = ?2 WHERE id = ?3",
                         -1, &st, nullptr);
      sqlite3_bind_text(st, 1, note.data(), static_cast<int>(note.size()), SQLITE_STATIC);
      sqlite3_bind_blob(st, 2, sig.data(), static_cast<int>(sig.size()), SQLITE_STATIC);
      sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(row.id));
      REQUIRE(sqlite3_step(st) == SQLITE_DONE);
      sqlite3_finalize(st);
    }
    REQUIRE(db.exec("CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN SELECT "
                    "RAISE(ABORT, 'audit metadata is write-once'); END") == SQLITE_OK);
  }
  auto legacy = verify_store(opts.db_path);
  INFO(legacy.error());
  CHECK(legacy->intact());
  CHECK(legacy->format == "dsa-audit/1");

  {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    REQUIRE(append_sync(*s, make_entry(50)).ok);
  }
  auto upgraded = verify_store(opts.db_path);
  CHECK(upgraded->intact());
  CHECK(upgraded->format == std::string(detail::format_name));
  CHECK(upgraded->entries == 51);
  auto r = take(reader::open(opts.db_path), error);
  REQUIRE(r);
  CHECK(r->meta("upgraded_from") == std::optional<std::string>("dsa-audit/1"));
  const std::vector<stored_checkpoint> rows = take(r->checkpoints(), error).value();
  CHECK_FALSE(parse_checkpoint_note(rows.front().note)->time_us);
  CHECK(parse_checkpoint_note(rows.back().note)->time_us);
}

TEST_CASE("verification finds problems across the batches it hashes in parallel",
          "[integrity][verify]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    std::atomic<std::uint64_t> failed{0};
    for (std::uint64_t i = 0; i < 5000; ++i) {
      s->append(make_entry(i), [&failed](const commit_result& r) {
        if (!r.ok) {
          failed.fetch_add(1);
        }
      });
    }
    s->close();  // drains the queue and writes the final checkpoint
    REQUIRE(failed.load() == 0);
  }
  REQUIRE(verify_store(opts.db_path)->intact());
  {
    raw_db db(opts.db_path);
    db.drop_triggers();
    REQUIRE(db.exec("UPDATE entries SET counted = 1 - counted WHERE seq IN (2047, 2048, 4500)") ==
            SQLITE_OK);
    REQUIRE(db.exec("UPDATE entries SET entry = replace(entry, '\"GET\"', '\"PUT\"') "
                    "WHERE seq = 4097") == SQLITE_OK);
  }
  const auto v = verify_store(opts.db_path);
  REQUIRE(v.has_value());
  CHECK(v->entries == 5000);
  std::vector<std::pair<std::uint64_t, problem_kind>> found;
  for (const auto& p : v->problems) {
    found.emplace_back(p.seq.value_or(UINT64_MAX), p.kind);
  }
  const std::vector<std::pair<std::uint64_t, problem_kind>> expected = {
      {2047, problem_kind::column_altered},
      {2048, problem_kind::column_altered},
      {4097, problem_kind::entry_changed},
      {4500, problem_kind::column_altered}};
  CHECK(found == expected);
}

TEST_CASE(
    "entries of a kind or decision this build does not know are verified and reported as data",
    "[integrity][entry]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    for (std::uint64_t i = 0; i < 6; ++i) {
      entry e = make_entry(i);
      if (i % 2 == 1) {
        // What a newer gateway writes: a kind and a decision added after this build.
        e.kind = entry_kind::unknown;
        e.unknown_kind = "disclosure_paused";
        e.decision = entry_decision::unknown;
        e.unknown_decision = "quarantined";
      }
      REQUIRE(append_sync(*s, e).ok);
    }
  }
  const auto v = completed(verify_store(opts.db_path));
  CHECK(v.intact());
  CHECK(v.entries == 6);

  query_filter quarantined;
  quarantined.decision = "quarantined";
  const auto texts = query_texts(opts.db_path, quarantined);
  REQUIRE(texts.size() == 3);
  for (const auto& t : texts) {
    CHECK(t.find(R"("kind":"disclosure_paused")") != std::string::npos);
    const auto e = entry_from_json(t);
    REQUIRE(e);
    CHECK(kind_text(*e) == "disclosure_paused");
    CHECK(to_json(*e) == t);  // read back, it serialises to the bytes that were hashed
  }
  auto r = take(reader::open(opts.db_path), error);
  REQUIRE(r);
  const auto groups = take(r->stats(""), error);
  REQUIRE(groups);
  REQUIRE(groups->size() == 1);
  CHECK(groups->front().total == 6);
  CHECK(groups->front().by_decision.at("quarantined") == 3);
}
