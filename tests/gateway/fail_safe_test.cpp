// Fail safe on misconfiguration (docs/operations.md, sections 3, 7 and 8): a config that serves
// nothing fails `--check` and /readyz, an upstream no endpoint uses is a warning with the name
// it was probably meant to be, a request for an endpoint another gateway serves says so, upstream
// failures are logged at warn and a rejected reload is counted.
#include <regex>

#include "gateway/readiness.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

std::string dsa_gateway_binary() { return std::string(DSA_BINARY_DIR) + "/gateway/dsa-gateway"; }

// `dsa-gateway --check` on the rig's config: exit status and output.
std::pair<int, std::string> check(const rig& w) {
  std::string out;
  const int status = run_command(
      "'" + dsa_gateway_binary() + "' --check --config '" + w.config_file().string() + "'", &out);
  return {status, out};
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') {
    t.pop_back();
  }
  return t.substr(t.rfind('\n') + 1);
}

std::string metrics_of(const rig& w) {
  auto [status, body] = admin_get(w.gw->admin_port(), "/metrics");
  REQUIRE(status == 200);
  return body;
}

}  // namespace

TEST_CASE("closest_name suggests a near upstream name and nothing for a far one",
          "[gateway][fail-safe]") {
  const std::set<std::string> names{"council-asb", "police-intel"};
  CHECK(dsa::gateway::closest_name("council-asbb", names) == "council-asb");
  CHECK(dsa::gateway::closest_name("counci-asb", names) == "council-asb");
  CHECK(dsa::gateway::closest_name("police-intell", names) == "police-intel");
  CHECK(dsa::gateway::closest_name("health-records", names).empty());
  CHECK(dsa::gateway::closest_name("x", {}).empty());
}

TEST_CASE(
    "a typo'd upstream name: --check warns with a did-you-mean and fails, /readyz is 503, and "
    "a request for the endpoint says it is served at another gateway",
    "[gateway][integration][fail-safe]") {
  rig w(rig_options{.upstream_name = "council-asbb"});
  auto [status, out] = check(w);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find(": warning: upstream 'council-asbb' is used by no endpoint of any agreement; "
                 "did you mean 'council-asb'? [unused-upstream]") != std::string::npos);
  CHECK(out.find(": error: no endpoint served here") != std::string::npos);
  CHECK(last_line(out) == w.config_file().string() + ": invalid (1 error)");

  auto [rs, body] = admin_get(w.gw->admin_port(), "/readyz");
  CHECK(rs == 503);
  CHECK(body.find(R"("ready":false)") != std::string::npos);
  CHECK(body.find("no endpoint served here") != std::string::npos);

  tls_client c(w.gw->port(), "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(c.send(request()));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 403);
  INFO(r->body);
  CHECK(r->body.find(R"("reason":"no_agreement")") != std::string::npos);
  CHECK(r->body.find("endpoint asb-case of agreement test-gw is served at the gateway of its "
                     "provider (council), not here") != std::string::npos);
}

TEST_CASE("an empty agreements directory fails --check and /readyz",
          "[gateway][integration][fail-safe]") {
  rig w(rig_options{.with_agreement = false});
  auto [status, out] = check(w);
  INFO(out);
  CHECK(status == 1);
  CHECK(out.find(": error: no agreement loaded [nothing-served]") != std::string::npos);
  // Every configured upstream is then unused; no agreement asks for another name.
  CHECK(out.find("warning: upstream 'council-asb' is used by no endpoint of any agreement "
                 "[unused-upstream]") != std::string::npos);
  CHECK(last_line(out) == w.config_file().string() + ": invalid (1 error)");
  auto [rs, body] = admin_get(w.gw->admin_port(), "/readyz");
  CHECK(rs == 503);
  CHECK(body.find("no agreement loaded") != std::string::npos);
}

TEST_CASE("a config that serves its endpoints passes --check with the last line the docs show",
          "[gateway][integration][fail-safe]") {
  rig w;
  auto [status, out] = check(w);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("unused-upstream") == std::string::npos);
  CHECK(last_line(out) == w.config_file().string() + ": ok (0 errors)");
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
  // docs/operations.md shows these lines for /etc/dsa-gateway/gateway.yaml.
  const std::string docs = read_file(fs::path(DSA_SOURCE_DIR) / "docs" / "operations.md");
  CHECK(docs.find("/etc/dsa-gateway/gateway.yaml: ok (0 errors)") != std::string::npos);
  CHECK(docs.find("/etc/dsa-gateway/gateway.yaml: invalid (1 error)") != std::string::npos);
  CHECK(docs.find("is used by no endpoint of any agreement; did you mean") != std::string::npos);
}

TEST_CASE("an upstream failure is logged at warn; a rejected reload is counted",
          "[gateway][integration][fail-safe]") {
  rig w;
  w.up.reset();  // the upstream goes away: the next request cannot be forwarded
  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(request()));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 502);
  }
  CHECK(rig::wait_for([&] {
    return std::regex_search(
        w.stderr_log(),
        std::regex(R"(\{"time":"[^"]+","level":"warn","event":"request_refused",[^\n]*)"
                   R"("reason":"upstream_unavailable")"));
  }));

  std::string m = metrics_of(w);
  CHECK(sample(m, R"(dsa_reloads_total{result="rejected"})") == 0);
  CHECK(sample(m, R"(dsa_reloads_total{result="accepted"})") == 0);
  w.put_agreement("broken.yaml", "schema: dsa/v1\nid: broken\n");
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  CHECK(rig::wait_for(
      [&] { return sample(metrics_of(w), R"(dsa_reloads_total{result="rejected"})") == 1; }));
  m = metrics_of(w);
  CHECK(sample(m, R"(dsa_reloads_total{result="accepted"})") == 0);
  CHECK(sample(m, R"(dsa_last_reload_timestamp_seconds{result="any"})") > 1.7e9);
  CHECK(sample(m, R"(dsa_last_reload_timestamp_seconds{result="accepted"})") == 0);
  fs::remove(w.dir.path() / "agreements" / "broken.yaml");
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  CHECK(rig::wait_for(
      [&] { return sample(metrics_of(w), R"(dsa_reloads_total{result="accepted"})") == 1; }));
  CHECK(sample(metrics_of(w), R"(dsa_last_reload_timestamp_seconds{result="accepted"})") > 1.7e9);
}
