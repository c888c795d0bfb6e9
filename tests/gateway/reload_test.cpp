// Reload under load (docs/design.md §7 and §9 "reload under load with zero failed
// requests"): the real dsa-bench drives keep-alive mTLS traffic through the real gateway while
// the agreement file is swapped between two versions and SIGHUP is sent again and again, with
// one bad set in the middle that must be refused as a whole.
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

}  // namespace

TEST_CASE("SIGHUP under load: no failed request, decisions follow the reloaded agreements",
          "[gateway][integration][reload]") {
  rig w;
  REQUIRE(w.version_served() == "1.0.0");
  const std::string p = pki().string();
  // Fixed concurrency, closed loop, a bounded run; --json for a summary the test can check.
  process bench(
      {std::string(DSA_BINARY_DIR) + "/tools/dsa-bench", "http", "--json", "--url",
       "https://127.0.0.1:" + std::to_string(w.gw->port()) + case_path, "--cert",
       p + "/northshire-police.pem", "--key", p + "/northshire-police.key", "--ca", p + "/ca.pem",
       "--header", "DSA-Purpose: asb-case-management", "--connections", "4", "--duration", "5"},
      w.dir.path() / "bench-stderr.log");
  // The connections are up and busy: requests are being answered and audited.
  const long long at_start = audit_count(w.gw->audit_db());
  REQUIRE(rig::wait_for([&] { return audit_count(w.gw->audit_db()) >= at_start + 20; }, 10s));

  const std::vector<std::string> versions{"1.1.0", "1.0.0"};
  int reloads = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string v = versions[static_cast<std::size_t>(i % 2)];
    INFO("reload " << i << " to " << v);
    w.put_agreement("test-gw.yaml", agreement(v));
    REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
    ++reloads;
    CHECK(rig::wait_for([&] { return w.version_served() == v; }));
    if (i == 4) {
      // A bad file anywhere in the directory: the whole set is refused and 1.0.0 stays.
      w.put_agreement("broken.yaml", "schema: dsa/v2\nid: broken\n");
      REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
      CHECK(rig::wait_for(
          [&] { return audit_entries(w.gw->audit_db(), "agreements_rejected").size() == 1; }));
      CHECK(w.version_served() == v);
      std::filesystem::remove(w.dir.path() / "agreements/broken.yaml");
    }
    // Traffic under the new set before the next swap.
    const long long now_served = audit_count(w.gw->audit_db());
    CHECK(rig::wait_for([&] { return audit_count(w.gw->audit_db()) >= now_served + 20; }, 10s));
  }
  // The last reload installed 1.0.0 (i = 9).
  const auto line = bench.read_line(30s);
  REQUIRE(line);
  INFO("dsa-bench: " << *line);
  CHECK(bench.stop(0, 10s) == 0);  // signal 0: only wait for it to exit
  const auto report = json::parse(*line).as_object();
  CHECK(report.at("errors").as_object().empty());
  const auto& statuses = report.at("statuses").as_object();
  REQUIRE(statuses.size() == 1);
  CHECK(statuses.contains("200"));
  const auto answered = report.at("requests").to_number<std::int64_t>();
  CHECK(answered > 100);

  // Every answered request has its audit entry, each allowed under the version in force when
  // it was decided: both versions, in runs that change at the reloads.
  const auto entries = audit_entries(w.gw->audit_db(), "request");
  CHECK(static_cast<std::int64_t>(entries.size()) == answered);
  std::map<std::string, int> by_version;
  int switches = 0;
  std::size_t not_allowed = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    not_allowed += dsa::audit::decision_text(entries[i]) == "allow" ? 0 : 1;
    ++by_version[entries[i].agreement_version];
    if (i > 0 && entries[i].agreement_version != entries[i - 1].agreement_version) {
      ++switches;
    }
  }
  CHECK(not_allowed == 0);
  CHECK(by_version["1.0.0"] > 0);
  CHECK(by_version["1.1.0"] > 0);
  CHECK(by_version.size() == 2);
  CHECK(switches >= 5);  // ten swaps; a swap with no request between two reloads merges runs
  CHECK(entries.back().agreement_version == "1.0.0");

  // The lifecycle record: the start-up set, every accepted reload, the one refusal.
  CHECK(audit_entries(w.gw->audit_db(), "agreements_loaded").size() ==
        static_cast<std::size_t>(1 + reloads));
  CHECK(audit_entries(w.gw->audit_db(), "agreements_rejected").size() == 1);
  CHECK(w.stderr_log().find("\"event\":\"agreements_rejected\"") != std::string::npos);

  // One more reload: the next request is decided by 1.1.0 and its response says so.
  w.put_agreement("test-gw.yaml", agreement("1.1.0"));
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  REQUIRE(rig::wait_for([&] { return w.version_served() == "1.1.0"; }));
  tls_client c(w.gw->port(), "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(c.send(request()));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("DSA-Agreement") == "test-gw@1.1.0");
}
