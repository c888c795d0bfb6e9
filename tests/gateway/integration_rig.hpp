#pragma once

// The world of the gateway integration tests (gateway_integration_test.cpp, lifecycle_test.cpp):
// one agreement, a recording sample upstream and the real dsa-gateway, with helpers for the
// requests they send.

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>

#include "tests/gateway/harness.hpp"

namespace dsa::gateway::testing {

// The agreement every test loads: no time windows, so the tests pass at any hour.
inline const std::string test_agreement = R"yaml(schema: dsa/v1
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

inline const std::string routes = R"json({"routes": [
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-2026-000009)", "fixture": "restricted.json"},
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-[0-9]{4}-[0-9]{6})", "fixture": "case.json"},
  {"method": "POST", "path": "/asb/v1/cases/(?P<case_id>[^/]+)/partner-updates", "fixture": "update.json", "status": 201},
  {"method": "GET", "path": "/capped/(?P<id>[a-z0-9]+)", "fixture": "case.json"}
]})json";

inline const std::map<std::string, std::string> fixtures = {
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

inline const std::string case_path = "/asb/v1/cases/ASB-2026-000001";

inline std::string get_case(const std::string& path = case_path, const std::string& extra = "") {
  return "GET " + path +
         " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: asb-case-management\r\n"
         "DSA-Case-Ref: ASB-2026-000001\r\n" +
         extra + "\r\n";
}

// Sends `bytes` on a fresh police connection; returns the first response (if any).
inline std::optional<response> one_shot(int port, const std::string& bytes,
                                        bool* closed = nullptr) {
  tls_client c(port, "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(c.send(bytes));
  auto r = c.read_response();
  if (closed != nullptr) {
    *closed = c.closed_by_server();
  }
  return r;
}

inline std::string problem_reason(const response& r) {
  auto v = boost::json::parse(r.body);
  return std::string(v.as_object().at("reason").as_string());
}

}  // namespace dsa::gateway::testing
