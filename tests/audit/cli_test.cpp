// The auditor's `dsa audit` commands run as real processes on real stores: tampering with the
// indexed columns, a WAL separated from its database, and saved checkpoints against truncation.
#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "audit/reader.hpp"
#include "tests/audit/cli_util.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

TEST_CASE(
    "dsa audit verify names the seq and column of an edited column, and query and stats refuse",
    "[cli]") {
  temp_dir dir;
  auto opts = make_store(dir, 2, 40);
  const std::string db = "--db " + q(opts.db_path);
  auto before = run("query " + db + " --requester northshire-police --format json");
  REQUIRE(before.status == 0);
  {
    raw_db raw(opts.db_path);
    raw.drop_triggers();
    REQUIRE(raw.exec("UPDATE entries SET counted = 0 WHERE seq = 17") == SQLITE_OK);
  }
  auto v = run("verify " + db);
  CHECK(v.status == 1);
  CHECK(v.output.find("TAMPERED") != std::string::npos);
  CHECK(v.output.find("first bad seq 17: column altered") != std::string::npos);
  CHECK(v.output.find("column counted differs from the hashed entry") != std::string::npos);

  auto query = run("query " + db + " --requester northshire-police --format json");
  CHECK(query.status == 1);
  CHECK(query.output.find("refusing to report") != std::string::npos);
  CHECK(query.output.find("first bad seq 17") != std::string::npos);
  CHECK(query.output.find("{\"seq\"") == std::string::npos);
  auto stats = run("stats " + db + " --by requester");
  CHECK(stats.status == 1);
  CHECK(stats.output.find("first bad seq 17") != std::string::npos);
}

TEST_CASE("dsa audit on a database copied without its WAL says which file is missing", "[cli]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::string error;
  auto s = take(store::open(opts), error);
  REQUIRE(s);
  for (std::uint64_t i = 0; i < 5; ++i) {
    REQUIRE(append_sync(*s, make_entry(i)).ok);
  }
  temp_dir copy;
  std::filesystem::copy_file(opts.db_path, copy / "audit.db");
  auto v = run("verify --db " + q(copy / "audit.db"));
  CHECK(v.status == 2);
  CHECK(v.output.find("audit.db-wal") != std::string::npos);
  CHECK(v.output.find("stop the gateway") != std::string::npos);

  // After a clean close the file alone is the whole store.
  s->close();
  std::filesystem::copy_file(opts.db_path, copy / "closed.db");
  auto closed = run("verify --db " + q(copy / "closed.db"));
  CHECK(closed.status == 0);
  CHECK(closed.output.find("entries      5") != std::string::npos);
}

TEST_CASE("dsa audit checkpoint and consistency: growth, truncation, rewriting, offline check",
          "[cli]") {
  temp_dir dir;
  auto opts = make_store(dir, 5, 40);
  const std::string db = "--db " + q(opts.db_path);
  const auto saved = dir / "saved-checkpoint.json";
  const auto key = dir / "gateway-audit.pub";
  REQUIRE(run("export-key " + db + " > " + q(key)).status == 0);  // 2>&1 also lands in the file
  {
    std::string error;
    std::ofstream(key) << take(reader::open(opts.db_path), error)->meta("public_key").value();
  }
  auto exported = run("checkpoint " + db + " --key " + q(key) + " -o " + q(saved));
  INFO(exported.output);
  REQUIRE(exported.status == 0);
  CHECK(exported.output.find("at size 200") != std::string::npos);

  SECTION("normal growth, with a proof checked offline") {
    {
      std::string error;
      auto s = take(store::open(opts), error);
      REQUIRE(s);
      for (std::uint64_t i = 200; i < 260; ++i) {
        REQUIRE(append_sync(*s, make_entry(i)).ok);
      }
    }
    const auto proof = dir / "proof.json";
    const auto now = dir / "now.json";
    auto c = run("consistency " + db + " --from " + q(saved) + " --key " + q(key) +
                 " --proof-out " + q(proof) + " --checkpoint-out " + q(now));
    INFO(c.output);
    CHECK(c.status == 0);
    CHECK(c.output.find("consistent:") != std::string::npos);
    CHECK(c.output.find("size 200") != std::string::npos);
    CHECK(c.output.find("size 260") != std::string::npos);
    auto ok =
        run("verify-consistency --key " + q(key) + " " + q(saved) + " " + q(now) + " " + q(proof));
    INFO(ok.output);
    CHECK(ok.status == 0);
    CHECK(ok.output.find("valid:") != std::string::npos);
    // The checkpoints in the wrong order do not verify.
    auto swapped =
        run("verify-consistency --key " + q(key) + " " + q(now) + " " + q(saved) + " " + q(proof));
    CHECK(swapped.status == 1);
    // A changed proof hash does not verify.
    std::string text;
    {
      std::ifstream in(proof);
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto at = text.find("\"proof\": [\n    \"") + 16;
    text[at] = text[at] == 'A' ? 'B' : 'A';
    std::ofstream(proof) << text;
    auto bad =
        run("verify-consistency --key " + q(key) + " " + q(saved) + " " + q(now) + " " + q(proof));
    CHECK(bad.status == 1);
    CHECK(bad.output.find("INVALID") != std::string::npos);
  }
  SECTION("the tail deleted together with its checkpoints") {
    {
      raw_db raw(opts.db_path);
      raw.drop_triggers();
      REQUIRE(raw.exec("DELETE FROM entries WHERE seq >= 120") == SQLITE_OK);
      REQUIRE(raw.exec("DELETE FROM checkpoints WHERE size > 120") == SQLITE_OK);
    }
    CHECK(run("verify " + db + " --key " + q(key)).status == 0);  // invisible from inside
    auto c = run("consistency " + db + " --from " + q(saved) + " --key " + q(key));
    INFO(c.output);
    CHECK(c.status == 1);
    CHECK(c.output.find("INCONSISTENT") != std::string::npos);
    CHECK(c.output.find("log has 120 entries, saved checkpoint covers 200") != std::string::npos);
    CHECK(c.output.find("truncated") != std::string::npos);
  }
  SECTION("history rewritten past the saved size") {
    {
      raw_db raw(opts.db_path);
      raw.drop_triggers();
      REQUIRE(raw.exec("DELETE FROM entries WHERE seq >= 150") == SQLITE_OK);
      REQUIRE(raw.exec("DELETE FROM checkpoints WHERE size > 150") == SQLITE_OK);
    }
    {
      std::string error;
      auto s = take(store::open(opts), error);
      REQUIRE(s);
      for (std::uint64_t i = 5000; i < 5100; ++i) {
        REQUIRE(append_sync(*s, make_entry(i)).ok);
      }
    }
    CHECK(run("verify " + db + " --key " + q(key)).status == 0);
    auto c = run("consistency " + db + " --from " + q(saved) + " --key " + q(key));
    INFO(c.output);
    CHECK(c.status == 1);
    CHECK(c.output.find("root at size 200 differs") != std::string::npos);
    CHECK(c.output.find("history rewritten") != std::string::npos);
  }
  SECTION("usage and input errors exit 2") {
    CHECK(run("consistency " + db + " --from " + q(dir / "nothing.json")).status == 2);
    std::ofstream(dir / "junk.json") << "{\"type\": \"something else\"}";
    auto junk = run("consistency " + db + " --from " + q(dir / "junk.json"));
    CHECK(junk.status == 2);
    CHECK(junk.output.find("junk.json") != std::string::npos);
    CHECK(run("consistency " + db).status == 2);
    CHECK(run("consistency --db " + q(dir / "missing.db") + " --from " + q(saved)).status == 2);
  }
}
