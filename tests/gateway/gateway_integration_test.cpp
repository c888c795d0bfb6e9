// Integration tests of dsa-gateway's request path: real processes, real TLS on loopback, an
// upstream that records the exact bytes it receives, and the audit store read back
// (integration_rig.hpp).
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tests/gateway/harness.hpp"
#include "tests/gateway/integration_rig.hpp"

namespace {
using namespace dsa::gateway::testing;
namespace json = boost::json;
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

TEST_CASE("a keep-alive connection reads heads larger than its idle read buffer, whole or split",
          "[gateway][integration]") {
  // An idle connection waits for its next request with a 1 KiB read buffer (docs/performance.md
  // §7); a longer head, and one whose bytes come in two writes, must still be read whole.
  rig w;
  tls_client c(w.gw->port(), "northshire-police");
  REQUIRE(c.handshake_ok());
  const std::string pad = "X-Pad: " + std::string(3000, 'p') + "\r\n";
  const std::string large = get_case(case_path, pad);
  REQUIRE(large.size() > 3000);
  REQUIRE(large.size() < 4096);  // under the rig's limits.max_header_bytes
  REQUIRE(c.send(get_case()));
  auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(c.send(large));
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(c.send(large.substr(0, 600)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(c.send(large.substr(600)));
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(c.send(get_case()));
  r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(w.forwarded() == 4);
  CHECK(w.requests().size() == 4);
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
