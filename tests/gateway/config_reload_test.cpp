// SIGHUP re-reads gateway.yaml (docs/operations.md, section 6): upstreams, limits, trust anchors
// and CRLs, log settings change all-or-nothing with the agreements; a file that does not load
// changes nothing and is counted as a rejected reload; keys only a restart can change (listen
// addresses, threads, the audit store) are reported, not silently ignored.
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

std::string metrics_of(const rig& w) {
  auto [status, body] = admin_get(w.gw->admin_port(), "/metrics");
  REQUIRE(status == 200);
  return body;
}

// Rewrites gateway.yaml (renamed into place) with `from` replaced by `to`, and reloads; returns
// when the reload has been counted.
void edit_and_reload(const rig& w, const std::string& from, const std::string& to) {
  std::string text = read_file(w.config_file());
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  const fs::path tmp = w.dir.write("gateway.yaml.new", text);
  fs::rename(tmp, w.config_file());
  const std::string m = metrics_of(w);
  const double before = sample(m, R"(dsa_reloads_total{result="accepted"})").value_or(0) +
                        sample(m, R"(dsa_reloads_total{result="rejected"})").value_or(0);
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  REQUIRE(rig::wait_for([&] {
    const std::string now = metrics_of(w);
    return sample(now, R"(dsa_reloads_total{result="accepted"})").value_or(0) +
               sample(now, R"(dsa_reloads_total{result="rejected"})").value_or(0) >
           before;
  }));
}

int get_status(const rig& w, const std::string& extra_headers = "") {
  tls_client c(w.gw->port(), "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(c.send("GET " + case_path +
                 " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: asb-case-management\r\n" +
                 extra_headers + "\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  return r->status;
}

}  // namespace

TEST_CASE(
    "SIGHUP re-reads gateway.yaml: a new upstream url and limits take effect, a bad file "
    "changes nothing, a listen change is reported as needing a restart",
    "[gateway][integration][reload]") {
  rig w;
  CHECK(get_status(w) == 200);
  const std::size_t first_upstream_requests = w.up->received().size();
  CHECK(first_upstream_requests == 1);

  // A second upstream process; the config is pointed at it.
  upstream second(w.dir, "second", routes, fixtures,
                  {"--tls-cert", (pki() / "upstream.pem").string(), "--tls-key",
                   (pki() / "upstream.key").string()});
  edit_and_reload(w, "https://127.0.0.1:" + std::to_string(w.up->port()),
                  "https://127.0.0.1:" + std::to_string(second.port()));
  CHECK(sample(metrics_of(w), R"(dsa_reloads_total{result="accepted"})") == 1);
  CHECK(get_status(w) == 200);
  CHECK(second.received().size() == 1);
  CHECK(w.up->received().size() == first_upstream_requests);

  // A lower header limit applies to the next request.
  edit_and_reload(w, "limits: {drain_timeout_ms: 5000}",
                  "limits: {drain_timeout_ms: 5000, max_header_bytes: 512}");
  CHECK(get_status(w, "X-Padding: " + std::string(600, 'a') + "\r\n") == 431);
  CHECK(get_status(w) == 200);

  // A file that does not load: rejected, counted, logged with where; the old config stays.
  edit_and_reload(w, "limits: {", "limits: {bogus_key: 1, ");
  std::string m = metrics_of(w);
  CHECK(sample(m, R"(dsa_reloads_total{result="rejected"})") == 1);
  CHECK(rig::wait_for([&] {
    return w.stderr_log().find("unknown key 'bogus_key' in limits") != std::string::npos;
  }));
  CHECK(get_status(w, "X-Padding: " + std::string(600, 'a') + "\r\n") == 431);
  CHECK(second.received().size() == 2);
  const auto rejected = audit_entries(w.gw->audit_db(), "agreements_rejected");
  REQUIRE(rejected.size() == 1);

  // Back to a good file, with a listen address the running process cannot take up: the rest
  // applies, and the restart is reported in the log and in metrics.
  edit_and_reload(w, "limits: {bogus_key: 1, ", "limits: {");
  edit_and_reload(w, "listen: 127.0.0.1:0", "listen: 127.0.0.1:1");
  m = metrics_of(w);
  CHECK(sample(m, R"(dsa_reloads_total{result="accepted"})") == 4);
  CHECK(sample(m, "dsa_config_restart_required") == 1);
  CHECK(rig::wait_for([&] {
    return w.stderr_log().find(R"("event":"reload_restart_required","keys":["listen"])") !=
           std::string::npos;
  }));
  CHECK(get_status(w) == 200);  // still served on the port it was started with
}

TEST_CASE("SIGHUP applies log.level from gateway.yaml", "[gateway][integration][reload]") {
  rig w;
  edit_and_reload(w, "limits: {", "log: {level: error}\nlimits: {");
  const std::size_t before = w.stderr_log().size();
  CHECK(get_status(w, "DSA-Purpose: x\r\n") == 400);  // repeated DSA-Purpose: refused, info line
  // A second reload with the file unchanged: its reload_requested and reload lines are info,
  // so none may appear; waiting on the reload counter, not on a clock.
  edit_and_reload(w, "log: {level: error}", "log: {level: error}");
  CHECK(w.stderr_log().substr(before).find(R"("level":"info")") == std::string::npos);
}
