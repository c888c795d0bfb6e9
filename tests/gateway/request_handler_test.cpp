// The request handler without sockets: parsed heads in, outcomes and audit entries out, with
// the upstream's answers built by hand — every refusal path, and what a hostile or unusual
// upstream answer turns into. The same code runs in the gateway (session.cpp only adds I/O).
#include "gateway/request_handler.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/hex.hpp"
#include "policy/loader.hpp"
#include "policy/volume.hpp"
#include "tests/common/temp_dir.hpp"

namespace {

using namespace dsa::gateway;
using dsa::policy::reason;
namespace json = boost::json;
namespace fs = std::filesystem;

const char* const agreement = R"yaml(schema: dsa/v1
id: handler-test
version: 2.1.0
title: Request handler test agreement
status: active
validity: {from: 2020-01-01, until: 2099-01-01}
parties:
  - id: police
    name: Test Police
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://police.test/gw"}]
  - id: council
    name: Test Council
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://council.test/gw"}]
legal:
  gateways: [{id: cda-s115, cite: Crime and Disorder Act 1998 s.115}]
  lawful_bases: [{id: public-task, cite: "UK GDPR Art 6(1)(e)"}]
purposes:
  - {id: asb, description: ASB case management}
data_categories:
  - {id: rec, description: A record, personal_data: true, special_category: false, criminal_offence_data: false, retention: 1 year}
endpoints:
  - id: case
    provider: council
    upstream: council-asb
    method: GET
    path: /cases/{id}
    path_params: {id: "C-[0-9]{4}"}
    data_categories: [rec]
    response:
      allow_fields: [/id, /status]
      withhold_if: [{pointer: /restricted, equals: true}]
      max_items: {pointer: /notes, max: 2}
      add_headers: {Handling-Caveat: OFFICIAL-SENSITIVE}
  - id: clip
    provider: council
    upstream: council-asb
    method: GET
    path: /clips/{id}
    data_categories: [rec]
    response: {ranges: true, max_bytes: 1000}
  - id: file
    provider: council
    upstream: council-asb
    method: GET
    path: /files/{id}
    data_categories: [rec]
  - id: note
    provider: council
    upstream: council-asb
    method: POST
    path: /cases/{id}/notes
    path_params: {id: "C-[0-9]{4}"}
    data_categories: [rec]
    response: {allow_fields: [/note_id]}
  - id: evidence
    provider: council
    upstream: council-asb
    method: POST
    path: /cases/{id}/evidence
    data_categories: [rec]
    request: {max_bytes: 5000}
  - id: form
    provider: council
    upstream: council-asb
    method: POST
    path: /forms/{id}
    data_categories: [rec]
    request: {max_bytes: 50}
    response: {allow_fields: [/id]}
permissions:
  - id: police-evidence
    assignee: police
    endpoints: [evidence]
    purposes: [asb]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    volume_caps: [{scope: assignee, window: P1D, max: 1}]
  - id: police-cases
    assignee: police
    endpoints: [case, clip, file, note, form]
    purposes: [asb]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    require: {case_ref: "C-[0-9]{4}", case_ref_param: id}
)yaml";

struct fixture {
  dsa::test::temp_dir tmp{"dsa-handler"};
  fs::path dir = tmp.path();
  config cfg;
  std::shared_ptr<const dsa::policy::engine> eng;
  dsa::policy::memory_volume_counter counter;
  request_handler handler{cfg, counter};
  peer_identity police, stranger;

  fixture() {
    std::ofstream(dir / "handler-test.yaml") << agreement;
    dsa::policy::load_options opts;
    opts.now = dsa::policy::time_point(std::chrono::seconds(1'800'000'000));
    auto loaded = dsa::policy::load_agreements({dir}, opts);
    REQUIRE(loaded.ok());
    upstream_config up;
    up.name = "council-asb";
    up.authority = "council.internal:8443";
    cfg.upstreams["council-asb"] = up;
    eng = std::make_shared<const dsa::policy::engine>(loaded.set,
                                                      std::set<std::string>{"council-asb"});
    police.id.trust_anchor = "partner-ca";
    police.id.uri_sans = {"spiffe://police.test/gw"};
    police.id.subject = "CN=police";
    police.cert_sha256 = "aa";
    stranger.id.trust_anchor = "partner-ca";
    stranger.id.uri_sans = {"spiffe://stranger.test/gw"};
  }
  // A request from `who` with `head` (a complete header block) and `body`, through check_head
  // and decide.
  std::pair<request_state, std::variant<outcome, forward_plan>> run(const peer_identity& who,
                                                                    const std::string& head,
                                                                    const std::string& body = "") {
    request_state r = handler.begin(who, eng, "rid-1", 1'800'000'000'000'000, "127.0.0.1:40000");
    if (auto refused = handler.check_head(r, parse_request_head(head))) {
      return {std::move(r), std::move(*refused)};
    }
    r.body = body;
    auto step = handler.decide(r);
    return {std::move(r), std::move(step)};
  }
};

std::string get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb\r\nDSA-Case-Ref: C-0001\r\n" +
         extra + "\r\n";
}

std::string reason_of(const outcome& o) {
  return std::string(json::parse(o.body).at("reason").as_string());
}

upstream_response answer(int status, std::string body) {
  upstream_response res;
  res.why = reason::allowed;
  res.status = status;
  res.content_type = "application/json";
  res.body = std::move(body);
  res.latency_us = 1500;
  return res;
}

}  // namespace

TEST_CASE("handler: an allowed request is forwarded canonical, then filtered and audited",
          "[gateway][handler]") {
  fixture f;
  auto [r, step] = f.run(f.police, get("/cases/C-0001", "X-Forwarded-For: 1.2.3.4\r\n"));
  REQUIRE(std::holds_alternative<forward_plan>(step));
  const forward_plan& plan = std::get<forward_plan>(step);
  CHECK(plan.upstream == "council-asb");
  CHECK(plan.idempotent);
  CHECK_FALSE(plan.intent);
  CHECK(plan.head.rfind("GET /cases/C-0001 HTTP/1.1\r\nHost: council.internal:8443\r\n", 0) == 0);
  CHECK(plan.head.find("X-Forwarded-For") == std::string::npos);
  CHECK(plan.head.find("DSA-Agreement: handler-test@2.1.0\r\n") != std::string::npos);
  // Every DSA-* value the upstream receives is the one the entry records.
  CHECK(plan.head.find("DSA-Case-Ref: " + r.entry.case_ref + "\r\n") != std::string::npos);
  CHECK(plan.head.find("DSA-Purpose: " + r.entry.purpose + "\r\n") != std::string::npos);
  CHECK(plan.head.find("DSA-Requester: police\r\n") != std::string::npos);

  outcome o = f.handler.complete(
      r, answer(200, R"({"id":"C-0001","status":"open","informant":"Jane","notes":[1]})"));
  CHECK(o.status == 200);
  CHECK(o.body == R"({"id":"C-0001","status":"open"})");
  CHECK(dsa::audit::decision_text(r.entry) == "allow");
  CHECK(r.entry.counted);
  CHECK(r.entry.fields_removed == 2);
  CHECK(r.entry.bytes == static_cast<std::int64_t>(o.body.size()));
  CHECK(r.entry.body_sha256 == dsa::common::sha256_hex(o.body));
  CHECK(r.entry.upstream_latency_us == 1500);
  const header_list want{{"Content-Type", "application/json"},
                         {"Cache-Control", "no-store"},
                         {"DSA-Agreement", "handler-test@2.1.0"},
                         {"Handling-Caveat", "OFFICIAL-SENSITIVE"}};
  CHECK(o.fields == want);
}

TEST_CASE("handler: refusals before forwarding name their reason, status and entry",
          "[gateway][handler]") {
  fixture f;
  struct refusal {
    std::string head;
    std::string body;
    int status;
    const char* reason;
    const char* decision;
    bool close;
  };
  const std::vector<refusal> cases = {
      {"GET /cases/C-0001 HTTP/1.1\r\nHost: gw\r\nHost: gw2\r\n\r\n", "", 400, "bad_request",
       "reject", true},
      {get("/cases/C-0001", "Content-Length: 3\r\n"), "", 400, "bad_request", "reject", true},
      {get("/cases/C-0001", "Transfer-Encoding: chunked\r\n"), "", 400, "bad_request", "reject",
       true},
      {get("/cases/..%2FC-0001"), "", 400, "bad_request", "reject", false},
      {get("/cases/C-0001", "DSA-Purpose: asb\r\n"), "", 400, "bad_request", "reject", false},
      {get("/cases/C-9999"), "", 403, "case_ref_mismatch", "deny", false},
      {"GET /cases/C-0001 HTTP/1.1\r\nHost: gw\r\nDSA-Case-Ref: C-0001\r\n\r\n", "", 403,
       "purpose_missing", "deny", false},
      {get("/cases/C-0001", "Connection: close\r\nDSA-Agreement: other\r\n"), "", 403,
       "no_agreement", "deny", true},
      {get("/nothing/here"), "", 403, "no_agreement", "deny", false},
  };
  for (const auto& c : cases) {
    INFO(c.head);
    auto [r, step] = f.run(f.police, c.head, c.body);
    REQUIRE(std::holds_alternative<outcome>(step));
    const outcome& o = std::get<outcome>(step);
    CHECK(o.status == c.status);
    CHECK(reason_of(o) == c.reason);
    CHECK(o.close == c.close);
    CHECK(dsa::audit::decision_text(r.entry) == c.decision);
    CHECK(r.entry.reason == c.reason);
    CHECK(r.entry.status == c.status);
    CHECK_FALSE(r.entry.counted);
    CHECK(r.entry.requester.party == "police");
    CHECK(json::parse(o.body).at("request_id") == "rid-1");
    const header_list want{{"Content-Type", "application/problem+json"},
                           {"Cache-Control", "no-store"}};
    CHECK(o.fields == want);
  }
}

TEST_CASE("handler: an unknown certificate is refused and the entry keeps its subject",
          "[gateway][handler]") {
  fixture f;
  auto [r, step] = f.run(f.stranger, get("/cases/C-0001"));
  REQUIRE(std::holds_alternative<outcome>(step));
  CHECK(std::get<outcome>(step).status == 403);
  CHECK(reason_of(std::get<outcome>(step)) == "unknown_requester");
  CHECK(r.entry.requester.party.empty());
  CHECK(r.entry.agreement.empty());
}

TEST_CASE("handler: a state-changing request has its intent audited before forwarding",
          "[gateway][handler]") {
  fixture f;
  auto [r, step] =
      f.run(f.police,
            "POST /cases/C-0001/notes HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb\r\nDSA-Case-Ref: "
            "C-0001\r\nContent-Length: 2\r\n\r\n",
            "{}");
  REQUIRE(std::holds_alternative<forward_plan>(step));
  const forward_plan& plan = std::get<forward_plan>(step);
  REQUIRE(plan.intent);
  CHECK(dsa::audit::kind_text(*plan.intent) == "forwarding");
  CHECK_FALSE(plan.intent->counted);
  CHECK_FALSE(plan.idempotent);
  CHECK(plan.head.find("Content-Length: 2\r\n") != std::string::npos);
}

TEST_CASE("handler: what the upstream answers decides what leaves", "[gateway][handler]") {
  struct upstream_case {
    const char* name;
    upstream_response res;
    int status;
    const char* reason;  // empty: allowed
    const char* decision;
    bool body_empty;
  };
  upstream_response down;
  down.why = reason::upstream_unavailable;
  down.error = "connect refused";
  upstream_response slow;
  slow.why = reason::upstream_timeout;
  upstream_response huge;
  huge.why = reason::response_too_large;
  const std::vector<upstream_case> cases = {
      {"down", down, 502, "upstream_unavailable", "error", false},
      {"slow", slow, 504, "upstream_timeout", "error", false},
      {"too large", huge, 502, "response_too_large", "withheld", false},
      {"404", answer(404, R"({"secret":"s"})"), 404, "upstream_status", "error", false},
      {"500", answer(500, "stack trace"), 500, "upstream_status", "error", false},
      {"206 slice", answer(206, R"({"id":"C-0001","st)"), 502, "response_not_filterable",
       "withheld", false},
      {"restricted", answer(200, R"({"id":"C-0001","restricted":true})"), 403,
       "withheld_by_agreement", "withheld", false},
      {"too many", answer(200, R"({"id":"C-0001","notes":[1,2,3]})"), 403, "too_many_items",
       "withheld", false},
      {"not json", answer(200, "<html>"), 502, "response_not_filterable", "withheld", false},
      {"204", answer(204, ""), 204, "", "allow", true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    fixture f;
    auto [r, step] = f.run(f.police, get("/cases/C-0001"));
    REQUIRE(std::holds_alternative<forward_plan>(step));
    outcome o = f.handler.complete(r, c.res);
    CHECK(o.status == c.status);
    CHECK(dsa::audit::decision_text(r.entry) == c.decision);
    CHECK(r.entry.reason == c.reason);
    CHECK(r.entry.counted);  // the policy allowed it: it counts toward caps whatever followed
    CHECK(o.body.empty() == c.body_empty);
    if (!c.body_empty) {
      // Never the upstream's body, never the rule that withheld it.
      CHECK(reason_of(o) == c.reason);
      CHECK(o.body.find("secret") == std::string::npos);
      CHECK(o.body.find("restricted") == std::string::npos);
      CHECK(o.body.find("stack trace") == std::string::npos);
    }
  }
}

TEST_CASE("handler: Range reaches a streamed endpoint only when its agreement allows ranges",
          "[gateway][handler]") {
  fixture f;
  auto [r, step] = f.run(f.police, get("/clips/C-0001", "Range: bytes=0-3\r\n"));
  REQUIRE(std::holds_alternative<forward_plan>(step));
  CHECK(r.streamed);
  CHECK(r.range == "bytes=0-3");
  CHECK(std::get<forward_plan>(step).head.find("Range: bytes=0-3\r\n") != std::string::npos);
  auto [r2, step2] = f.run(f.police, get("/files/C-0001", "Range: bytes=0-3\r\n"));
  REQUIRE(std::holds_alternative<forward_plan>(step2));
  CHECK(r2.streamed);
  CHECK(r2.range.empty());
  CHECK(std::get<forward_plan>(step2).head.find("Range") == std::string::npos);
  // A 206 nobody asked for is withheld, streamed or buffered.
  upstream_response slice = answer(206, "");
  slice.body_follows = true;
  auto refused = f.handler.start_stream(r2, slice);
  REQUIRE(std::holds_alternative<outcome>(refused));
  CHECK(std::get<outcome>(refused).status == 502);
  CHECK(reason_of(std::get<outcome>(refused)) == "response_not_filterable");
  CHECK(dsa::audit::decision_text(r2.entry) == "withheld");
}

TEST_CASE("handler: a streamed answer is started with a counted entry and ended with what left",
          "[gateway][handler]") {
  fixture f;
  auto [r, step] = f.run(f.police, get("/clips/C-0001", "Range: bytes=0-99\r\n"));
  REQUIRE(std::holds_alternative<forward_plan>(step));
  upstream_response head = answer(206, "");
  head.content_type = "video/mp4";
  head.content_length = 100;
  head.content_range = "bytes 0-99/5000";
  head.body_follows = true;
  auto started = f.handler.start_stream(r, head);
  REQUIRE(std::holds_alternative<stream_plan>(started));
  const stream_plan& sp = std::get<stream_plan>(started);
  CHECK(sp.head.status == 206);
  CHECK(sp.length == std::optional<std::uint64_t>(100));
  CHECK(sp.max_bytes == 1000);
  CHECK(dsa::audit::kind_text(sp.started) == "disclosure_started");
  CHECK(dsa::audit::decision_text(sp.started) == "allow");
  CHECK(sp.started.counted);
  CHECK(sp.started.details.at("content_range") == "bytes 0-99/5000");
  CHECK(sp.started.details.at("range") == "bytes=0-99");
  CHECK(sp.started.details.at("declared_length").as_int64() == 100);
  bool has_range = false;
  for (const auto& [name, value] : sp.head.fields) {
    has_range = has_range || (name == "Content-Range" && value == "bytes 0-99/5000");
  }
  CHECK(has_range);

  const auto done = f.handler.end_stream(r, stream_end::completed, 100, "ab", "");
  CHECK(dsa::audit::kind_text(done) == "disclosure_completed");
  CHECK_FALSE(done.counted);
  CHECK(done.bytes == 100);
  CHECK(done.body_sha256 == "ab");
  CHECK(done.request_id == sp.started.request_id);
  CHECK(done.requester.party == sp.started.requester.party);
  const auto cut = f.handler.end_stream(r, stream_end::client_closed, 40, "cd", "reset");
  CHECK(dsa::audit::kind_text(cut) == "disclosure_interrupted");
  CHECK(cut.details.at("cause") == "client_closed");
  CHECK(cut.details.at("error") == "reset");

  // Declared over the endpoint's response.max_bytes: refused before a byte is read.
  auto [r2, step2] = f.run(f.police, get("/clips/C-0001"));
  REQUIRE(std::holds_alternative<forward_plan>(step2));
  upstream_response big = answer(200, "");
  big.content_length = 1001;
  big.body_follows = true;
  auto refused = f.handler.start_stream(r2, big);
  REQUIRE(std::holds_alternative<outcome>(refused));
  CHECK(reason_of(std::get<outcome>(refused)) == "response_too_large");
  CHECK(dsa::audit::decision_text(r2.entry) == "withheld");
  CHECK(r2.entry.counted);  // the policy allowed it: it counts toward caps, as every withheld one
}

TEST_CASE("handler: the audit-unavailable answer discloses nothing", "[gateway][handler]") {
  fixture f;
  auto [r, step] = f.run(f.police, get("/cases/C-0001"));
  outcome o = request_handler::audit_unavailable(r, false);
  CHECK(o.status == 503);
  CHECK(reason_of(o) == "audit_unavailable");
  CHECK(json::parse(o.body).at("request_id") == "rid-1");
}

TEST_CASE("handler: allow entries say why and what left; refusals name no lawful basis",
          "[gateway][handler]") {
  using list = std::vector<std::string>;
  fixture f;
  // Allowed and filtered: the permission's citations, the patterns that released something
  // (/status matched nothing here), and the client's address on the entry.
  auto [r, step] = f.run(f.police, get("/cases/C-0001"));
  REQUIRE(std::holds_alternative<forward_plan>(step));
  CHECK(r.client == "127.0.0.1:40000");
  outcome o = f.handler.complete(r, answer(200, R"({"id":"C-0001","informant":"Jane"})"));
  REQUIRE(o.status == 200);
  CHECK(r.entry.client == "127.0.0.1:40000");
  CHECK(r.entry.lawful_basis == list{"public-task"});
  CHECK(r.entry.legal_gateway == list{"cda-s115"});
  CHECK(r.entry.released_fields == list{"/id"});

  // Withheld after the policy allowed it: nothing left, so no lawful basis and no fields.
  auto [w, wstep] = f.run(f.police, get("/cases/C-0001"));
  REQUIRE(std::holds_alternative<forward_plan>(wstep));
  const outcome wo = f.handler.complete(w, answer(200, R"({"id":"C-0001","restricted":true})"));
  CHECK(wo.body.find("C-0001") == std::string::npos);
  CHECK(dsa::audit::decision_text(w.entry) == "withheld");
  CHECK(w.entry.lawful_basis.empty());
  CHECK(w.entry.legal_gateway.empty());
  CHECK(w.entry.released_fields.empty());
  CHECK(w.entry.client == "127.0.0.1:40000");

  // Denied by the policy.
  auto [d, dstep] = f.run(f.police, get("/cases/C-9999"));
  REQUIRE(std::holds_alternative<outcome>(dstep));
  CHECK(dsa::audit::decision_text(d.entry) == "deny");
  CHECK(d.entry.lawful_basis.empty());
  CHECK(d.entry.client == "127.0.0.1:40000");

  // A forwarding intent and a streamed disclosure's entries carry the citations; a streamed
  // endpoint has no allow_fields, so no released_fields.
  auto [p, pstep] =
      f.run(f.police,
            "POST /cases/C-0001/notes HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb\r\nDSA-Case-Ref: "
            "C-0001\r\nContent-Length: 2\r\n\r\n",
            "{}");
  REQUIRE(std::holds_alternative<forward_plan>(pstep));
  REQUIRE(std::get<forward_plan>(pstep).intent);
  CHECK(std::get<forward_plan>(pstep).intent->lawful_basis == list{"public-task"});
  CHECK(std::get<forward_plan>(pstep).intent->client == "127.0.0.1:40000");
  auto [s, sstep] = f.run(f.police, get("/files/C-0001"));
  REQUIRE(std::holds_alternative<forward_plan>(sstep));
  upstream_response head = answer(200, "");
  head.content_length = 10;
  head.body_follows = true;
  auto started = f.handler.start_stream(s, head);
  REQUIRE(std::holds_alternative<stream_plan>(started));
  const auto& sp = std::get<stream_plan>(started);
  CHECK(sp.started.lawful_basis == list{"public-task"});
  CHECK(sp.started.legal_gateway == list{"cda-s115"});
  CHECK(sp.started.released_fields.empty());
  CHECK(sp.started.client == "127.0.0.1:40000");
  CHECK(f.handler.end_stream(s, stream_end::completed, 10, "ab", "").client == "127.0.0.1:40000");
}

TEST_CASE(
    "handler: route_body streams a body only to a streamed endpoint, within its limit, and "
    "counts nothing",
    "[gateway][handler]") {
  fixture f;
  auto route = [&](const peer_identity& who, const std::string& head) {
    request_state r =
        f.handler.begin(who, f.eng, "rid-1", 1'800'000'000'000'000, "127.0.0.1:40000");
    REQUIRE_FALSE(f.handler.check_head(r, parse_request_head(head)));
    return f.handler.route_body(r);
  };
  auto post = [](const std::string& target, const std::string& framing) {
    return "POST " + target +
           " HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb\r\nDSA-Case-Ref: C-0001\r\n" + framing +
           "\r\n";
  };
  // A streamed endpoint: streamed, within its own request.max_bytes.
  body_route b = route(f.police, post("/cases/C-0001/evidence", "Content-Length: 10\r\n"));
  CHECK(b.streamed);
  CHECK(b.limit == 5000);
  // Asked twice, and the one-a-day cap is still free: route_body counted nothing.
  CHECK(route(f.police, post("/cases/C-0001/evidence", "Content-Length: 10\r\n")).streamed);
  // JSON rules: read whole, within the smaller limit; without request.max_bytes, the gateway's.
  b = route(f.police, post("/forms/C-0001", "Content-Length: 10\r\n"));
  CHECK_FALSE(b.streamed);
  CHECK(b.limit == 50);
  b = route(f.police, post("/cases/C-0001/notes", "Content-Length: 10\r\n"));
  CHECK_FALSE(b.streamed);
  CHECK(b.limit == f.cfg.limits.max_body_bytes);
  // A request the policy will refuse is read whole first, as before.
  b = route(f.stranger, post("/cases/C-0001/evidence", "Content-Length: 10\r\n"));
  CHECK_FALSE(b.streamed);
  CHECK(b.limit == f.cfg.limits.max_body_bytes);

  // decide() for an upload keeps the client's framing, and always has an intent.
  request_state r = f.handler.begin(f.police, f.eng, "rid-2", 1'800'000'000'000'000, "c");
  REQUIRE_FALSE(f.handler.check_head(
      r, parse_request_head(post("/cases/C-0001/evidence", "Transfer-Encoding: chunked\r\n"))));
  r.upload = 5000;
  auto step = f.handler.decide(r);
  REQUIRE(std::holds_alternative<forward_plan>(step));
  const forward_plan& plan = std::get<forward_plan>(step);
  CHECK(plan.head.find("\r\nTransfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(plan.head.find("Content-Length") == std::string::npos);
  REQUIRE(plan.intent);
  CHECK(plan.intent->kind == dsa::audit::entry_kind::forwarding);
  CHECK(r.streamed);
  // The counted decision: the cap of one is now full.
  request_state again = f.handler.begin(f.police, f.eng, "rid-3", 1'800'000'000'000'000, "c");
  REQUIRE_FALSE(f.handler.check_head(
      again, parse_request_head(post("/cases/C-0001/evidence", "Content-Length: 10\r\n"))));
  again.upload = 5000;
  auto refused = f.handler.decide(again);
  REQUIRE(std::holds_alternative<outcome>(refused));
  CHECK(std::get<outcome>(refused).status == 429);
}

TEST_CASE("handler: a body held whole over its endpoint's request.max_bytes is refused 413",
          "[gateway][handler]") {
  fixture f;
  auto [r, step] = f.run(f.police,
                         "POST /forms/C-0001 HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb\r\n"
                         "DSA-Case-Ref: C-0001\r\nContent-Length: 60\r\n\r\n",
                         std::string(60, 'x'));
  REQUIRE(std::holds_alternative<outcome>(step));
  CHECK(std::get<outcome>(step).status == 413);
  CHECK(reason_of(std::get<outcome>(step)) == "body_too_large");
  CHECK(r.entry.reason == "body_too_large");
}
