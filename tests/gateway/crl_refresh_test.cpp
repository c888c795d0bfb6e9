// CRLs refreshed from crl_url (docs/operations.md, section 5), against a local HTTP server on
// 127.0.0.1: a stale CRL fails closed and shows in /readyz until a fresh one is fetched; a CRL
// signed by another CA is refused and the one in use stays; a fetched CRL that revokes a client
// certificate takes effect without a reload.
#include "gateway/crl_refresh.hpp"

#include "gateway/config.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

std::string metrics_of(const rig& w) {
  auto [status, body] = admin_get(w.gw->admin_port(), "/metrics");
  REQUIRE(status == 200);
  return body;
}

// `openssl ca` on the dev PKI's CA database (this test process's own PKI).
void openssl_ca(const std::string& args) {
  const std::string db = (pki() / "ca-db").string();
  std::string out;
  const int status =
      run_command("openssl ca -batch -config '" + db + "/openssl.cnf' " + args, &out);
  INFO(out);
  REQUIRE(status == 0);
}

// python3 -m http.server on 127.0.0.1, port 0, serving `dir`.
struct http_server {
  std::unique_ptr<process> proc;
  int port = 0;
  http_server(const temp_dir& owner, const fs::path& dir) {
    fs::create_directories(dir);
    proc = std::make_unique<process>(
        std::vector<std::string>{"python3", "-u", "-m", "http.server", "--bind", "127.0.0.1",
                                 "--directory", dir.string(), "0"},
        owner.path() / "http-server.log");
    auto line = proc->read_line(10s);
    REQUIRE(line);
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    const auto at = line->find(" port ");
    REQUIRE(at != std::string::npos);
    port = std::stoi(line->substr(at + 6));
  }
};

// Whether a request from northshire-police gets any answer: under TLS 1.3 the client's
// handshake completes before the server has checked its certificate, so a refusal shows as a
// closed connection.
bool police_served(const rig& w) {
  tls_client c(w.gw->port(), "northshire-police");
  if (!c.handshake_ok() || !c.send(request())) {
    return false;
  }
  return c.read_response().has_value();
}

double fetches(const rig& w, const std::string& result) {
  return sample(metrics_of(w),
                R"(dsa_crl_fetches_total{trust_anchor="partner-ca",result=")" + result + "\"}")
      .value_or(0);
}

}  // namespace

TEST_CASE("merge_fetched_crls replaces the CRL of the same issuer and refuses an older one",
          "[gateway][crl]") {
  const std::string current = read_file(pki() / "crl.pem");
  const auto none = dsa::gateway::merge_fetched_crls(current, "not a CRL");
  REQUIRE_FALSE(none);
  CHECK(none.error() == "the response holds no CRL (PEM or DER)");
  // An older CRL of the same CA: refused (a replay must not undo a revocation).
  temp_dir d;
  openssl_ca("-gencrl -crl_lastupdate 20240101000000Z -crl_nextupdate 20240102000000Z -out '" +
             (d.path() / "old.pem").string() + "'");
  const auto older = dsa::gateway::merge_fetched_crls(current, read_file(d.path() / "old.pem"));
  REQUIRE_FALSE(older);
  CHECK(older.error() == "the fetched CRL is older (lastUpdate) than the one in use");
  // A newer one, as DER: it replaces the current one (one CRL out).
  openssl_ca("-gencrl -crldays 7 -out '" + (d.path() / "new.pem").string() + "'");
  REQUIRE(run_command("openssl crl -in '" + (d.path() / "new.pem").string() +
                      "' -outform DER -out '" + (d.path() / "new.der").string() + "'") == 0);
  const auto merged = dsa::gateway::merge_fetched_crls(current, read_file(d.path() / "new.der"));
  REQUIRE(merged);
  CHECK(merged.value() == read_file(d.path() / "new.pem"));
}

TEST_CASE(
    "crl_url: a stale CRL fails closed and shows in /readyz until a fresh one is fetched; a "
    "CRL from another CA is refused; a fetched revocation takes effect",
    "[gateway][integration][crl]") {
  temp_dir served_owner;
  const fs::path served = served_owner.path() / "www";
  http_server web(served_owner, served);
  // The CRL in use at start is stale: it passed its nextUpdate.
  temp_dir crls;
  const fs::path crl_file = crls.path() / "partner-ca.crl.pem";
  openssl_ca("-gencrl -crl_lastupdate 20240101000000Z -crl_nextupdate 20240102000000Z -out '" +
             crl_file.string() + "'");
  rig_options o;
  o.crl_file = crl_file.string();
  o.anchor_extra = ", crl_url: \"http://127.0.0.1:" + std::to_string(web.port) +
                   "/partner-ca.crl\", crl_refresh_interval_s: 1";
  rig w(o);

  // Nothing served yet: the fetch fails, the stale CRL stays, clients are refused.
  CHECK(rig::wait_for([&] { return fetches(w, "failed") >= 1; }));
  auto [rs, body] = admin_get(w.gw->admin_port(), "/readyz");
  CHECK(rs == 503);
  CHECK(body.find("CRL of trust anchor partner-ca is past its nextUpdate") != std::string::npos);
  CHECK(sample(metrics_of(w), R"(dsa_crl_next_update_seconds{trust_anchor="partner-ca"})") < 0);
  CHECK_FALSE(police_served(w));
  CHECK(sample(metrics_of(w), R"(dsa_tls_handshake_failures_total{reason="crl_unavailable"})") ==
        1);

  // A fresh CRL (DER) appears at the URL: fetched, verified, in use; ready again.
  openssl_ca("-gencrl -crldays 7 -out '" + (crls.path() / "fresh.pem").string() + "'");
  REQUIRE(run_command("openssl crl -in '" + (crls.path() / "fresh.pem").string() +
                      "' -outform DER -out '" + (served / "partner-ca.crl").string() + "'") == 0);
  CHECK(rig::wait_for([&] { return admin_get(w.gw->admin_port(), "/readyz").first == 200; }));
  CHECK(fetches(w, "ok") >= 1);
  CHECK(read_file(crl_file) == read_file(crls.path() / "fresh.pem"));
  CHECK(sample(metrics_of(w),
               R"(dsa_crl_last_refresh_timestamp_seconds{trust_anchor="partner-ca"})") > 1.7e9);
  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(request()));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }

  // A CRL signed by another CA: refused every time, the one in use stays.
  const std::string p = pki().string();
  openssl_ca("-gencrl -crldays 7 -keyfile '" + p + "/untrusted-ca.key' -cert '" + p +
             "/untrusted-ca.pem' -out '" + (served / "partner-ca.crl.tmp").string() + "'");
  fs::rename(served / "partner-ca.crl.tmp", served / "partner-ca.crl");
  const double rejected_before = fetches(w, "rejected");
  CHECK(rig::wait_for([&] { return fetches(w, "rejected") >= rejected_before + 2; }));
  CHECK(read_file(crl_file) == read_file(crls.path() / "fresh.pem"));
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
  CHECK(rig::wait_for([&] {
    return w.stderr_log().find(R"("event":"crl_rejected","trust_anchor":"partner-ca")") !=
           std::string::npos;
  }));

  // The CA revokes northshire-police and publishes: new handshakes are refused, no reload.
  openssl_ca("-revoke '" + p + "/northshire-police.pem' -crl_reason keyCompromise");
  openssl_ca("-gencrl -crldays 7 -out '" + (served / "partner-ca.crl.tmp").string() + "'");
  fs::rename(served / "partner-ca.crl.tmp", served / "partner-ca.crl");
  CHECK(rig::wait_for([&] { return !police_served(w); }));
  CHECK(rig::wait_for([&] {
    return sample(metrics_of(w), R"(dsa_tls_handshake_failures_total{reason="revoked"})") >= 1;
  }));
}

TEST_CASE("crl_url is http:// only, needs crl_file, and sets the refresh interval",
          "[gateway][config][crl]") {
  temp_dir dir;
  const auto with_anchor = [&](const std::string& name, const std::string& anchor) {
    return dsa::gateway::load_config(dir.write(name,
                                               "listen: 127.0.0.1:0\ntls:\n  certificate: "
                                               "g.pem\n  private_key: g.key\n  "
                                               "trust_anchors: [{name: p, ca_file: ca.pem" +
                                                   anchor +
                                                   "}]\nagreements_dir: a\naudit: {path: "
                                                   "a.db, signing_key: k.pem}\n"));
  };
  auto r = with_anchor("a.yaml", ", crl_file: c.pem, crl_url: \"http://127.0.0.1:8080/c.crl\"");
  REQUIRE(r.has_value());
  CHECK(r.value().tls.trust_anchors[0].crl_url == "http://127.0.0.1:8080/c.crl");
  CHECK(r.value().tls.trust_anchors[0].crl_refresh == std::chrono::seconds(3600));
  r = with_anchor("b.yaml",
                  ", crl_file: c.pem, crl_url: \"http://h/c.crl\", crl_refresh_interval_s: 60");
  REQUIRE(r.has_value());
  CHECK(r.value().tls.trust_anchors[0].crl_refresh == std::chrono::seconds(60));
  r = with_anchor("c.yaml", ", crl_file: c.pem, crl_url: \"https://h/c.crl\"");
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("crl_url must be an http:// URL") != std::string::npos);
  r = with_anchor("d.yaml", ", crl_url: \"http://h/c.crl\"");
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("crl_url needs crl_file") != std::string::npos);
  r = with_anchor("e.yaml", ", crl_file: c.pem, crl_refresh_interval_s: 60");
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("crl_refresh_interval_s needs crl_url") != std::string::npos);
}
