#pragma once

// One test's world for the data-path tests (hostile_upstream_test.cpp, streaming_test.cpp): a
// scripted upstream (plain HTTP, or HTTPS with the dev PKI's upstream certificate) behind the
// real gateway, under one agreement whose endpoints cover each response path: `items` filtered,
// `files` streamed without ranges (the gateway's 4096-byte body limit applies), `clips` streamed
// with ranges and a 2 GiB limit, `capped` streamed with a 100,000-byte limit, `notes` (POST) and
// `remove` (DELETE); and for request bodies (upload_test.cpp): `uploads` (POST, streamed, bodies
// up to 1 GiB), `capped-uploads` (PUT, streamed, bodies up to 100,000 bytes) and `forms` (POST,
// JSON rules, bodies up to 1,000 bytes).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/hex.hpp"
#include "tests/gateway/harness.hpp"
#include "tests/gateway/scripted_upstream.hpp"

namespace dsa::gateway::testing {

inline const std::string hostile_agreement = R"yaml(schema: dsa/v1
id: hostile-test
version: 1.0.0
title: Hostile upstream test agreement
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
  - {id: test-purpose, description: Testing}
data_categories:
  - {id: rec, description: A record, personal_data: true, special_category: false, criminal_offence_data: false, retention: 1 year}
endpoints:
  - id: items
    provider: council
    upstream: hostile
    method: GET
    path: /items/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    response:
      allow_fields: [/id, /owner]
      withhold_if: [{pointer: /restricted, equals: true}]
  - id: files
    provider: council
    upstream: hostile
    method: GET
    path: /files/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
  - id: clips
    provider: council
    upstream: hostile
    method: GET
    path: /clips/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    response: {ranges: true, max_bytes: 2147483648}
  - id: capped
    provider: council
    upstream: hostile
    method: GET
    path: /capped/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    response: {max_bytes: 100000}
  - id: notes
    provider: council
    upstream: hostile
    method: POST
    path: /items/{id}/notes
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    response: {allow_fields: [/id]}
  - id: remove
    provider: council
    upstream: hostile
    method: DELETE
    path: /items/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
  - id: uploads
    provider: council
    upstream: hostile
    method: POST
    path: /uploads/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    request: {max_bytes: 1073741824}
  - id: capped-uploads
    provider: council
    upstream: hostile
    method: PUT
    path: /capped-uploads/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    request: {max_bytes: 100000}
  - id: forms
    provider: council
    upstream: hostile
    method: POST
    path: /forms/{id}
    path_params: {id: "[a-z0-9]+"}
    data_categories: [rec]
    request: {max_bytes: 1000}
    response: {allow_fields: [/id]}
permissions:
  - id: police-items
    assignee: police
    endpoints: [items, files, clips, capped, notes, remove, uploads, capped-uploads, forms]
    purposes: [test-purpose]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
  - id: council-items
    assignee: council
    endpoints: [items]
    purposes: [test-purpose]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
)yaml";

// One test's world: a scripted upstream (plain HTTP, or HTTPS with the dev PKI's upstream
// certificate) behind the real gateway.
struct hostile_rig {
  temp_dir dir;
  scripted_upstream up;
  std::unique_ptr<gateway> gw;

  // `limits`: the config's limits mapping (the default keeps heads and held bodies small).
  explicit hostile_rig(scripted_upstream::script s, bool tls = false,
                       const std::string& limits =
                           "{max_header_bytes: 4096, max_body_bytes: 4096, drain_timeout_ms: 3000}")
      : up(std::move(s), tls ? (pki() / "upstream.pem").string() : std::string(),
           tls ? (pki() / "upstream.key").string() : std::string()) {
    dir.write("agreements/hostile-test.yaml", hostile_agreement);
    const std::string p = pki().string();
    std::string upstream = "  hostile:\n    url: \"" + std::string(tls ? "https" : "http") +
                           "://127.0.0.1:" + std::to_string(up.port()) + "\"\n";
    if (tls) {
      upstream += "    ca_file: " + p + "/upstream-ca.pem\n";
    }
    gw = std::make_unique<gateway>(dir,
                                   "listen: 127.0.0.1:0\n"
                                   "admin_listen: 127.0.0.1:0\n"
                                   "threads: 1\n"
                                   "tls:\n"
                                   "  certificate: " +
                                       p +
                                       "/gateway.pem\n"
                                       "  private_key: " +
                                       p +
                                       "/gateway.key\n"
                                       "  trust_anchors:\n"
                                       "    - {name: partner-ca, ca_file: " +
                                       p + "/ca.pem, crl_file: " + p +
                                       "/crl.pem}\n"
                                       "agreements_dir: agreements\n"
                                       "upstreams:\n" +
                                       upstream +
                                       "    connect_timeout_ms: 1000\n"
                                       "    response_timeout_ms: 3000\n"
                                       "audit: {path: audit.db, signing_key: audit-key.pem, "
                                       "origin: \"hostile test\"}\n"
                                       "limits: " +
                                       limits + "\n");
  }
  std::vector<dsa::audit::entry> requests() const {
    return audit_entries(gw->audit_db(), "request");
  }
};

// The body the streaming and upload tests send: one 1 MiB block of pseudo-random bytes
// (xorshift32), repeated, so a test can send or hash any length of it without holding it.
inline const std::string& block() {
  static const std::string b = [] {
    std::string out(1 << 20, '\0');
    std::uint32_t x = 2463534242u;
    for (char& c : out) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      c = static_cast<char>(x & 0xff);
    }
    return out;
  }();
  return b;
}

// The SHA-256 of the first `n` bytes of the repeated block().
inline std::string prefix_sha256(std::uint64_t n) {
  dsa::common::sha256_stream h;
  while (n > 0) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, block().size()));
    h.update(std::string_view(block()).substr(0, take));
    n -= take;
  }
  return h.hex();
}

// The resident set of process `pid` in KiB (VmRSS), or -1.
inline std::int64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoll(line.substr(6));
    }
  }
  return -1;
}

// The entries of one request, in log order.
inline std::vector<dsa::audit::entry> entries_of(const hostile_rig& w,
                                                 const std::string& request_id) {
  std::vector<dsa::audit::entry> out;
  for (auto& e : audit_entries(w.gw->audit_db(), "")) {
    if (e.request_id == request_id) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

// The entries of one request once there are `n` of them (an end entry is committed after the
// last byte has left, so a client can see the end before the store does); waits at most 5 s.
inline std::vector<dsa::audit::entry> wait_entries(const hostile_rig& w,
                                                   const std::string& request_id, std::size_t n) {
  std::vector<dsa::audit::entry> e = entries_of(w, request_id);
  for (int i = 0; i < 250 && e.size() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    e = entries_of(w, request_id);
  }
  return e;
}

// A GET for `path` with the purpose the agreement permits, plus `extra` header lines.
inline std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: test-purpose\r\n" + extra +
         "\r\n";
}

}  // namespace dsa::gateway::testing
