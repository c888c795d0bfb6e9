// Integration tests of dsa-gateway: real processes, real TLS on loopback, an
// upstream that records the exact bytes it receives, and the audit store read back.
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "harness.hpp"

namespace {

using namespace dsa::gateway::testing;
namespace json = boost::json;

// The agreement every test loads: no time windows, so the tests pass at any hour.
const std::string test_agreement = R"yaml(schema: dsa/v1
id: test-gw
version: 1.0.0
title: Gateway integration test agreement
status: active
validity: {from: 2020-01-01, until: 2099-01-01}
parties:
  - id: police
    name: Test Police
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://northshire.police.uk.example/dsa-gateway"}]
  - id: council
    name: Test Council
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://kingsbury.gov.uk.example/dsa-gateway"}]
legal:
  gateways: [{id: cda-s115, cite: Crime and Disorder Act 1998 s.115}]
  lawful_bases: [{id: public-task, cite: "UK GDPR Art 6(1)(e)"}]
purposes:
  - {id: asb-case-management, description: Managing ASB cases}
data_categories:
  - id: asb-case
    description: ASB case record
    personal_data: true
    special_category: false
    criminal_offence_data: false
    retention: 6 years
endpoints:
  - id: asb-case
    provider: council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    query_params: {include: {pattern: "actions|warnings", required: false}}
    data_categories: [asb-case]
    response:
      allow_fields: [/case_id, /status, /subjects/*/name]
      withhold_if: [{pointer: /restricted, equals: true}]
      add_headers: {Handling-Caveat: OFFICIAL-SENSITIVE}
  - id: asb-update
    provider: council
    upstream: council-asb
    method: POST
    path: /asb/v1/cases/{case_id}/partner-updates
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case]
    response: {allow_fields: [/update_id, /case_id]}
  - id: capped
    provider: council
    upstream: council-asb
    method: GET
    path: /capped/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [asb-case]
    response: {allow_fields: [/case_id]}
  - id: police-records
    provider: police
    upstream: police-records
    method: GET
    path: /records/{id}
    data_categories: [asb-case]
permissions:
  - id: council-read-records
    assignee: council
    endpoints: [police-records]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
  - id: police-capped
    assignee: police
    endpoints: [capped]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    volume_caps: [{scope: assignee, window: P1D, max: 2}]
  - id: police-read-case
    assignee: police
    endpoints: [asb-case, asb-update]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    require: {case_ref: "ASB-[0-9]{4}-[0-9]{6}", case_ref_param: case_id}
)yaml";

const std::string routes = R"json({"routes": [
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-2026-000009)", "fixture": "restricted.json"},
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-[0-9]{4}-[0-9]{6})", "fixture": "case.json"},
  {"method": "POST", "path": "/asb/v1/cases/(?P<case_id>[^/]+)/partner-updates", "fixture": "update.json", "status": 201},
  {"method": "GET", "path": "/capped/(?P<id>[a-z0-9]+)", "fixture": "case.json"}
]})json";

const std::map<std::string, std::string> fixtures = {
    {"case.json",
     R"({"case_id": "${case_id}", "status": "open", "informant": {"name": "Jane Witness", "phone": "07700 900123"}, "internal_notes": "do not share", "subjects": [{"name": "Alex Example", "dob": "2001-01-01"}]})"},
    {"restricted.json",
     R"({"case_id": "${case_id}", "status": "open", "restricted": true, "subjects": [{"name": "Witness In Fear"}]})"},
    {"update.json",
     R"({"update_id": "U-1", "case_id": "${case_id}", "received_at": "2026-11-22T10:00:00Z", "handler": "internal-desk-7"})"},
};

struct rig_options {
  std::vector<std::string> upstream_args;
  bool upstream_down = false;
  int response_timeout_ms = 3000;
  int header_read_timeout_ms = 3000;
  int idle_timeout_ms = 5000;
  int max_connections = 1024;
  int threads = 1;
};

// One test's world: PKI (shared), the upstream over TLS, the gateway, the temp directory.
struct rig {
  temp_dir dir;
  std::unique_ptr<upstream> up;
  std::unique_ptr<gateway> gw;

  explicit rig(rig_options o = {}) {
    dir.write("agreements/test-gw.yaml", test_agreement);
    std::string url;
    if (o.upstream_down) {
      url = "http://127.0.0.1:" + std::to_string(unused_port());
    } else {
      std::vector<std::string> args{"--tls-cert", (pki() / "upstream.pem").string(), "--tls-key",
                                    (pki() / "upstream.key").string()};
      args.insert(args.end(), o.upstream_args.begin(), o.upstream_args.end());
      up = std::make_unique<upstream>(dir, "council-asb", routes, fixtures, args);
      url = "https://127.0.0.1:" + std::to_string(up->port());
    }
    const std::string p = pki().string();
    gw = std::make_unique<gateway>(dir,
                                   R"(listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
threads: )" + std::to_string(o.threads) +
                                       R"(
tls:
  certificate: )" + p + R"(/gateway.pem
  private_key: )" + p + R"(/gateway.key
  min_version: "1.2"
  trust_anchors:
    - {name: partner-ca, ca_file: )" + p +
                                       "/ca.pem, crl_file: " + p + R"(/crl.pem}
agreements_dir: agreements
upstreams:
  council-asb:
    url: ")" + url + R"("
    ca_file: )" + p + R"(/upstream-ca.pem
    connect_timeout_ms: 1000
    response_timeout_ms: )" + std::to_string(o.response_timeout_ms) +
                                       R"(
audit: {path: audit.db, signing_key: audit-key.pem, origin: "test dsa-gateway"}
limits: {max_header_bytes: 4096, max_body_bytes: 4096, drain_timeout_ms: 3000, header_read_timeout_ms: )" +
                                       std::to_string(o.header_read_timeout_ms) +
                                       ", idle_timeout_ms: " + std::to_string(o.idle_timeout_ms) +
                                       ", max_connections: " + std::to_string(o.max_connections) +
                                       "}\n");
  }

  std::vector<dsa::audit::entry> requests() const {
    return audit_entries(gw->audit_db(), "request");
  }
  std::size_t forwarded() const { return up ? up->received().size() : 0; }
};

const std::string case_path = "/asb/v1/cases/ASB-2026-000001";

std::string get_case(const std::string& path = case_path, const std::string& extra = "") {
  return "GET " + path +
         " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: asb-case-management\r\n"
         "DSA-Case-Ref: ASB-2026-000001\r\n" +
         extra + "\r\n";
}

// Sends `bytes` on a fresh police connection; returns the first response (if any).
std::optional<response> one_shot(int port, const std::string& bytes, bool* closed = nullptr) {
  tls_client c(port, "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(c.send(bytes));
  auto r = c.read_response();
  if (closed != nullptr) {
    *closed = c.closed_by_server();
  }
  return r;
}

std::string problem_reason(const response& r) {
  auto v = json::parse(r.body);
  return std::string(v.as_object().at("reason").as_string());
}

}  // namespace

TEST_CASE("framing errors are refused with 400, the connection closed, nothing forwarded",
          "[gateway][integration]") {
  rig w;
  const std::string ok_headers =
      "DSA-Purpose: asb-case-management\r\nDSA-Case-Ref: ASB-2026-000001\r\n";
  const std::string post =
      "POST " + case_path + "/partner-updates HTTP/1.1\r\nHost: gw\r\n" + ok_headers;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing Host", "GET " + case_path + " HTTP/1.1\r\n" + ok_headers + "\r\n"},
      {"duplicate Host",
       "GET " + case_path + " HTTP/1.1\r\nHost: a\r\nHost: b\r\n" + ok_headers + "\r\n"},
      {"absolute-form",
       "GET https://127.0.0.1" + case_path + " HTTP/1.1\r\nHost: gw\r\n" + ok_headers + "\r\n"},
      {"authority-form", "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: gw\r\n\r\n"},
      {"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: gw\r\n\r\n"},
      {"TE chunked, cow", post + "Transfer-Encoding: chunked, cow\r\n\r\n0\r\n\r\n"},
      {"TE ,chunked", post + "Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n"},
      {"TE twice",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"TE on HTTP/1.0", "POST " + case_path + "/partner-updates HTTP/1.0\r\nHost: gw\r\n" +
                             ok_headers + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"CL and TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"differing Content-Length", post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} "},
      {"duplicate Content-Length", post + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"},
      {"Content-Length list", post + "Content-Length: 2, 2\r\n\r\n{}"},
      {"signed Content-Length", post + "Content-Length: +2\r\n\r\n{}"},
      {"obs-fold", "GET " + case_path + " HTTP/1.1\r\nHost: gw\r\n" + ok_headers +
                       "X-Note: a\r\n  folded\r\n\r\n"},
      {"bare LF", "GET " + case_path + " HTTP/1.1\nHost: gw\n" + ok_headers + "\r\n"},
      {"bare CR",
       "GET " + case_path + " HTTP/1.1\r\nHost: gw\r\nX-Note: a\rb\r\n" + ok_headers + "\r\n"},
      {"NUL in a value", "GET " + case_path + " HTTP/1.1\r\nHost: gw\r\nX-Note: a" +
                             std::string(1, '\0') + "b\r\n" + ok_headers + "\r\n"},
      {"control byte in a value", "GET " + case_path + " HTTP/1.1\r\nHost: gw\r\nX-Note: a\x01" +
                                      "b\r\n" + ok_headers + "\r\n"},
      {"space before colon",
       "GET " + case_path + " HTTP/1.1\r\nHost : gw\r\n" + ok_headers + "\r\n"},
      {"invalid header name",
       "GET " + case_path + " HTTP/1.1\r\nHost: gw\r\nX(Bad): 1\r\n" + ok_headers + "\r\n"},
      {"unknown version", "GET " + case_path + " HTTP/1.2\r\nHost: gw\r\n" + ok_headers + "\r\n"},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"Upgrade h2c",
       "GET " + case_path +
           " HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, "
           "HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n" +
           ok_headers + "\r\n"},
      {"Upgrade websocket", "GET " + case_path + " HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\n" +
                                ok_headers + "\r\n"},
  };
  for (const auto& [name, bytes] : cases) {
    INFO(name);
    bool closed = false;
    auto r = one_shot(w.gw->port(), bytes, &closed);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->header("Content-Type") == "application/problem+json");
    CHECK(problem_reason(*r) == "bad_request");
    CHECK(r->header("DSA-Request-Id").size() == 32);
    CHECK(closed);
  }
  CHECK(w.forwarded() == 0);
  const auto entries = w.requests();
  REQUIRE(entries.size() == cases.size());
  for (const auto& e : entries) {
    CHECK(dsa::audit::decision_text(e) == "reject");
    CHECK(e.status == 400);
    CHECK(e.requester.cert_sha256 == cert_sha256("northshire-police"));
    CHECK(e.requester.party == "police");  // rejected requests name the party too
  }
}

TEST_CASE("oversized heads get 431 and oversized bodies 413, nothing forwarded",
          "[gateway][integration]") {
  rig w;
  bool closed = false;
  auto r = one_shot(w.gw->port(), get_case(case_path, "X-Big: " + std::string(5000, 'a') + "\r\n"),
                    &closed);
  REQUIRE(r);
  CHECK(r->status == 431);
  CHECK(closed);
  r = one_shot(w.gw->port(),
               "POST " + case_path +
                   "/partner-updates HTTP/1.1\r\nHost: gw\r\nContent-Length: 5000\r\n"
                   "DSA-Purpose: asb-case-management\r\nDSA-Case-Ref: ASB-2026-000001\r\n\r\n" +
                   std::string(5000, 'x'),
               &closed);
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(problem_reason(*r) == "body_too_large");
  CHECK(w.forwarded() == 0);
  CHECK(w.requests().size() == 2);
}

TEST_CASE("refused path forms get 400 bad_request and nothing is forwarded",
          "[gateway][integration]") {
  rig w;
  const std::vector<std::string> targets = {
      "/asb/v1/cases/ASB-2026-000001%2F..", "/asb/v1/cases/%2e%2e/ASB-2026-000001",
      "/asb/v1/cases/%2E/ASB-2026-000001",  "/asb/v1/cases/..%5Cetc",
      "/asb/v1/cases/ASB-2026-000001%00",   "/asb/v1/../v1/cases/ASB-2026-000001",
      "/asb/v1/./cases/ASB-2026-000001",    "/asb//v1/cases/ASB-2026-000001",
      "/asb/v1/cases\\ASB-2026-000001",     "/asb/v1/cases/ASB-2026-00000%zz",
      "/asb/v1/cases/ASB-2026-00000%4",     "/asb/v1/cases/caf\xc3\xa9",
      "/asb/v1/cases/ASB-2026-000001#frag",
  };
  for (const auto& t : targets) {
    INFO(t);
    auto r = one_shot(w.gw->port(), get_case(t));
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(problem_reason(*r) == "bad_request");
  }
  CHECK(w.forwarded() == 0);
  CHECK(w.requests().size() == targets.size());
}

TEST_CASE("bad client certificates are refused at the handshake", "[gateway][integration]") {
  rig w;
  for (const std::string cert : {"", "expired", "untrusted", "revoked", "serveronly"}) {
    INFO("certificate: " << (cert.empty() ? "none" : cert));
    tls_client c(w.gw->port(), cert);
    // TLS 1.3 reports a refused client certificate after the client's handshake completes, so
    // the proof is that no HTTP response ever comes back.
    if (c.handshake_ok()) {
      c.send(get_case());
      CHECK_FALSE(c.read_response());
    }
  }
  // The good certificate on the same gateway works, so the refusals above are about the
  // certificates, not the setup.
  auto ok = one_shot(w.gw->port(), get_case());
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(w.forwarded() == 1);
  auto [status, metrics] = admin_get(w.gw->admin_port(), "/metrics");
  CHECK(status == 200);
  for (const std::string reason :
       {"no_certificate", "expired", "untrusted", "revoked", "wrong_eku"}) {
    INFO(reason);
    CHECK(metrics.find("dsa_tls_handshake_failures_total{reason=\"" + reason + "\"} 1") !=
          std::string::npos);
  }
  CHECK(w.requests().size() == 1);
}

TEST_CASE(
    "an allowed request reaches the upstream canonical, with only the gateway's DSA-* headers",
    "[gateway][integration]") {
  rig w;
  tls_client c(w.gw->port(), "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(
      c.send("GET /asb/v1/cases/ASB%2D2026-000001?include=actions HTTP/1.1\r\n"
             "Host: gw.test\r\n"
             "User-Agent: partner-rms/4.2\r\n"
             "DSA-Agreement: test-gw\r\n"
             "DSA-Purpose: asb-case-management\r\n"
             "dsa-case-ref: ASB-2026-000001\r\n"
             "Connection: keep-alive, X-Hop\r\n"
             "X-Hop: secret-hop\r\n"
             "Keep-Alive: timeout=5\r\n"
             "TE: trailers\r\n"
             "Proxy-Authorization: Basic c2VjcmV0\r\n"
             "Accept: application/json\r\n"
             "\r\n"));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  const std::string id = r->header("DSA-Request-Id");
  REQUIRE(id.size() == 32);
  CHECK(r->header("DSA-Agreement") == "test-gw@1.0.0");
  CHECK(r->header("Handling-Caveat") == "OFFICIAL-SENSITIVE");
  CHECK(r->header("Cache-Control") == "no-store");
  CHECK(r->header("Content-Type") == "application/json");
  CHECK_FALSE(r->has_header("Server"));
  auto body = json::parse(r->body).as_object();
  CHECK(body.at("case_id") == "ASB-2026-000001");
  CHECK(body.at("status") == "open");
  CHECK_FALSE(body.contains("informant"));
  CHECK_FALSE(body.contains("internal_notes"));
  CHECK(json::serialize(body.at("subjects")) == R"([{"name":"Alex Example"}])");

  const auto got = w.up->received();
  REQUIRE(got.size() == 1);
  CHECK(got[0] ==
        "GET /asb/v1/cases/ASB-2026-000001?include=actions HTTP/1.1\r\n"
        "Host: 127.0.0.1:" +
            std::to_string(w.up->port()) +
            "\r\n"
            "User-Agent: partner-rms/4.2\r\n"
            "Accept: application/json\r\n"
            "DSA-Requester: police\r\n"
            "DSA-Agreement: test-gw@1.0.0\r\n"
            "DSA-Permission: police-read-case\r\n"
            "DSA-Purpose: asb-case-management\r\n"
            "DSA-Case-Ref: ASB-2026-000001\r\n"
            "DSA-Request-Id: " +
            id +
            "\r\n"
            "\r\n");

  // A chunked POST on the same connection is re-serialised with one Content-Length, and its
  // intent is audited before it is forwarded.
  REQUIRE(
      c.send("POST /asb/v1/cases/ASB-2026-000001/partner-updates HTTP/1.1\r\n"
             "Host: gw.test\r\n"
             "Content-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n"
             "DSA-Purpose: asb-case-management\r\n"
             "DSA-Case-Ref: ASB-2026-000001\r\n"
             "\r\n"
             "7\r\n{\"a\":1}\r\n0\r\n\r\n"));
  auto p = c.read_response();
  REQUIRE(p);
  CHECK(p->status == 201);
  CHECK(json::parse(p->body) == json::parse(R"({"update_id":"U-1","case_id":"ASB-2026-000001"})"));
  const auto got2 = w.up->received();
  REQUIRE(got2.size() == 2);
  CHECK(got2[1] ==
        "POST /asb/v1/cases/ASB-2026-000001/partner-updates HTTP/1.1\r\n"
        "Host: 127.0.0.1:" +
            std::to_string(w.up->port()) +
            "\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 7\r\n"
            "DSA-Requester: police\r\n"
            "DSA-Agreement: test-gw@1.0.0\r\n"
            "DSA-Permission: police-read-case\r\n"
            "DSA-Purpose: asb-case-management\r\n"
            "DSA-Case-Ref: ASB-2026-000001\r\n"
            "DSA-Request-Id: " +
            p->header("DSA-Request-Id") +
            "\r\n"
            "\r\n"
            "{\"a\":1}");
  const auto all = audit_entries(w.gw->audit_db(), "");
  std::vector<std::string> kinds;
  for (const auto& e : all) {
    if (e.request_id == p->header("DSA-Request-Id")) {
      kinds.emplace_back(dsa::audit::kind_text(e));
    }
  }
  CHECK(kinds == std::vector<std::string>{"forwarding", "request"});

  // A restricted case is withheld: nothing of it is disclosed.
  REQUIRE(
      c.send("GET /asb/v1/cases/ASB-2026-000009 HTTP/1.1\r\nHost: gw\r\n"
             "DSA-Purpose: asb-case-management\r\nDSA-Case-Ref: ASB-2026-000009\r\n\r\n"));
  auto wh = c.read_response();
  REQUIRE(wh);
  CHECK(wh->status == 403);
  CHECK(wh->body.find("Witness") == std::string::npos);
}

TEST_CASE("denials, withholding and unknown parties are audited with the problem body",
          "[gateway][integration]") {
  rig w;
  auto missing = one_shot(w.gw->port(), "GET " + case_path +
                                            " HTTP/1.1\r\nHost: gw\r\n"
                                            "DSA-Case-Ref: ASB-2026-000001\r\n\r\n");
  REQUIRE(missing);
  CHECK(missing->status == 403);
  CHECK(problem_reason(*missing) == "purpose_missing");
  auto withheld =
      one_shot(w.gw->port(),
               "GET /asb/v1/cases/ASB-2026-000009 HTTP/1.1\r\nHost: gw\r\n"
               "DSA-Purpose: asb-case-management\r\nDSA-Case-Ref: ASB-2026-000009\r\n\r\n");
  REQUIRE(withheld);
  CHECK(withheld->status == 403);
  CHECK(problem_reason(*withheld) == "withheld_by_agreement");
  CHECK(withheld->body.find("Witness") == std::string::npos);
  // Nor does the refusal say which rule withheld it: that the case is restricted is itself
  // something the agreement does not let leave. The audit keeps the rule.
  CHECK(withheld->body.find("restricted") == std::string::npos);

  tls_client fire(w.gw->port(), "northshire-fire");
  REQUIRE(fire.handshake_ok());
  REQUIRE(fire.send(get_case()));
  auto unknown = fire.read_response();
  REQUIRE(unknown);
  CHECK(unknown->status == 403);
  CHECK(problem_reason(*unknown) == "unknown_requester");

  tls_client council(w.gw->port(), "kingsbury-council");
  REQUIRE(council.handshake_ok());
  REQUIRE(council.send(
      "GET /records/r1 HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb-case-management\r\n\r\n"));
  auto elsewhere = council.read_response();
  REQUIRE(elsewhere);
  CHECK(elsewhere->status == 403);
  CHECK(problem_reason(*elsewhere) == "no_agreement");

  const auto entries = w.requests();
  REQUIRE(entries.size() == 4);
  CHECK(dsa::audit::decision_text(entries[0]) == "deny");
  CHECK(entries[0].reason == "purpose_missing");
  CHECK_FALSE(entries[0].counted);
  CHECK(dsa::audit::decision_text(entries[1]) == "withheld");
  CHECK(entries[1].reason == "withheld_by_agreement");
  CHECK(entries[1].counted);
  CHECK(entries[1].upstream_status == 200);
  CHECK(entries[2].reason == "unknown_requester");
  CHECK(entries[2].requester.cert_sha256 == cert_sha256("northshire-fire"));
  CHECK(entries[3].reason == "no_agreement");
  CHECK(entries[3].requester.party == "council");
  CHECK(w.forwarded() == 1);  // only the withheld one reached the upstream
}

TEST_CASE("every answered request is audited once with its connection's identity, pipelined too",
          "[gateway][integration]") {
  // Two I/O threads: the two connections land on different threads (round robin).
  rig w(rig_options{.threads = 2});
  tls_client police(w.gw->port(), "northshire-police");
  tls_client council(w.gw->port(), "kingsbury-council");
  REQUIRE(police.handshake_ok());
  REQUIRE(council.handshake_ok());
  // Three requests in one write: each decided and audited on its own.
  REQUIRE(police.send(get_case() + "GET " + case_path +
                      " HTTP/1.1\r\nHost: gw\r\nDSA-Case-Ref: ASB-2026-000001\r\n\r\n" +
                      get_case(case_path + "?include=warnings")));
  REQUIRE(council.send(get_case()));
  std::vector<std::string> ids;
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i) {
    auto r = police.read_response();
    REQUIRE(r);
    statuses.push_back(r->status);
    ids.push_back(r->header("DSA-Request-Id"));
  }
  CHECK(statuses == std::vector<int>{200, 403, 200});
  auto cr = council.read_response();
  REQUIRE(cr);
  CHECK(cr->status == 403);

  const auto entries = w.requests();
  REQUIRE(entries.size() == 4);
  int police_entries = 0;
  for (const auto& e : entries) {
    const bool is_police = std::find(ids.begin(), ids.end(), e.request_id) != ids.end();
    police_entries += is_police ? 1 : 0;
    CHECK(e.requester.trust_anchor == "partner-ca");
    if (is_police) {
      CHECK(e.requester.party == "police");
      CHECK(e.requester.cert_sha256 == cert_sha256("northshire-police"));
      CHECK(e.requester.subject.find("O=Chief Constable of Northshire Police") !=
            std::string::npos);
    } else {
      CHECK(e.requester.party == "council");
      CHECK(e.requester.cert_sha256 == cert_sha256("kingsbury-council"));
      CHECK(e.request_id == cr->header("DSA-Request-Id"));
    }
  }
  CHECK(police_entries == 3);
  CHECK(w.forwarded() == 2);
}

TEST_CASE("an unwritable audit store gives 503 and discloses nothing and writes recover",
          "[gateway][integration]") {
  rig w;
  auto first = one_shot(w.gw->port(), get_case());
  REQUIRE(first);
  REQUIRE(first->status == 200);
  // Root ignores file permissions, so the store is made unwritable with a file size limit on
  // the gateway process: every write to a file then fails with EFBIG (the gateway ignores
  // SIGXFSZ). This works for root and non-root alike.
  rlimit none{0, RLIM_INFINITY};
  REQUIRE(prlimit(w.gw->pid(), RLIMIT_FSIZE, &none, nullptr) == 0);
  const auto before = w.forwarded();
  auto refused = one_shot(w.gw->port(), get_case());
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(problem_reason(*refused) == "audit_unavailable");
  CHECK(refused->body.find("Alex") == std::string::npos);
  CHECK(refused->body.find("open") == std::string::npos);
  CHECK_FALSE(refused->has_header("DSA-Agreement"));
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 503);
  CHECK(w.forwarded() == before + 1);  // asked upstream, but released nothing

  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  REQUIRE(prlimit(w.gw->pid(), RLIMIT_FSIZE, &unlimited, nullptr) == 0);
  // Ready again once the store can write, with no request needed to find out: a load balancer
  // that drains on 503 sends none (the writer re-tests every checkpoint interval).
  int ready = 0;
  for (int i = 0; i < 150 && ready != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    ready = admin_get(w.gw->admin_port(), "/readyz").first;
  }
  CHECK(ready == 200);
  CHECK(w.forwarded() == before + 1);
  auto again = one_shot(w.gw->port(), get_case());
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
  const auto entries = w.requests();
  // The refused request left no entry; the two released ones did.
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].request_id == first->header("DSA-Request-Id"));
  CHECK(entries[1].request_id == again->header("DSA-Request-Id"));
}

TEST_CASE("an upstream that is down gives 502, a slow one 504, an error status a problem body",
          "[gateway][integration]") {
  SECTION("down") {
    rig w(rig_options{.upstream_down = true});
    auto r = one_shot(w.gw->port(), get_case());
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK(problem_reason(*r) == "upstream_unavailable");
    const auto e = w.requests();
    REQUIRE(e.size() == 1);
    CHECK(dsa::audit::decision_text(e[0]) == "error");
    CHECK(e[0].reason == "upstream_unavailable");
    CHECK(e[0].counted);
  }
  SECTION("slow") {
    rig w(rig_options{.upstream_args = {"--delay-ms", "1500"}, .response_timeout_ms = 300});
    auto r = one_shot(w.gw->port(), get_case());
    REQUIRE(r);
    CHECK(r->status == 504);
    CHECK(problem_reason(*r) == "upstream_timeout");
    const auto e = w.requests();
    REQUIRE(e.size() == 1);
    CHECK(e[0].reason == "upstream_timeout");
  }
  SECTION("error status") {
    rig w(rig_options{.upstream_args = {"--status", "500"}});
    auto r = one_shot(w.gw->port(), get_case());
    REQUIRE(r);
    CHECK(r->status == 500);
    auto body = json::parse(r->body).as_object();
    CHECK(body.at("reason") == "upstream_status");
    CHECK(body.at("upstream_status") == 500);
    CHECK(body.size() == 7);  // type, title, status, detail, reason, request_id, upstream_status
    const auto e = w.requests();
    REQUIRE(e.size() == 1);
    CHECK(e[0].upstream_status == 500);
  }
}

TEST_CASE("volume caps survive a gateway restart", "[gateway][integration]") {
  rig w;
  const std::string req =
      "GET /capped/abc HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb-case-management\r\n\r\n";
  CHECK(one_shot(w.gw->port(), req)->status == 200);
  CHECK(one_shot(w.gw->port(), req)->status == 200);
  auto third = one_shot(w.gw->port(), req);
  REQUIRE(third);
  CHECK(third->status == 429);
  CHECK(problem_reason(*third) == "volume_cap_exceeded");
  // Retry-After: when the first of the two counted requests leaves the one-day window.
  REQUIRE(third->has_header("Retry-After"));
  const long wait = std::stol(third->header("Retry-After"));
  CHECK(wait > 86400 - 60);
  CHECK(wait <= 86400);
  CHECK(w.gw->stop() == 0);
  w.gw->start();
  auto after = one_shot(w.gw->port(), req);
  REQUIRE(after);
  CHECK(after->status == 429);
  // The counts seeded from the audit store give the same answer after a restart.
  REQUIRE(after->has_header("Retry-After"));
  CHECK(std::stol(after->header("Retry-After")) <= wait);
  CHECK(std::stol(after->header("Retry-After")) > 86400 - 120);
  CHECK(w.forwarded() == 2);
  // Start-up and shutdown are audited as lifecycle entries.
  CHECK(audit_entries(w.gw->audit_db(), "shutdown").size() == 1);
  CHECK(audit_entries(w.gw->audit_db(), "startup").size() == 2);
}

TEST_CASE("admin endpoints report health, readiness, agreements and metrics",
          "[gateway][integration]") {
  rig w;
  CHECK(one_shot(w.gw->port(), get_case())->status == 200);
  auto [hs, hb] = admin_get(w.gw->admin_port(), "/healthz");
  CHECK(hs == 200);
  CHECK(hb == "ok\n");
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
  auto [as, ab] = admin_get(w.gw->admin_port(), "/agreements");
  CHECK(as == 200);
  auto list = json::parse(ab).at("agreements").as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("id") == "test-gw");
  CHECK(list[0].at("version") == "1.0.0");
  auto [ms, mb] = admin_get(w.gw->admin_port(), "/metrics");
  CHECK(ms == 200);
  CHECK(mb.find("dsa_requests_total{decision=\"allow\",reason=\"allowed\",agreement=\"test-gw\","
                "requester=\"police\"} 1") != std::string::npos);
  CHECK(mb.find("dsa_audit_writable 1") != std::string::npos);
  CHECK(mb.find("dsa_request_duration_seconds_count 1") != std::string::npos);
  CHECK(admin_get(w.gw->admin_port(), "/nope").first == 404);
  // SIGTERM drains and exits 0.
  CHECK(w.gw->stop(SIGTERM) == 0);
}

TEST_CASE("SIGHUP reloads the agreements all-or-nothing", "[gateway][integration]") {
  rig w;
  auto version_served = [&] {
    auto [status, body] = admin_get(w.gw->admin_port(), "/agreements");
    if (status != 200) {
      return std::string();
    }
    return std::string(json::parse(body).at("agreements").at(0).at("version").as_string());
  };
  REQUIRE(version_served() == "1.0.0");
  std::string v2 = test_agreement;
  v2.replace(v2.find("version: 1.0.0"), 14, "version: 1.1.0");
  w.dir.write("agreements/test-gw.yaml", v2);
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && version_served() != "1.1.0"; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(version_served() == "1.1.0");
  auto r = one_shot(w.gw->port(), get_case());
  REQUIRE(r);
  CHECK(r->header("DSA-Agreement") == "test-gw@1.1.0");

  // A bad file anywhere in the set: the whole reload is refused and the old set stays.
  w.dir.write("agreements/broken.yaml", "schema: dsa/v2\nid: broken\n");
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && audit_entries(w.gw->audit_db(), "agreements_rejected").empty(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(audit_entries(w.gw->audit_db(), "agreements_rejected").size() == 1);
  CHECK(version_served() == "1.1.0");
  auto still = one_shot(w.gw->port(), get_case());
  REQUIRE(still);
  CHECK(still->status == 200);
}

TEST_CASE("dsa-gateway --check validates the config and lists where each endpoint is served",
          "[gateway][integration]") {
  rig w;
  const std::string bin = std::string(DSA_BINARY_DIR) + "/gateway/dsa-gateway";
  auto run = [&](const std::string& config, std::string& out) {
    FILE* p = popen((bin + " --check --config '" + config + "' 2>&1").c_str(), "r");
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      out.append(buf, n);
    }
    return WEXITSTATUS(pclose(p));
  };
  std::string out;
  CHECK(run((w.dir.path() / "gateway.yaml").string(), out) == 0);
  INFO(out);
  CHECK(out.find("agreement test-gw@1.0.0") != std::string::npos);
  CHECK(out.find("upstream council-asb        served here") != std::string::npos);
  CHECK(out.find("upstream police-records     not served here") != std::string::npos);

  std::string bad_out;
  const auto bad = w.dir.write("bad.yaml", "listen: 127.0.0.1:0\nthreads: many\n");
  CHECK(run(bad.string(), bad_out) == 1);
  CHECK(bad_out.find(bad.string() + ":2:10:") != std::string::npos);
}

TEST_CASE("slow heads, idle keep-alive connections and excess connections are closed",
          "[gateway][integration]") {
  rig w(rig_options{.header_read_timeout_ms = 400, .idle_timeout_ms = 600, .max_connections = 2});
  {
    // A head that never ends is cut off at the header-read timeout, unanswered.
    tls_client slow(w.gw->port(), "northshire-police");
    REQUIRE(slow.handshake_ok());
    REQUIRE(slow.send("GET " + case_path + " HTTP/1.1\r\nHost: gw\r\n"));
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(slow.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  {
    // A keep-alive connection is closed after the idle timeout.
    tls_client idle(w.gw->port(), "northshire-police");
    REQUIRE(idle.handshake_ok());
    REQUIRE(idle.send(get_case()));
    auto r = idle.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(idle.closed_by_server());
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited > 300ms);
    CHECK(waited < 3s);
  }
  {
    // limits.max_connections = 2: a third connection is closed at accept.
    for (int i = 0; i < 100; ++i) {
      if (admin_get(w.gw->admin_port(), "/metrics").second.find("dsa_open_connections 0") !=
          std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    tls_client a(w.gw->port(), "northshire-police");
    tls_client b(w.gw->port(), "northshire-police");
    REQUIRE(a.handshake_ok());
    REQUIRE(b.handshake_ok());
    tls_client c(w.gw->port(), "northshire-police");
    CHECK_FALSE(c.handshake_ok());
    auto [status, metrics] = admin_get(w.gw->admin_port(), "/metrics");
    CHECK(metrics.find("dsa_rejected_connections_total 1") != std::string::npos);
  }
  CHECK(w.requests().size() == 1);
}

TEST_CASE(
    "SIGTERM drains: in-flight requests finish, new connections are refused, exit 0, "
    "the final checkpoint covers the store and it verifies",
    "[gateway][integration][drain]") {
  rig w(rig_options{.upstream_args = {"--delay-ms", "1000"}, .threads = 2});
  // A keep-alive connection waiting for its next request is closed by the drain, unanswered.
  tls_client idle(w.gw->port(), "northshire-police");
  REQUIRE(idle.handshake_ok());
  // Three requests in flight on two I/O threads, each held by the upstream for a second.
  std::vector<std::unique_ptr<tls_client>> busy;
  for (int i = 0; i < 3; ++i) {
    busy.push_back(std::make_unique<tls_client>(w.gw->port(), "northshire-police"));
    REQUIRE(busy.back()->handshake_ok());
    REQUIRE(busy.back()->send(get_case()));
  }
  // Wait until the upstream holds all three (it records each request as it arrives).
  for (int i = 0; i < 250 && w.up->received().size() < 3; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(w.up->received().size() == 3);
  const auto signalled = std::chrono::steady_clock::now();
  REQUIRE(kill(w.gw->pid(), SIGTERM) == 0);
  // The listener closes at once: a new connection is refused while the three are still held.
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    const int fd = connect_tcp(w.gw->port());
    if (fd < 0) {
      refused = true;
    } else {
      close(fd);
      std::this_thread::sleep_for(5ms);
    }
  }
  CHECK(refused);
  CHECK(std::chrono::steady_clock::now() - signalled < 600ms);
  for (auto& c : busy) {
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Connection") == "close");
    CHECK(r->body.find("ASB-2026-000001") != std::string::npos);
    CHECK(c->closed_by_server());
  }
  CHECK(idle.closed_by_server());
  // It exits by itself (signal 0 only waits), with status 0.
  CHECK(w.gw->stop(0) == 0);
  CHECK(audit_entries(w.gw->audit_db(), "shutdown").size() == 1);
  CHECK(w.requests().size() == 3);

  // The final checkpoint covers every entry, the shutdown entry included.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(w.gw->audit_db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    std::int64_t v = -1;
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
  };
  const std::int64_t entries = scalar("SELECT count(*) FROM entries");
  const std::int64_t checkpointed = scalar("SELECT size FROM checkpoints ORDER BY id DESC LIMIT 1");
  sqlite3_close(db);
  CHECK(entries == static_cast<std::int64_t>(audit_entries(w.gw->audit_db(), "").size()));
  CHECK(checkpointed == entries);

  const std::string verify = std::string(DSA_BINARY_DIR) + "/tools/dsa audit verify --db '" +
                             w.gw->audit_db().string() + "' 2>&1";
  FILE* p = popen(("timeout 60 " + verify).c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  const int st = pclose(p);
  INFO(out);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}
