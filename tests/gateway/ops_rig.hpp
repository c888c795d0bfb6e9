#pragma once

// The world of the operations tests (reload under load, expiry warnings, metrics, HEAD): the
// sample upstream over TLS and the real dsa-gateway with one agreement whose version, review
// date and served certificate each test chooses. Built on harness.hpp; every wait is bounded.

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/gateway/harness.hpp"

namespace dsa::gateway::testing::ops {

namespace json = boost::json;

// One agreement: police may GET a council ASB case (filtered) and HEAD it (no body leaves, so
// no response rules). `review_due` empty: no review.
inline std::string agreement(const std::string& version, const std::string& review_due = "") {
  std::string text = R"yaml(schema: dsa/v1
id: test-gw
version: )yaml" + version +
                     R"yaml(
title: Operations test agreement
status: active
validity: {from: 2020-01-01, until: 2099-01-01}
)yaml";
  if (!review_due.empty()) {
    text += "review: {due: " + review_due + ", overdue: warn}\n";
  }
  text += R"yaml(parties:
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
  - {id: asb-case, description: ASB case record, personal_data: true, special_category: false, criminal_offence_data: false, retention: 6 years}
endpoints:
  - id: asb-case
    provider: council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case]
    response: {allow_fields: [/case_id, /status]}
  - id: asb-case-head
    provider: council
    upstream: council-asb
    method: HEAD
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case]
permissions:
  - id: police-read-case
    assignee: police
    endpoints: [asb-case, asb-case-head]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
)yaml";
  return text;
}

inline const std::string routes = R"json({"routes": [
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-[0-9]{4}-[0-9]{6})", "fixture": "case.json"}
]})json";  // the sample upstream answers HEAD from the GET route

inline const std::map<std::string, std::string> fixtures = {
    {"case.json",
     R"({"case_id": "${case_id}", "status": "open", "informant": {"name": "Jane Witness"}})"},
};

struct rig_options {
  std::string review_due;  // the agreement's review.due, empty for none
  int expiry_days = -1;    // warnings.expiry_days; -1 leaves the key out (default 30)
  std::vector<std::string> upstream_args;
  // The served certificate and key; empty: the dev PKI's gateway.pem/.key.
  std::string certificate, private_key;
  // The name the config gives the sample upstream (the agreement's endpoints use council-asb).
  std::string upstream_name = "council-asb";
  bool with_agreement = true;  // false: an empty agreements directory
  std::string extra_yaml;      // appended to gateway.yaml
  std::string crl_file;        // the anchor's crl_file; empty: the dev PKI's crl.pem
  std::string anchor_extra;    // more keys of the trust anchor's mapping (", key: value")
};

struct rig {
  temp_dir dir;
  std::unique_ptr<upstream> up;
  std::unique_ptr<gateway> gw;

  explicit rig(const rig_options& o = {}) {
    if (o.with_agreement) {
      dir.write("agreements/test-gw.yaml", agreement("1.0.0", o.review_due));
    } else {
      fs::create_directories(dir.path() / "agreements");
    }
    std::vector<std::string> args{"--tls-cert", (pki() / "upstream.pem").string(), "--tls-key",
                                  (pki() / "upstream.key").string()};
    args.insert(args.end(), o.upstream_args.begin(), o.upstream_args.end());
    up = std::make_unique<upstream>(dir, "council-asb", routes, fixtures, args);
    const std::string p = pki().string();
    std::string yaml =
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ntls:\n  certificate: " +
        (o.certificate.empty() ? p + "/gateway.pem" : o.certificate) +
        "\n  private_key: " + (o.private_key.empty() ? p + "/gateway.key" : o.private_key) +
        "\n  trust_anchors:\n    - {name: partner-ca, ca_file: " + p +
        "/ca.pem, crl_file: " + (o.crl_file.empty() ? p + "/crl.pem" : o.crl_file) +
        o.anchor_extra + "}\nagreements_dir: agreements\nupstreams:\n  " + o.upstream_name +
        ":\n    url: \"https://127.0.0.1:" + std::to_string(up->port()) + "\"\n    ca_file: " + p +
        "/upstream-ca.pem\n    connect_timeout_ms: 1000\n"
        "    response_timeout_ms: 5000\n"
        "audit: {path: audit.db, signing_key: audit-key.pem}\n"
        "limits: {drain_timeout_ms: 5000}\n";
    if (o.expiry_days >= 0) {
      yaml += "warnings: {expiry_days: " + std::to_string(o.expiry_days) + "}\n";
    }
    yaml += o.extra_yaml;
    gw = std::make_unique<gateway>(dir, yaml);
  }

  fs::path config_file() const { return dir.path() / "gateway.yaml"; }

  std::string stderr_log() const { return read_file(dir.path() / "gateway-stderr.log"); }

  // Replaces agreements/NAME atomically (write, then rename), as operators are told to.
  void put_agreement(const std::string& name, const std::string& text) const {
    const fs::path tmp = dir.write("agreements.tmp", text);
    fs::rename(tmp, dir.path() / "agreements" / name);
  }

  // The version /agreements reports for test-gw ("" when unreachable).
  std::string version_served() const {
    auto [status, body] = admin_get(gw->admin_port(), "/agreements");
    if (status != 200) {
      return {};
    }
    const json::value parsed = json::parse(body);  // outlives the loop over its array
    for (const auto& a : parsed.at("agreements").as_array()) {
      if (a.at("id") == "test-gw") {
        return std::string(a.at("version").as_string());
      }
    }
    return {};
  }

  // Waits (bounded) until `ready()` holds; returns its last value.
  template <class Predicate>
  static bool wait_for(Predicate ready, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ready()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return ready();
      }
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
};

inline const std::string case_path = "/asb/v1/cases/ASB-2026-000001";

inline std::string request(const std::string& method = "GET") {
  return method + " " + case_path +
         " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: asb-case-management\r\n\r\n";
}

// The value of the first sample line of `series` (name plus labels, exactly as exported) in a
// Prometheus exposition; nullopt when absent.
inline std::optional<double> sample(const std::string& exposition, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const auto at = ("\n" + exposition).find(key);
  if (at == std::string::npos) {
    return std::nullopt;
  }
  const auto start = at + key.size() - 1;  // offset back for the "\n" added in front
  return std::stod(exposition.substr(start, exposition.find('\n', start) - start));
}

// Runs a command with a bounded time (coreutils `timeout`); returns its exit status.
inline int run_command(const std::string& cmd, std::string* output = nullptr) {
  FILE* p = popen(("timeout 60 " + cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return -1;
  }
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    if (output != nullptr) {
      output->append(buf, n);
    }
  }
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace dsa::gateway::testing::ops
