// What an auditor reads in each entry and how the agreement that decided it is found again
// (docs/auditing.md, "What each entry records" and "Agreement archive"): the real gateway over
// real mTLS writes a real store, which the real `dsa` binary then verifies and reads.
#include <sqlite3.h>

#include <array>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "common/hex.hpp"
#include "tests/common/run_dsa.hpp"
#include "tests/gateway/integration_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using list = std::vector<std::string>;

// The rig's agreement with two allow_fields patterns that match nothing in the sample case.
std::string with_unmatched_patterns() {
  std::string text = test_agreement;
  const std::string from = "allow_fields: [/case_id, /status, /subjects/*/name]";
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(),
               "allow_fields: [/case_id, /nowhere, /status, /subjects/*/name, /subjects/*/alias]");
  return text;
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) {
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return ready();
}

// Rewrites the agreement file and reloads; returns once the reload's agreements_loaded entry is
// committed (the archive entries are written before it).
void reload_with(rig& w, const std::string& text) {
  const std::size_t before = audit_entries(w.gw->audit_db(), "agreements_loaded").size();
  w.dir.write("agreements/test-gw.yaml", text);
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  REQUIRE(wait_until(
      [&] { return audit_entries(w.gw->audit_db(), "agreements_loaded").size() == before + 1; }));
}

// `dsa ARGS` with its standard output alone, byte for byte (stderr discarded).
dsa::test::run_result run_dsa_stdout(const std::string& args) {
  const std::string cmd =
      "timeout 60 " + std::string(DSA_BINARY_DIR) + "/tools/dsa " + args + " 2>/dev/null";
  dsa::test::run_result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

std::vector<dsa::audit::entry> archived(const rig& w) {
  return audit_entries(w.gw->audit_db(), "agreement_text");
}

}  // namespace

TEST_CASE("entries record the client, the lawful basis and legal gateway, and what was released",
          "[gateway][integration][audit]") {
  rig w;
  reload_with(w, with_unmatched_patterns());

  tls_client allowed(w.gw->port(), "northshire-police");
  REQUIRE(allowed.handshake_ok());
  const std::string allowed_from = allowed.local_address();
  REQUIRE(allowed_from.rfind("127.0.0.1:", 0) == 0);
  REQUIRE(allowed.send(get_case()));
  auto ok = allowed.read_response();
  REQUIRE(ok);
  REQUIRE(ok->status == 200);

  tls_client denied(w.gw->port(), "northshire-police");
  REQUIRE(denied.handshake_ok());
  const std::string denied_from = denied.local_address();
  REQUIRE(denied.send(get_case(case_path, "DSA-Agreement: someone-else\r\n")));
  auto no = denied.read_response();
  REQUIRE(no);
  REQUIRE(no->status == 403);

  const auto entries = w.requests();
  REQUIRE(entries.size() == 2);
  const auto& allow = entries[0];
  CHECK(dsa::audit::decision_text(allow) == "allow");
  CHECK(allow.client == allowed_from);
  CHECK(allow.lawful_basis == list{"public-task"});
  CHECK(allow.legal_gateway == list{"cda-s115"});
  // As written in the agreement and in its order; /nowhere and /subjects/*/alias matched nothing.
  CHECK(allow.released_fields == list{"/case_id", "/status", "/subjects/*/name"});

  const auto& deny = entries[1];
  CHECK(dsa::audit::decision_text(deny) == "deny");
  CHECK(deny.client == denied_from);
  CHECK(deny.client != allow.client);
  CHECK(deny.lawful_basis.empty());
  CHECK(deny.legal_gateway.empty());
  CHECK(deny.released_fields.empty());

  // The store with the new members verifies, and query's JSON shows them as hashed.
  REQUIRE(w.gw->stop() == 0);
  const std::string db = w.gw->audit_db().string();
  const auto verified = dsa::test::run_dsa("audit verify --db " + db);
  INFO(verified.output);
  CHECK(verified.status == 0);
  const auto queried = run_dsa_stdout("audit query --db " + db + " --format json");
  CHECK(queried.status == 0);
  CHECK(queried.output.find(R"("client":")" + allowed_from + "\"") != std::string::npos);
  CHECK(queried.output.find(R"("lawful_basis":["public-task"],"legal_gateway":["cda-s115"],)"
                            R"("released_fields":["/case_id","/status","/subjects/*/name"])") !=
        std::string::npos);
}

TEST_CASE(
    "each agreement file is archived once and printed back byte for byte from a verified "
    "store",
    "[gateway][integration][audit]") {
  rig w;
  const std::string first = test_agreement;
  const std::string first_sha = dsa::common::sha256_hex(first);

  // Two restarts: still exactly one archive entry for the unchanged file.
  w.gw->restart();
  w.gw->restart();
  auto texts = archived(w);
  REQUIRE(texts.size() == 1);
  CHECK(texts[0].agreement == "test-gw");
  CHECK(texts[0].agreement_version == "1.0.0");
  CHECK(texts[0].agreement_sha256 == first_sha);
  CHECK(std::string(texts[0].details.at("file").as_string()).ends_with("agreements/test-gw.yaml"));
  // Archived before the agreements_loaded entry that names its SHA-256.
  CHECK(texts[0].seq < audit_entries(w.gw->audit_db(), "agreements_loaded").front().seq);
  CHECK(audit_entries(w.gw->audit_db(), "agreements_loaded").size() == 3);

  // A changed file, reloaded: a second entry for the new SHA-256 only; a restart adds nothing.
  const std::string second = with_unmatched_patterns() + "# reviewed 2026-12-01 — ✓\n";
  const std::string second_sha = dsa::common::sha256_hex(second);
  reload_with(w, second);
  texts = archived(w);
  REQUIRE(texts.size() == 2);
  CHECK(texts[1].agreement_sha256 == second_sha);
  // Reloading the same bytes again archives nothing.
  reload_with(w, second);
  w.gw->restart();
  CHECK(archived(w).size() == 2);
  REQUIRE(w.gw->stop() == 0);

  const std::string db = w.gw->audit_db().string();
  for (const auto& [sha, text] : {std::pair{first_sha, first}, std::pair{second_sha, second}}) {
    const auto printed = run_dsa_stdout("audit agreement --db " + db + " --sha256 " + sha);
    CHECK(printed.status == 0);
    CHECK(printed.output == text);
  }
  const auto listed = dsa::test::run_dsa("audit agreement --db " + db + " --list");
  INFO(listed.output);
  CHECK(listed.status == 0);
  CHECK(listed.output.find(first_sha) != std::string::npos);
  CHECK(listed.output.find(second_sha) != std::string::npos);
  CHECK(listed.output.find("test-gw") != std::string::npos);
  const auto absent =
      dsa::test::run_dsa("audit agreement --db " + db + " --sha256 " + std::string(64, 'a'));
  CHECK(absent.status == 1);
  CHECK(absent.output.find("archives no agreement file with SHA-256") != std::string::npos);
  CHECK(dsa::test::run_dsa("audit agreement --db " + db + " --sha256 xyz").status == 2);
  CHECK(dsa::test::run_dsa("audit agreement --db " + db).status == 2);
  CHECK(dsa::test::run_dsa("audit agreement --db " + db + " --list --sha256 " + first_sha).status ==
        2);

  // Tampering with the archived text (triggers dropped, as anyone who can write the file can):
  // verification fails and the text is not printed.
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    const std::string sql =
        "DROP TRIGGER entries_no_update; UPDATE entries SET entry = replace(entry, "
        "'lawful_bases: [{id: public-task', 'lawful_bases: [{id: consent') WHERE seq = " +
        std::to_string(texts[0].seq) + ";";
    char* err = nullptr;
    const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
    INFO((err != nullptr ? err : ""));
    sqlite3_free(err);
    sqlite3_close(h);
    REQUIRE(rc == SQLITE_OK);
  }
  const auto verify = dsa::test::run_dsa("audit verify --db " + db);
  CHECK(verify.status == 1);
  const auto refused = dsa::test::run_dsa("audit agreement --db " + db + " --sha256 " + first_sha);
  INFO(refused.output);
  CHECK(refused.status == 1);
  CHECK(refused.output.find("first bad seq " + std::to_string(texts[0].seq)) != std::string::npos);
  CHECK(refused.output.find("entry changed") != std::string::npos);
  CHECK(refused.output.find("lawful_bases: [{id: consent") == std::string::npos);
}
