// RFC 9162 §2.1.4 consistency proofs: the algorithm against an independent transcription of the
// RFC's definitions for many (m, n), and the store-level check an auditor runs with a saved
// checkpoint against truncation, rewriting and normal growth.
#include "audit/consistency.hpp"

#include <catch2/catch.hpp>

#include "audit/checkpoint.hpp"
#include "audit/merkle.hpp"
#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

std::vector<hash> leaves_of(std::uint64_t n) {
  std::vector<hash> out;
  for (std::uint64_t i = 0; i < n; ++i) {
    out.push_back(leaf_hash("leaf " + std::to_string(i)));
  }
  return out;
}

// MTH straight from RFC 9162 §2.1.1, recursively, independent of merkle_frontier.
hash mth(std::span<const hash> d) {
  if (d.empty()) {
    return empty_root();
  }
  if (d.size() == 1) {
    return d[0];
  }
  std::size_t k = 1;
  while (k * 2 < d.size()) {
    k *= 2;
  }
  return node_hash(mth(d.subspan(0, k)), mth(d.subspan(k)));
}

// SUBPROOF from RFC 9162 §2.1.4.1, transcribed literally.
std::vector<hash> reference_subproof(std::size_t m, std::span<const hash> d, bool b) {
  const std::size_t n = d.size();
  if (m == n) {
    return b ? std::vector<hash>{} : std::vector<hash>{mth(d)};
  }
  std::size_t k = 1;
  while (k * 2 < n) {
    k *= 2;
  }
  std::vector<hash> out;
  if (m <= k) {
    out = reference_subproof(m, d.subspan(0, k), b);
    out.push_back(mth(d.subspan(k)));
  } else {
    out = reference_subproof(m - k, d.subspan(k), false);
    out.push_back(mth(d.subspan(0, k)));
  }
  return out;
}

hash flipped(hash h) {
  h[7] ^= 0x40;
  return h;
}

// 200 entries in five sessions of 40: checkpoints at 40, 80, …, 200.
store_options store_of(const temp_dir& dir, std::uint64_t sessions = 5) {
  return make_store(dir, sessions, 40);
}

signed_checkpoint latest(const store_options& opts) {
  std::string error;
  auto r = take(reader::open(opts.db_path), error);
  REQUIRE(r);
  auto key = take(public_key::from_pem(r->meta("public_key").value()), error);
  REQUIRE(key);
  auto c = latest_valid_checkpoint(*r, *key);
  INFO(c.error());
  REQUIRE(c);
  REQUIRE(*c);
  return **c;
}

std::string public_pem(const store_options& opts) {
  std::string error;
  return take(reader::open(opts.db_path), error)->meta("public_key").value();
}

void append_more(const store_options& opts, std::uint64_t from, std::uint64_t count) {
  std::string error;
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  for (std::uint64_t i = from; i < from + count; ++i) {
    REQUIRE(append_sync(*s, make_entry(i)).ok);
  }
}

}  // namespace

TEST_CASE("consistency proofs match RFC 9162 and verify for every (m, n) up to 70",
          "[consistency]") {
  const auto leaves = leaves_of(70);
  auto leaf_at = [&](std::uint64_t i) { return leaves[i]; };
  for (std::uint64_t n = 1; n <= leaves.size(); ++n) {
    const std::span<const hash> dn(leaves.data(), n);
    const hash new_root = mth(dn);
    REQUIRE(merkle_root(dn) == new_root);
    for (std::uint64_t m = 0; m <= n; ++m) {
      INFO("m " << m << " n " << n);
      const hash old_root = mth(std::span<const hash>(leaves.data(), m));
      auto proof = consistency_path(m, n, leaf_at);
      REQUIRE(proof);
      const std::vector<hash> expected =
          m == 0 || m == n ? std::vector<hash>{} : reference_subproof(m, dn, true);
      CHECK(*proof == expected);
      CHECK(verify_consistency(m, n, old_root, new_root, *proof));
      if (m == 0) {
        continue;
      }
      // Any other root, any changed, missing or extra hash fails.
      CHECK_FALSE(verify_consistency(m, n, flipped(old_root), new_root, *proof));
      CHECK_FALSE(verify_consistency(m, n, old_root, flipped(new_root), *proof));
      for (std::size_t i = 0; i < proof->size(); ++i) {
        auto bad = *proof;
        bad[i] = flipped(bad[i]);
        CHECK_FALSE(verify_consistency(m, n, old_root, new_root, bad));
      }
      if (!proof->empty()) {
        auto shorter = *proof;
        shorter.pop_back();
        CHECK_FALSE(verify_consistency(m, n, old_root, new_root, shorter));
      }
      auto longer = *proof;
      longer.push_back(old_root);
      CHECK_FALSE(verify_consistency(m, n, old_root, new_root, longer));
      // The proof is for exactly (m, n).
      if (m + 1 < n) {
        CHECK_FALSE(verify_consistency(m + 1, n, old_root, new_root, *proof));
      }
    }
  }
  CHECK_FALSE(consistency_path(5, 4, leaf_at));
  CHECK_FALSE(verify_consistency(5, 4, empty_root(), empty_root(), {}));
}

TEST_CASE("an exported checkpoint round-trips and any changed byte fails", "[consistency]") {
  temp_dir dir;
  auto opts = store_of(dir, 1);
  const auto cp = latest(opts);
  REQUIRE(cp.c.time_us);
  std::string error;
  auto key = take(public_key::from_pem(public_pem(opts)), error);
  REQUIRE(key);
  const std::string json = signed_checkpoint_to_json(cp);
  auto parsed = take(signed_checkpoint_from_json(json), error);
  INFO(error);
  REQUIRE(parsed);
  CHECK(verify_signed_checkpoint(*parsed, *key));
  CHECK(json.find("\"time\": \"" + format_utc(*cp.c.time_us) + "\"") != std::string::npos);
  for (std::size_t i = 0; i < json.size(); ++i) {
    if (std::isspace(static_cast<unsigned char>(json[i]))) {
      continue;
    }
    std::string bad = json;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto q = take(signed_checkpoint_from_json(bad), error);
    INFO("byte " << i << ": " << json.substr(i, 20));
    CHECK((!q || !verify_signed_checkpoint(*q, *key)));
  }
}

TEST_CASE("a saved checkpoint proves growth and exposes truncation and rewriting",
          "[consistency]") {
  temp_dir dir;
  auto opts = store_of(dir);
  const signed_checkpoint saved = latest(opts);
  REQUIRE(saved.c.size == 200);
  const std::string pem = public_pem(opts);

  SECTION("normal growth") {
    append_more(opts, 200, 50);
    auto res = check_consistency(opts.db_path, saved, pem);
    INFO(res.error() << (res ? res->detail : std::string()));
    REQUIRE(res->consistent());
    CHECK(res->newest.c.size == 250);
    CHECK(res->detail.find("size 200") != std::string::npos);
    CHECK(res->detail.find("size 250") != std::string::npos);
    std::string error;
    auto key = take(public_key::from_pem(pem), error);
    consistency_proof p{saved.c.origin, 200, 250, saved.c.root, res->newest.c.root, res->proof};
    auto parsed = take(consistency_proof_from_json(consistency_proof_to_json(p)), error);
    REQUIRE(parsed);
    CHECK(verify_consistency_offline(saved, res->newest, *parsed, *key).has_value());
    // Swapped, or against a checkpoint of another size, it fails.
    CHECK_FALSE(verify_consistency_offline(res->newest, saved, *parsed, *key).has_value());
    auto other = saved;
    other.c.size = 199;
    CHECK_FALSE(verify_consistency_offline(other, res->newest, *parsed, *key).has_value());
  }
  SECTION("unchanged") {
    auto res = check_consistency(opts.db_path, saved, pem);
    CHECK(res->consistent());
    CHECK(res->proof.empty());
  }
  SECTION("the tail deleted with the checkpoints that covered it") {
    {
      raw_db db(opts.db_path);
      db.drop_triggers();
      REQUIRE(db.exec("DELETE FROM entries WHERE seq >= 120") == SQLITE_OK);
      REQUIRE(db.exec("DELETE FROM checkpoints WHERE size > 120") == SQLITE_OK);
    }
    // The store alone looks intact: only the saved checkpoint can tell.
    CHECK(verify_store(opts.db_path)->intact());
    auto res = check_consistency(opts.db_path, saved, pem);
    REQUIRE(res.has_value());
    CHECK(res->finding == consistency_finding::truncated);
    CHECK(res->detail.find("log has 120 entries, saved checkpoint covers 200") !=
          std::string::npos);
    CHECK(res->detail.find("truncated") != std::string::npos);
  }
  SECTION("the tail deleted and the log grown again past it") {
    {
      raw_db db(opts.db_path);
      db.drop_triggers();
      REQUIRE(db.exec("DELETE FROM entries WHERE seq >= 120") == SQLITE_OK);
      REQUIRE(db.exec("DELETE FROM checkpoints WHERE size > 120") == SQLITE_OK);
    }
    append_more(opts, 1000, 100);
    CHECK(verify_store(opts.db_path)->intact());
    auto res = check_consistency(opts.db_path, saved, pem);
    REQUIRE(res.has_value());
    CHECK(res->finding == consistency_finding::rewritten);
    CHECK(res->detail.find("root at size 200 differs") != std::string::npos);
    CHECK(res->detail.find("history rewritten") != std::string::npos);
  }
  SECTION("the checkpoints removed but the entries kept") {
    {
      raw_db db(opts.db_path);
      db.drop_triggers();
      REQUIRE(db.exec("DELETE FROM checkpoints WHERE size > 120") == SQLITE_OK);
    }
    auto res = check_consistency(opts.db_path, saved, pem);
    CHECK(res->finding == consistency_finding::checkpoints_removed);
  }
  SECTION("an entry's text edited") {
    {
      raw_db db(opts.db_path);
      db.drop_triggers();
      REQUIRE(db.exec("UPDATE entries SET entry = replace(entry, '\"GET\"', '\"PUT\"') "
                      "WHERE seq = 70") == SQLITE_OK);
    }
    auto res = check_consistency(opts.db_path, saved, pem);
    CHECK(res->finding == consistency_finding::entry_altered);
    CHECK(res->detail.find("entry 70") != std::string::npos);
  }
  SECTION("a checkpoint signed by another key") {
    temp_dir other;
    std::string error;
    auto other_key = take(signing_key::load_or_create(other / "k.pem"), error);
    REQUIRE(other_key);
    auto res = check_consistency(opts.db_path, saved, other_key->public_key_pem());
    CHECK(res->finding == consistency_finding::bad_signature);
  }
}
