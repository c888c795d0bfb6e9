// Operations (docs/operations.md): expiry warnings at start and at reload, the metrics an
// operator alerts on (upstream latency, audit batches, seconds until agreements, certificates
// and CRLs fall due), the served certificate's expiry refreshed by SIGHUP and reflected in
// /readyz, and HEAD framing.
#include <ctime>

#include "gateway/config.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

// YYYY-MM-DD of today (UTC) plus `days`.
std::string date_in(int days) {
  const std::time_t t = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

// A server certificate for 127.0.0.1 signed by the dev partner CA, into DIR/NAME.pem/.key;
// `dates` are openssl ca's -days N or -startdate/-enddate.
void issue_server_certificate(const temp_dir& dir, const std::string& name,
                              const std::string& dates) {
  const std::string db = (pki() / "ca-db").string();
  const std::string base = (dir.path() / name).string();
  const std::string cmd =
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '" + base +
      ".key' && openssl req -new -sha256 -key '" + base +
      ".key' -subj '/CN=dsa-gateway.localhost' -out '" + base +
      ".csr' && SAN='DNS:localhost,IP:127.0.0.1' openssl ca -batch -notext -config '" + db +
      "/openssl.cnf' -extfile '" + db + "/extensions.cnf' -extensions server_ext " + dates +
      " -in '" + base + ".csr' -out '" + base + ".pem'";
  std::string out;
  REQUIRE(run_command("sh -c \"" + cmd + "\"", &out) == 0);
}

// Makes NAME.pem/.key in `certs` the served certificate (renamed into place, as operators are
// told to) and reloads; returns when the reload has been audited as accepted.
void serve_certificate(const rig& w, const temp_dir& certs, const std::string& name) {
  const fs::path d = certs.path();
  fs::copy_file(d / (name + ".pem"), d / "next.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(d / (name + ".key"), d / "next.key", fs::copy_options::overwrite_existing);
  fs::rename(d / "next.key", d / "served.key");
  fs::rename(d / "next.pem", d / "served.pem");
  const auto loaded = audit_entries(w.gw->audit_db(), "agreements_loaded").size();
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  REQUIRE(rig::wait_for(
      [&] { return audit_entries(w.gw->audit_db(), "agreements_loaded").size() == loaded + 1; }));
}

std::string metrics_of(const rig& w) {
  auto [status, body] = admin_get(w.gw->admin_port(), "/metrics");
  REQUIRE(status == 200);
  return body;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("warnings.expiry_days defaults to 30 and is range-checked", "[gateway][config]") {
  temp_dir dir;
  const std::string base = R"(listen: 127.0.0.1:0
tls:
  certificate: gateway.pem
  private_key: gateway.key
  trust_anchors: [{name: partner-ca, ca_file: ca.pem}]
agreements_dir: agreements
audit: {path: audit.db, signing_key: key.pem}
)";
  auto r = dsa::gateway::load_config(dir.write("a.yaml", base));
  REQUIRE(r.has_value());
  CHECK(r->warnings.expiry_days == 30);
  r = dsa::gateway::load_config(dir.write("b.yaml", base + "warnings: {expiry_days: 90}\n"));
  REQUIRE(r.has_value());
  CHECK(r->warnings.expiry_days == 90);
  r = dsa::gateway::load_config(dir.write("c.yaml", base + "warnings: {expiry_days: -1}\n"));
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("warnings.expiry_days") != std::string::npos);
  r = dsa::gateway::load_config(dir.write("d.yaml", base + "warnings: {days: 3}\n"));
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("unknown key 'days'") != std::string::npos);
}

TEST_CASE("an agreement due for review within the window is warned about at start and at reload",
          "[gateway][integration][warnings]") {
  const std::string review_warning = R"("subject":"agreement:test-gw","what":"review.due","at":")";
  {
    rig w(rig_options{.review_due = date_in(10), .expiry_days = 30});
    std::string log = w.stderr_log();
    INFO(log);
    CHECK(count_of(log, R"("event":"expiry_warning","check":"start",)" + review_warning) == 1);
    CHECK(log.find(R"("level":"warn")") != std::string::npos);
    auto m = metrics_of(w);
    CHECK(sample(m, R"(dsa_expiry_warnings_total{what="review.due"})") == 1);
    const auto due = sample(m, R"(dsa_agreement_review_due_seconds{agreement="test-gw"})");
    REQUIRE(due);
    CHECK(*due > 8 * 86400);
    CHECK(*due < 11 * 86400);

    REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
    CHECK(rig::wait_for([&] {
      return count_of(w.stderr_log(),
                      R"("event":"expiry_warning","check":"reload",)" + review_warning) == 1;
    }));
    CHECK(rig::wait_for([&] {
      return sample(metrics_of(w), R"(dsa_expiry_warnings_total{what="review.due"})") == 2;
    }));
  }
  {
    // Outside a 5-day window: no warning about the review (the window is honoured).
    rig w(rig_options{.review_due = date_in(10), .expiry_days = 5});
    CHECK(w.stderr_log().find(review_warning) == std::string::npos);
    CHECK_FALSE(sample(metrics_of(w), R"(dsa_expiry_warnings_total{what="review.due"})"));
  }
}

TEST_CASE(
    "metrics: upstream latency, audit batches and expiry gauges move, and SIGHUP refreshes "
    "the served certificate's expiry and /readyz",
    "[gateway][integration][metrics]") {
  temp_dir certs;
  fs::copy_file(pki() / "gateway.pem", certs.path() / "served.pem");
  fs::copy_file(pki() / "gateway.key", certs.path() / "served.key");
  issue_server_certificate(certs, "short", "-days 5");
  issue_server_certificate(certs, "expired", "-startdate 20240101000000Z -enddate 20250101000000Z");
  rig w(rig_options{.certificate = (certs.path() / "served.pem").string(),
                    .private_key = (certs.path() / "served.key").string()});

  std::string m = metrics_of(w);
  INFO(m);
  // Every family is announced with HELP and TYPE.
  for (const std::string family :
       {"dsa_requests_total", "dsa_request_duration_seconds", "dsa_upstream_duration_seconds",
        "dsa_audit_commit_duration_seconds", "dsa_audit_committed_entries_total",
        "dsa_audit_batches_total", "dsa_audit_max_batch_size", "dsa_tls_handshake_failures_total",
        "dsa_open_connections", "dsa_expiry_warnings_total", "dsa_agreement_valid_until_seconds",
        "dsa_agreement_review_due_seconds", "dsa_certificate_expiry_seconds",
        "dsa_crl_next_update_seconds"}) {
    INFO(family);
    CHECK(count_of(m, "# HELP " + family + " ") == 1);
    CHECK(count_of(m, "# TYPE " + family + " ") == 1);
  }
  const std::string upstream_count =
      R"(dsa_upstream_duration_seconds_count{upstream="council-asb"})";
  CHECK(sample(m, upstream_count) == 0);
  const auto entries_before = sample(m, "dsa_audit_committed_entries_total");
  const auto batches_before = sample(m, "dsa_audit_batches_total");
  REQUIRE(entries_before);
  REQUIRE(batches_before);
  // Seconds until: the dev PKI's certificates live for years, its CRL for 30 days, the
  // agreement until 2099.
  const auto server = sample(m, R"(dsa_certificate_expiry_seconds{certificate="server"})");
  REQUIRE(server);
  CHECK(*server > 300 * 86400);
  const auto anchor =
      sample(m, R"(dsa_certificate_expiry_seconds{certificate="trust_anchor:partner-ca"})");
  REQUIRE(anchor);
  CHECK(*anchor > 300 * 86400);
  const auto crl = sample(m, R"(dsa_crl_next_update_seconds{trust_anchor="partner-ca"})");
  REQUIRE(crl);
  CHECK(*crl > 29 * 86400);
  CHECK(*crl <= 30 * 86400);
  const auto until = sample(m, R"(dsa_agreement_valid_until_seconds{agreement="test-gw"})");
  REQUIRE(until);
  CHECK(*until > 70.0 * 365 * 86400);

  // A request moves the upstream histogram and the audit counters.
  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(request()));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  m = metrics_of(w);
  CHECK(sample(m, upstream_count) == 1);
  CHECK(sample(m, R"(dsa_upstream_duration_seconds_bucket{upstream="council-asb",le="+Inf"})") ==
        1);
  CHECK(sample(m, "dsa_audit_committed_entries_total") > *entries_before);
  CHECK(sample(m, "dsa_audit_batches_total") > *batches_before);
  CHECK(sample(m, "dsa_audit_max_batch_size") >= 1);
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);

  // A new certificate that expires in 5 days: SIGHUP makes it served, and the gauge follows.
  serve_certificate(w, certs, "short");
  const auto short_lived =
      sample(metrics_of(w), R"(dsa_certificate_expiry_seconds{certificate="server"})");
  REQUIRE(short_lived);
  CHECK(*short_lived > 4 * 86400);
  CHECK(*short_lived <= 5 * 86400);
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
  CHECK(rig::wait_for([&] {
    return w.stderr_log().find(
               R"("check":"reload","subject":"certificate:server","what":"notAfter")") !=
           std::string::npos;
  }));

  // An expired certificate: the gateway still loads it (the operator asked for it) but is not
  // ready, and says why.
  serve_certificate(w, certs, "expired");
  const auto expired =
      sample(metrics_of(w), R"(dsa_certificate_expiry_seconds{certificate="server"})");
  REQUIRE(expired);
  CHECK(*expired < 0);
  auto [status, body] = admin_get(w.gw->admin_port(), "/readyz");
  CHECK(status == 503);
  CHECK(body.find("gateway certificate expired") != std::string::npos);

  // And back: ready again.
  serve_certificate(w, certs, "short");
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
}

TEST_CASE("HEAD responses carry no body and no Content-Length, and keep-alive framing holds",
          "[gateway][integration][head]") {
  rig w;
  tls_client c(w.gw->port(), "northshire-police");
  REQUIRE(c.handshake_ok());
  // Allowed under the HEAD endpoint; then a GET on the same connection must parse cleanly, which
  // it would not if the HEAD answer had carried a body.
  REQUIRE(c.send(request("HEAD") + request("GET")));
  auto head = c.read_response();
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK_FALSE(head->has_header("Content-Length"));
  CHECK(head->body.empty());
  CHECK(head->header("DSA-Agreement") == "test-gw@1.0.0");
  auto get = c.read_response();
  REQUIRE(get);
  CHECK(get->status == 200);
  CHECK(get->header("Content-Length") == std::to_string(get->body.size()));
  CHECK(get->body.find("ASB-2026-000001") != std::string::npos);

  // A HEAD no endpoint covers is no_agreement: a problem status, still without a body or a
  // length, and the connection stays usable.
  REQUIRE(
      c.send("HEAD /asb/v1/cases HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb-case-management\r\n\r\n" +
             request("GET")));
  auto refused = c.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 403);
  CHECK_FALSE(refused->has_header("Content-Length"));
  CHECK(refused->body.empty());
  auto again = c.read_response();
  REQUIRE(again);
  CHECK(again->status == 200);

  const auto entries = audit_entries(w.gw->audit_db(), "request");
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].method == "HEAD");
  CHECK(dsa::audit::decision_text(entries[0]) == "allow");
  CHECK(entries[2].reason == "no_agreement");
}
