#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <thread>

#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

TEST_CASE("appends are numbered from 0 and survive reopening", "[store]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    CHECK(s->writable());
    CHECK(s->size() == 0);
    for (std::uint64_t i = 0; i < 10; ++i) {
      auto r = append_sync(*s, make_entry(i));
      REQUIRE(r.ok);
      CHECK(r.seq == i);
    }
    CHECK(s->size() == 10);
    CHECK(s->stats().entries == 10);
    CHECK(s->stats().batches >= 1);
  }
  struct stat st {};
  REQUIRE(::stat(opts.signing_key_path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  CHECK(s->size() == 10);
  auto r = append_sync(*s, make_entry(10));
  REQUIRE(r.ok);
  CHECK(r.seq == 10);
  s->close();
  s->close();  // idempotent

  auto rd = take(reader::open(opts.db_path), error);
  REQUIRE(rd);
  CHECK(rd->entry_count() == 11);
  auto text = rd->entry_text(3);
  REQUIRE(text);
  auto expected = make_entry(3);
  expected.seq = 3;
  CHECK(*text == to_json(expected));
  auto v = verify_store(opts.db_path);
  CHECK(v->intact());
  CHECK(v->entries == 11);
  CHECK(v->covered == 11);  // the final checkpoint at close covers everything
  CHECK(v->checkpoints >= 2);
}

TEST_CASE("append after close fails at once", "[store]") {
  temp_dir dir;
  std::string error;
  auto s = take(store::open(options_in(dir)), error);
  REQUIRE(s);
  s->close();
  bool called = false;
  s->append(make_entry(0), [&](const commit_result& r) {
    called = true;
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("closed") != std::string::npos);
  });
  CHECK(called);
}

TEST_CASE("checkpoints are written while entries arrive", "[store]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.checkpoint_interval = std::chrono::milliseconds(40);
  std::string error;
  auto s = take(store::open(opts), error);
  REQUIRE(s);
  for (int i = 0; i < 12; ++i) {
    REQUIRE(append_sync(*s, make_entry(static_cast<std::uint64_t>(i))).ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Idle, with entries not yet covered: a checkpoint still follows within the interval (waited
  // for, at most 2 s, by verifying the store until the newest checkpoint covers every entry).
  auto before_close = verify_store(opts.db_path);
  for (int i = 0; i < 100 && before_close && before_close->covered < 12; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    before_close = verify_store(opts.db_path);
  }
  REQUIRE(before_close);
  CHECK(before_close->intact());
  CHECK(before_close->checkpoints >= 4);
  CHECK(before_close->covered == 12);
  s->close();
  CHECK(verify_store(opts.db_path)->checkpoints == before_close->checkpoints);
}

TEST_CASE("triggers refuse UPDATE and DELETE", "[store]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    REQUIRE(append_sync(*s, make_entry(0)).ok);
  }
  raw_db db(opts.db_path);
  CHECK(db.exec("UPDATE entries SET entry = 'x' WHERE seq = 0") != SQLITE_OK);
  CHECK(db.last_error.find("append-only") != std::string::npos);
  CHECK(db.exec("DELETE FROM entries") != SQLITE_OK);
  CHECK(db.exec("UPDATE checkpoints SET size = 0") != SQLITE_OK);
  CHECK(db.exec("DELETE FROM checkpoints") != SQLITE_OK);
  CHECK(db.exec("UPDATE meta SET value = 'x'") != SQLITE_OK);
  CHECK(verify_store(opts.db_path)->intact());
}

TEST_CASE("many threads appending: every callback once, seqs contiguous", "[store]") {
  temp_dir dir;
  std::string error;
  auto opts = options_in(dir);
  opts.max_batch = 256;
  auto s = take(store::open(opts), error);
  REQUIRE(s);
  constexpr int threads = 8;
  constexpr int per_thread = 1500;
  std::vector<std::atomic<int>> calls(threads * per_thread);
  std::mutex mu;
  std::vector<std::uint64_t> seqs;
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int id = t * per_thread + i;
        s->append(make_entry(static_cast<std::uint64_t>(id)), [&, id](const commit_result& r) {
          calls[static_cast<std::size_t>(id)].fetch_add(1);
          if (!r.ok) {
            failures.fetch_add(1);
          }
          std::lock_guard lock(mu);
          seqs.push_back(r.seq);
        });
      }
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  s->close();  // drains the queue: every callback has run when close returns
  CHECK(failures.load() == 0);
  for (const auto& c : calls) {
    REQUIRE(c.load() == 1);
  }
  std::sort(seqs.begin(), seqs.end());
  REQUIRE(seqs.size() == threads * per_thread);
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    REQUIRE(seqs[i] == i);
  }
  CHECK(s->stats().max_batch_size <= 256);
  auto v = verify_store(opts.db_path);
  CHECK(v->intact());
  CHECK(v->entries == threads * per_thread);
}

TEST_CASE("counted requests seed and answer volume caps", "[store]") {
  temp_dir dir;
  std::string error;
  auto s = take(store::open(options_in(dir)), error);
  REQUIRE(s);
  for (std::uint64_t i = 0; i < 30; ++i) {
    REQUIRE(append_sync(*s, make_entry(i)).ok);
  }
  const std::int64_t t0 = make_entry(0).time_us;
  std::uint64_t expected_all = 0, expected_since = 0, expected_asb_police = 0, expected_case = 0,
                expected_user = 0;
  for (std::uint64_t i = 0; i < 30; ++i) {
    auto e = make_entry(i);
    if (!e.counted) {
      continue;
    }
    ++expected_all;
    if (e.time_us >= t0 + 10'000) {
      ++expected_since;
    }
    if (e.agreement == "asb-sharing" && e.requester.party == "northshire-police") {
      ++expected_asb_police;
    }
    if (e.agreement == "asb-sharing" && e.case_ref == "ASB-2025-1003") {
      ++expected_case;
    }
    if (e.agreement == "youth-justice" && e.acting_user == "PC 4001" && e.time_us < t0 + 20'000) {
      ++expected_user;
    }
  }
  auto counted = take(s->counted_since(0), error);
  INFO(error);
  REQUIRE(counted);
  const auto& all = *counted;
  CHECK(all.size() == expected_all);
  auto since = take(s->counted_since(t0 + 10'000), error);
  REQUIRE(since);
  CHECK(since->size() == expected_since);
  REQUIRE_FALSE(all.empty());
  CHECK(all.front().permission == "police-read-cases");
  const std::int64_t end = t0 + 1'000'000;
  // Each row carries the fields volume caps key on (assignee → requester party, case_ref,
  // acting_user), derived from the entry text.
  const auto count = [&](auto&& match) {
    return static_cast<std::uint64_t>(std::count_if(all.begin(), all.end(), match));
  };
  CHECK(count([&](const counted_request& r) {
          return r.time_us < end && r.agreement == "asb-sharing" &&
                 r.permission == "police-read-cases" && r.requester == "northshire-police";
        }) == expected_asb_police);
  CHECK(count([&](const counted_request& r) {
          return r.time_us < end && r.agreement == "asb-sharing" &&
                 r.permission == "police-read-cases" && r.case_ref == "ASB-2025-1003";
        }) == expected_case);
  CHECK(count([&](const counted_request& r) {
          return r.time_us < t0 + 20'000 && r.agreement == "youth-justice" &&
                 r.permission == "police-read-cases" && r.acting_user == "PC 4001";
        }) == expected_user);
  CHECK(count([](const counted_request& r) { return r.permission != "police-read-cases"; }) == 0);
}

TEST_CASE("the incident reference seeds caps; emergency records and entries are read back",
          "[store]") {
  temp_dir dir;
  std::string error;
  auto s = take(store::open(options_in(dir)), error);
  REQUIRE(s);
  entry plain = make_entry(0);
  plain.counted = true;
  plain.decision = entry_decision::allow;
  entry emergency = plain;
  emergency.request_id = "em-1";
  emergency.incident_ref = "INC-000001";
  emergency.justification = "risk to life";
  emergency.review_due_us = plain.time_us + 1000;
  entry refused = emergency;
  refused.request_id = "em-2";
  refused.decision = entry_decision::deny;
  refused.counted = false;
  entry review;
  review.time_us = plain.time_us + 5;
  review.kind = entry_kind::review;
  review.request_id = "em-1";
  review.details["seq"] = 1;
  REQUIRE(append_sync(*s, plain).ok);
  REQUIRE(append_sync(*s, emergency).ok);
  REQUIRE(append_sync(*s, refused).ok);
  REQUIRE(append_sync(*s, review).ok);

  auto counted = take(s->counted_since(0), error);
  REQUIRE(counted);
  REQUIRE(counted->size() == 2);
  CHECK((*counted)[0].incident_ref.empty());
  CHECK((*counted)[1].incident_ref == "INC-000001");

  auto records = take(s->emergency_records(), error);
  INFO(error);
  REQUIRE(records);
  REQUIRE(records->size() == 2);  // the refused one disclosed nothing
  CHECK((*records)[0].seq == 1);
  CHECK((*records)[0].e.request_id == "em-1");
  CHECK((*records)[1].seq == 3);
  CHECK((*records)[1].e.kind == entry_kind::review);

  auto at = take(s->entry_at(2), error);
  REQUIRE(at);
  REQUIRE(*at);
  CHECK((*at)->request_id == "em-2");
  auto none = take(s->entry_at(4), error);
  REQUIRE(none);
  CHECK_FALSE(*none);
}

TEST_CASE("open refuses what is not its store", "[store]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    REQUIRE(append_sync(*s, make_entry(0)).ok);
  }
  SECTION("another signing key") {
    auto other = opts;
    other.signing_key_path = dir / "other.key";
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("other.key") != std::string::npos);
  }
  SECTION("another origin") {
    auto other = opts;
    other.origin = "elsewhere";
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("origin") != std::string::npos);
  }
  SECTION("an SQLite file of another kind") {
    auto other = opts;
    other.db_path = dir / "other.db";
    raw_db(other.db_path).exec("CREATE TABLE t(x)");
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("other.db") != std::string::npos);
    CHECK(error.find("not a DSA audit store") != std::string::npos);
  }
  SECTION("a file that is not a database") {
    auto other = opts;
    other.db_path = dir / "text.db";
    std::ofstream(other.db_path) << "this is not a database, just some text padding it out a bit\n";
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("text.db") != std::string::npos);
  }
  SECTION("a key file that is not a key") {
    auto other = opts;
    other.signing_key_path = dir / "junk.key";
    std::ofstream(other.signing_key_path) << "junk\n";
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("junk.key") != std::string::npos);
  }
  SECTION("a directory that does not exist") {
    auto other = opts;
    other.db_path = dir / "missing" / "audit.db";
    CHECK_FALSE(take(store::open(other), error));
    CHECK(error.find("missing") != std::string::npos);
  }
  SECTION("a tampered tree") {
    raw_db db(opts.db_path);
    db.drop_triggers();
    REQUIRE(db.exec("UPDATE entries SET leaf_hash = zeroblob(32) WHERE seq = 0") == SQLITE_OK);
    CHECK_FALSE(take(store::open(opts), error));
    CHECK(error.find("checkpoint") != std::string::npos);
  }
}

TEST_CASE("the archived agreement hashes are found again at open, from verified texts only",
          "[store]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  const std::string sha_a(64, 'a');
  const std::string sha_b(64, 'b');
  auto archive = [](const std::string& sha, const std::string& text) {
    entry e;
    e.time_us = 1;
    e.kind = entry_kind::agreement_text;
    e.agreement = "asb-sharing";
    e.agreement_version = "1.0.0";
    e.agreement_sha256 = sha;
    e.details["file"] = "agreements/asb.yaml";
    e.details["text"] = text;
    return e;
  };
  std::uint64_t seq_b = 0;
  {
    auto s = take(store::open(opts), error);
    REQUIRE(s);
    CHECK_FALSE(s->agreement_archived(sha_a));
    REQUIRE(append_sync(*s, make_entry(0)).ok);
    REQUIRE(append_sync(*s, archive(sha_a, "schema: dsa/v1\nid: asb-sharing\n")).ok);
    // Known as soon as it is committed.
    CHECK(s->agreement_archived(sha_a));
    CHECK_FALSE(s->agreement_archived(sha_b));
    // An entry of another kind naming the hash archives nothing.
    entry other = make_entry(1);
    other.agreement_sha256 = sha_b;
    REQUIRE(append_sync(*s, other).ok);
    CHECK_FALSE(s->agreement_archived(sha_b));
    const auto r = append_sync(*s, archive(sha_b, "schema: dsa/v1\nid: asb-sharing # v2\n"));
    REQUIRE(r.ok);
    seq_b = r.seq;
  }
  {
    auto s = take(store::open(opts), error);
    INFO(error);
    REQUIRE(s);
    CHECK(s->agreement_archived(sha_a));
    CHECK(s->agreement_archived(sha_b));
    CHECK_FALSE(s->agreement_archived(std::string(64, 'c')));
  }
  // An archived text edited in the file no longer counts: the gateway would archive it again.
  {
    raw_db raw(opts.db_path);
    raw.drop_triggers();
    REQUIRE(raw.exec("UPDATE entries SET entry = replace(entry, '# v2', '# v3') WHERE seq = " +
                     std::to_string(seq_b)) == SQLITE_OK);
  }
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  CHECK(s->agreement_archived(sha_a));
  CHECK_FALSE(s->agreement_archived(sha_b));
}
