#include "audit/verify.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "audit/checkpoint.hpp"
#include "audit/proof.hpp"
#include "audit/reader.hpp"
#include "common/hex.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

std::string blob_literal(const hash& h) { return "x'" + dsa::common::to_hex(h) + "'"; }

}  // namespace

TEST_CASE("an untouched store verifies", "[verify]") {
  temp_dir dir;
  auto opts = make_store(dir);
  std::vector<problem> reported;
  verify_options vo;
  vo.reporter = [&](const problem& p) { reported.push_back(p); };
  auto v = verify_store(opts.db_path, vo);
  CHECK(v->intact());
  CHECK(v->entries == 50);
  CHECK(v->checkpoints == 5);
  CHECK(v->covered == 50);
  CHECK(v->key_from_store);
  CHECK(reported.empty());
}

TEST_CASE("tampering is caught at the right seq and kind", "[verify]") {
  temp_dir dir;
  auto opts = make_store(dir);
  raw_db db(opts.db_path);
  db.drop_triggers();

  SECTION("edit an entry's text") {
    REQUIRE(db.exec("UPDATE entries SET entry = replace(entry, '\"GET\"', '\"PUT\"') "
                    "WHERE seq = 17") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::entry_changed);
    CHECK(p.seq == std::optional<std::uint64_t>(17));
  }
  SECTION("edit an entry and its leaf hash together") {
    auto text = take(reader::open(opts.db_path), db.last_error)->entry_text(17).value();
    text.replace(text.find("\"GET\""), 5, "\"PUT\"");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db.get(), "UPDATE entries SET entry = ?1, leaf_hash = ?2 WHERE seq = 17", -1,
                       &st, nullptr);
    const hash leaf = leaf_hash(text);
    sqlite3_bind_text(st, 1, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, leaf.data(), 32, SQLITE_STATIC);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    // Only the signature can tell: the first checkpoint that no longer matches covers 10..19.
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::root_mismatch);
    CHECK(p.seq == std::optional<std::uint64_t>(10));
    CHECK(p.checkpoint == std::optional<std::uint64_t>(2));
  }
  SECTION("delete an entry") {
    REQUIRE(db.exec("DELETE FROM entries WHERE seq = 23") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::entry_missing);
    CHECK(p.seq == std::optional<std::uint64_t>(23));
  }
  SECTION("delete an entry and renumber the rest") {
    REQUIRE(db.exec("DELETE FROM entries WHERE seq = 23") == SQLITE_OK);
    for (int s = 24; s < 50; ++s) {
      REQUIRE(db.exec("UPDATE entries SET seq = " + std::to_string(s - 1) +
                      " WHERE seq = " + std::to_string(s)) == SQLITE_OK);
    }
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::entry_missing);
    CHECK(p.seq == std::optional<std::uint64_t>(23));
  }
  SECTION("insert an entry") {
    for (int s = 49; s >= 30; --s) {
      REQUIRE(db.exec("UPDATE entries SET seq = " + std::to_string(s + 1) +
                      " WHERE seq = " + std::to_string(s)) == SQLITE_OK);
    }
    auto forged = make_entry(999);
    forged.seq = 30;
    const std::string text = to_json(forged);
    REQUIRE(db.exec("INSERT INTO entries(seq, time_us, kind, counted, entry, leaf_hash) VALUES "
                    "(30, 1, 'request', 0, '" +
                    text + "', " + blob_literal(leaf_hash(text)) + ")") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::entry_inserted);
    CHECK(p.seq == std::optional<std::uint64_t>(30));
  }
  SECTION("swap two entries") {
    REQUIRE(db.exec("UPDATE entries SET seq = -1 WHERE seq = 12") == SQLITE_OK);
    REQUIRE(db.exec("UPDATE entries SET seq = 12 WHERE seq = 34") == SQLITE_OK);
    REQUIRE(db.exec("UPDATE entries SET seq = 34 WHERE seq = -1") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::entries_reordered);
    CHECK(p.seq == std::optional<std::uint64_t>(12));
  }
  SECTION("truncate the log") {
    REQUIRE(db.exec("DELETE FROM entries WHERE seq >= 45") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::log_truncated);
    CHECK(p.seq == std::optional<std::uint64_t>(45));
  }
  SECTION("alter a checkpoint's root column") {
    REQUIRE(db.exec("UPDATE checkpoints SET root = zeroblob(32) WHERE id = 3") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::checkpoint_altered);
    CHECK(p.checkpoint == std::optional<std::uint64_t>(3));
  }
  SECTION("alter a checkpoint's note") {
    REQUIRE(db.exec("UPDATE checkpoints SET note = replace(note, char(10) || '30' || char(10), "
                    "char(10) || '31' || char(10)) WHERE id = 3") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::bad_signature);
    CHECK(p.checkpoint == std::optional<std::uint64_t>(3));
  }
  SECTION("alter a signature") {
    REQUIRE(db.exec("UPDATE checkpoints SET signature = zeroblob(64) WHERE id = 4") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::bad_signature);
    CHECK(p.checkpoint == std::optional<std::uint64_t>(4));
  }
  SECTION("remove a checkpoint") {
    REQUIRE(db.exec("DELETE FROM checkpoints WHERE id = 2") == SQLITE_OK);
    const auto p = first_problem(verify_store(opts.db_path));
    CHECK(p.kind == problem_kind::checkpoint_altered);
  }
}

TEST_CASE("verification uses the auditor's key", "[verify]") {
  temp_dir dir;
  auto opts = make_store(dir);
  temp_dir other;
  std::string error;
  auto other_key = take(signing_key::load_or_create(other / "k.pem"), error);
  REQUIRE(other_key);
  verify_options vo;
  vo.public_key_pem = other_key->public_key_pem();
  auto v = verify_store(opts.db_path, vo);
  REQUIRE(v.has_value());
  CHECK_FALSE(v->intact());
  bool key_mismatch = false;
  std::size_t bad = 0;
  for (const auto& p : v->problems) {
    key_mismatch = key_mismatch || p.kind == problem_kind::key_mismatch;
    bad += p.kind == problem_kind::bad_signature ? 1 : 0;
  }
  CHECK(key_mismatch);
  CHECK(bad == 5);
  // The right key passes.
  vo.public_key_pem = take(reader::open(opts.db_path), error)->meta("public_key").value();
  CHECK(verify_store(opts.db_path, vo)->intact());
}

TEST_CASE("verify never creates a file", "[verify]") {
  temp_dir dir;
  auto v = verify_store(dir / "typo.db");
  CHECK_FALSE(v.has_value());
  CHECK(v.error().find("no such audit store") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "typo.db"));
}

TEST_CASE("inclusion proofs round-trip and any changed byte fails", "[verify][proof]") {
  temp_dir dir;
  auto opts = make_store(dir);
  std::string error;
  auto key = take(
      public_key::from_pem(take(reader::open(opts.db_path), error)->meta("public_key").value()),
      error);
  REQUIRE(key);
  for (std::uint64_t seq : {0, 1, 17, 31, 48, 49}) {
    INFO("seq " << seq);
    auto p = take(prove(opts.db_path, seq), error);
    REQUIRE(p);
    CHECK(p->size == 50);
    const std::string json = proof_to_json(*p);
    auto parsed = take(proof_from_json(json), error);
    REQUIRE(parsed);
    CHECK(verify_proof(*parsed, *key).has_value());
    if (seq != 17) {
      continue;
    }
    for (std::size_t i = 0; i < json.size(); ++i) {
      if (std::isspace(static_cast<unsigned char>(json[i]))) {
        continue;  // whitespace between tokens carries no meaning
      }
      std::string bad = json;
      bad[i] = static_cast<char>(bad[i] ^ 0x01);
      auto q = take(proof_from_json(bad), error);
      INFO("byte " << i << ": " << json.substr(i, 20));
      CHECK((!q || !verify_proof(*q, *key).has_value()));
    }
  }
  CHECK_FALSE(take(prove(opts.db_path, 50), error));
  CHECK(error.find("not covered") != std::string::npos);
}
