// Emergency disclosures end to end (docs/operations.md, "Emergency disclosures"): the real
// dsa-gateway over mTLS with a real audit store, the sample upstream, and the real `dsa audit
// review` and `dsa audit verify` commands. Every wait is bounded.

#include "gateway/emergency.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <regex>

#include "tests/gateway/harness.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace dsa::gateway::testing {
namespace {

namespace json = boost::json;
using ops::run_command;
using ops::sample;

// Police may read a case's status (police-read-case); when life is at risk they may read the
// whole record, informant included (police-emergency), at most twice per incident a day, each
// disclosure to be reviewed within `review_within`. The informant-only endpoint has no ordinary
// permission at all.
std::string agreement(const std::string& review_within) {
  return R"yaml(schema: dsa/v1
id: test-emerg
version: 1.0.0
title: Emergency test agreement
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
  lawful_bases: [{id: public-task, cite: "UK GDPR Art 6(1)(e)"}, {id: vital-interests, cite: "UK GDPR Art 6(1)(d)"}]
purposes:
  - {id: asb-case-management, description: Managing ASB cases}
  - {id: protect-life, description: Preventing a risk to life}
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
  - id: asb-informant
    provider: council
    upstream: council-asb
    method: GET
    path: /asb/v1/informants/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case]
    response: {allow_fields: [/case_id]}
permissions:
  - id: police-read-case
    assignee: police
    endpoints: [asb-case]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
  - id: police-emergency
    assignee: police
    endpoints: [asb-case, asb-informant]
    purposes: [protect-life]
    lawful_basis: [vital-interests]
    legal_gateway: [cda-s115]
    emergency:
      incident_ref: "INC-[0-9]{6}"
      justification: {min_length: 20}
      review_within: )yaml" +
         review_within + R"yaml(
      response: {allow_fields: [/case_id, /status, /informant]}
    volume_caps:
      - {scope: incident, window: P1D, max: 2}
)yaml";
}

const std::string routes = R"json({"routes": [
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-[0-9]{4}-[0-9]{6})", "fixture": "case.json"},
  {"method": "GET", "path": "/asb/v1/informants/(?P<case_id>ASB-[0-9]{4}-[0-9]{6})", "fixture": "case.json"}
]})json";

struct emergency_rig {
  temp_dir dir;
  std::unique_ptr<upstream> up;
  std::unique_ptr<gateway> gw;

  explicit emergency_rig(const std::string& review_within = "P3D") {
    dir.write("agreements/test-emerg.yaml", agreement(review_within));
    const std::string p = pki().string();
    up = std::make_unique<upstream>(dir, "council-asb", routes, ops::fixtures,
                                    std::vector<std::string>{"--tls-cert", p + "/upstream.pem",
                                                             "--tls-key", p + "/upstream.key"});
    const std::string yaml =
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ntls:\n  certificate: " + p +
        "/gateway.pem\n  private_key: " + p + "/gateway.key\n  trust_anchors:\n" +
        "    - {name: partner-ca, ca_file: " + p + "/ca.pem, crl_file: " + p +
        "/crl.pem}\nagreements_dir: agreements\nupstreams:\n  council-asb:\n" +
        "    url: \"https://127.0.0.1:" + std::to_string(up->port()) + "\"\n    ca_file: " + p +
        "/upstream-ca.pem\n    connect_timeout_ms: 1000\n    response_timeout_ms: 5000\n" +
        "audit: {path: audit.db, signing_key: audit-key.pem}\nlimits: {drain_timeout_ms: 5000}\n";
    gw = std::make_unique<gateway>(dir, yaml);
  }

  std::string admin_url() const { return "http://127.0.0.1:" + std::to_string(gw->admin_port()); }
  std::string metrics() const { return admin_get(gw->admin_port(), "/metrics").second; }
  std::string stderr_log() const { return read_file(dir.path() / "gateway-stderr.log"); }
};

const std::string justification = "caller reports a man with a knife at the informant's address";

// One request from the police gateway certificate; `incident` empty: no emergency declared.
response ask(int port, const std::string& path, const std::string& incident,
             const std::string& why = justification) {
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: gw.test\r\n";
  if (incident.empty()) {
    req += "DSA-Purpose: asb-case-management\r\n";
  } else {
    req += "DSA-Purpose: protect-life\r\nDSA-Emergency: " + incident +
           "\r\nDSA-Emergency-Justification: " + why + "\r\n";
  }
  req += "\r\n";
  tls_client c(port, "northshire-police");
  REQUIRE(c.handshake_ok());
  REQUIRE(c.send(req));
  auto r = c.read_response();
  REQUIRE(r);
  return *r;
}

// The last request entry with this request id.
audit::entry entry_of(const fs::path& db, const std::string& request_id) {
  for (const auto& e : audit_entries(db, "request")) {
    if (e.request_id == request_id) {
      return e;
    }
  }
  FAIL("no request entry with id " << request_id);
  return {};
}

std::string dsa_binary() { return "'" + std::string(DSA_BINARY_DIR) + "/tools/dsa'"; }

int review(const emergency_rig& w, const std::string& target, const std::string& outcome,
           std::string* out) {
  return run_command(dsa_binary() + " audit review --admin " + w.admin_url() + " " + target +
                         " --outcome " + outcome +
                         " --reviewer 'Insp. A. Duty (IG)' --note 'risk to life confirmed by the "
                         "call log'",
                     out);
}

// A raw POST to the admin listener: (status, body).
std::pair<int, std::string> admin_post(int port, const std::string& path, const std::string& body) {
  const int fd = connect_tcp(port);
  REQUIRE(fd >= 0);
  const std::string req = "POST " + path +
                          " HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\n"
                          "Content-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string raw;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    raw.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || head_end == std::string::npos) {
    return {0, raw};
  }
  return {std::stoi(raw.substr(9, 3)), raw.substr(head_end + 4)};
}

const std::string case_path = "/asb/v1/cases/ASB-2026-000001";
const std::string informant_path = "/asb/v1/informants/ASB-2026-000001";
const std::string disclosures_metric =
    "dsa_emergency_disclosures_total{agreement=\"test-emerg\",permission=\"police-emergency\"}";

}  // namespace

TEST_CASE("emergency: review requests are checked member by member", "[gateway][emergency]") {
  auto ok = parse_review_request(
      R"({"request_id":"abc","outcome":"justified","reviewer":"R","note":"N"})");
  REQUIRE(ok);
  CHECK(ok->request_id == "abc");
  CHECK_FALSE(ok->seq);
  auto by_seq =
      parse_review_request(R"({"seq":7,"outcome":"needs_escalation","reviewer":"R","note":"N"})");
  REQUIRE(by_seq);
  CHECK(by_seq->seq == 7u);
  const std::pair<std::string, std::string> bad[] = {
      {"not json", "not JSON"},
      {"[]", "must be a JSON object"},
      {R"({"outcome":"justified","reviewer":"R","note":"N"})", "exactly one of"},
      {R"({"seq":1,"request_id":"a","outcome":"justified","reviewer":"R","note":"N"})",
       "exactly one of"},
      {R"({"seq":-1,"outcome":"justified","reviewer":"R","note":"N"})", "non-negative integer"},
      {R"({"seq":1,"outcome":"fine","reviewer":"R","note":"N"})", "\"outcome\" must be"},
      {R"({"seq":1,"outcome":"justified","reviewer":"","note":"N"})", "\"reviewer\" must be 1"},
      {R"({"seq":1,"outcome":"justified","reviewer":"R"})", "\"note\" is missing"},
      {R"({"seq":1,"outcome":"justified","reviewer":"R","note":"N","extra":1})",
       "unknown member \"extra\""},
  };
  for (const auto& [body, says] : bad) {
    INFO(body);
    auto r = parse_review_request(body);
    REQUIRE_FALSE(r);
    CHECK(r.error().find(says) != std::string::npos);
  }
  CHECK(emergency_review_field(1764553632999999, "P3D") == "due=2025-12-01T01:47:12Z; within=P3D");
}

TEST_CASE("emergency: without DSA-Emergency the emergency permission is never tried",
          "[gateway][emergency]") {
  emergency_rig w;
  const response ordinary = ask(w.gw->port(), case_path, "");
  CHECK(ordinary.status == 200);
  CHECK_FALSE(ordinary.has_header("DSA-Emergency-Review"));
  CHECK(ordinary.body.find("Jane Witness") == std::string::npos);  // the endpoint's own rules
  const audit::entry e = entry_of(w.gw->audit_db(), ordinary.header("DSA-Request-Id"));
  CHECK(e.permission == "police-read-case");
  CHECK(e.incident_ref.empty());
  CHECK(e.review_due_us == 0);

  // Only the emergency permission covers the informant endpoint: refused without a declaration.
  const response refused = ask(w.gw->port(), informant_path, "");
  CHECK(refused.status == 403);
  const audit::entry r = entry_of(w.gw->audit_db(), refused.header("DSA-Request-Id"));
  CHECK(r.decision == audit::entry_decision::deny);
  CHECK(r.permission != "police-emergency");
  CHECK_FALSE(sample(w.metrics(), disclosures_metric));
}

TEST_CASE("emergency: an emergency disclosure is released, flagged, recorded, counted and logged",
          "[gateway][emergency]") {
  emergency_rig w;
  const response ok = ask(w.gw->port(), case_path, "INC-000001");
  REQUIRE(ok.status == 200);
  // Released under the emergency block's own response rules: the informant leaves too.
  CHECK(ok.body.find("Jane Witness") != std::string::npos);
  const std::string field = ok.header("DSA-Emergency-Review");
  INFO(field);
  CHECK(std::regex_match(field, std::regex(R"(due=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; within=P3D)")));

  const audit::entry e = entry_of(w.gw->audit_db(), ok.header("DSA-Request-Id"));
  CHECK(e.decision == audit::entry_decision::allow);
  CHECK(e.permission == "police-emergency");
  CHECK(e.incident_ref == "INC-000001");
  CHECK(e.justification == justification);
  CHECK(e.review_due_us == e.time_us + std::int64_t{3} * 86400 * 1000000);

  const std::string m = w.metrics();
  CHECK(sample(m, disclosures_metric) == 1.0);
  CHECK(sample(m, "dsa_emergency_reviews_pending") == 1.0);
  CHECK(sample(m, "dsa_emergency_reviews_overdue") == 0.0);
  const std::string log = w.stderr_log();
  CHECK(log.find("\"level\":\"warn\",\"event\":\"emergency_disclosure\"") != std::string::npos);
  CHECK(log.find("INC-000001") == std::string::npos);  // the reference stays in the store

  // Refused emergencies are on the record with what they declared, and disclose nothing.
  const response bad_ref = ask(w.gw->port(), case_path, "not-an-incident");
  CHECK(bad_ref.status == 403);
  CHECK_FALSE(bad_ref.has_header("DSA-Emergency-Review"));
  const audit::entry d = entry_of(w.gw->audit_db(), bad_ref.header("DSA-Request-Id"));
  CHECK(d.decision == audit::entry_decision::deny);
  CHECK(d.incident_ref == "not-an-incident");
  CHECK(d.justification == justification);
  CHECK(d.review_due_us == 0);
  const response short_why = ask(w.gw->port(), case_path, "INC-000009", "urgent");
  CHECK(short_why.status == 403);
  const audit::entry s = entry_of(w.gw->audit_db(), short_why.header("DSA-Request-Id"));
  CHECK(s.incident_ref == "INC-000009");
  CHECK(s.justification == "urgent");
  CHECK(sample(w.metrics(), disclosures_metric) == 1.0);
}

TEST_CASE("emergency: a per-incident cap refuses the next request, also after a restart",
          "[gateway][emergency]") {
  emergency_rig w;
  CHECK(ask(w.gw->port(), case_path, "INC-000002").status == 200);
  CHECK(ask(w.gw->port(), informant_path, "INC-000002").status == 200);
  const response third = ask(w.gw->port(), case_path, "INC-000002");
  CHECK(third.status == 429);
  CHECK(entry_of(w.gw->audit_db(), third.header("DSA-Request-Id")).reason == "volume_cap_exceeded");
  // Another incident has its own allowance.
  CHECK(ask(w.gw->port(), case_path, "INC-000003").status == 200);

  w.gw->restart();
  // Seeded from the store's entries: the incident's two disclosures still count.
  const response after = ask(w.gw->port(), case_path, "INC-000002");
  CHECK(after.status == 429);
  CHECK(ask(w.gw->port(), case_path, "INC-000003").status == 200);
  CHECK(ask(w.gw->port(), case_path, "INC-000003").status == 429);
}

TEST_CASE("emergency: reviews are recorded through the admin listener and listed by --pending",
          "[gateway][emergency]") {
  emergency_rig w;
  const response a = ask(w.gw->port(), case_path, "INC-000004");
  const response b = ask(w.gw->port(), informant_path, "INC-000005");
  const response ordinary = ask(w.gw->port(), case_path, "");
  REQUIRE(a.status == 200);
  REQUIRE(b.status == 200);
  REQUIRE(ordinary.status == 200);
  const std::string id_a = a.header("DSA-Request-Id");
  const std::string id_b = b.header("DSA-Request-Id");
  const std::string pending =
      dsa_binary() + " audit review --db '" + w.gw->audit_db().string() + "' --pending";

  std::string out;
  CHECK(run_command(pending, &out) == 0);
  INFO(out);
  CHECK(out.find(id_a) != std::string::npos);
  CHECK(out.find(id_b) != std::string::npos);

  out.clear();
  CHECK(review(w, "--request-id " + id_a, "justified", &out) == 0);
  CHECK(out.find("recorded review seq") != std::string::npos);
  // A second review of the same disclosure (an escalation) is recorded too, here by seq.
  const audit::entry da = entry_of(w.gw->audit_db(), id_a);
  out.clear();
  CHECK(review(w, "--seq " + std::to_string(da.seq), "needs_escalation", &out) == 0);

  const auto reviews = audit_entries(w.gw->audit_db(), "review");
  REQUIRE(reviews.size() == 2);
  CHECK(reviews[0].request_id == id_a);
  CHECK(reviews[0].details.at("seq").to_number<std::uint64_t>() == da.seq);
  CHECK(reviews[0].details.at("outcome") == "justified");
  CHECK(reviews[0].details.at("reviewer") == "Insp. A. Duty (IG)");
  CHECK(reviews[0].details.at("note") == "risk to life confirmed by the call log");
  CHECK(reviews[1].details.at("outcome") == "needs_escalation");

  // Not an emergency disclosure: refused, nothing appended.
  const audit::entry plain = entry_of(w.gw->audit_db(), ordinary.header("DSA-Request-Id"));
  out.clear();
  CHECK(review(w, "--seq " + std::to_string(plain.seq), "justified", &out) == 1);
  CHECK(out.find("not an emergency disclosure") != std::string::npos);
  out.clear();
  CHECK(review(w, "--request-id " + plain.request_id, "justified", &out) == 1);
  CHECK(out.find("no emergency disclosure has request id") != std::string::npos);
  out.clear();
  CHECK(review(w, "--seq 999999", "justified", &out) == 1);
  CHECK(out.find("no entry with seq 999999") != std::string::npos);
  // Straight to the listener: a malformed request is 400, another method 405.
  const auto [bad_status, bad_body] = admin_post(w.gw->admin_port(), "/admin/reviews", "{}");
  CHECK(bad_status == 400);
  CHECK(bad_body.find("exactly one of") != std::string::npos);
  CHECK(admin_get(w.gw->admin_port(), "/admin/reviews").first == 405);
  CHECK(audit_entries(w.gw->audit_db(), "review").size() == 2);

  // The review entries verify with the rest of the log.
  out.clear();
  CHECK(run_command(dsa_binary() + " audit verify --db '" + w.gw->audit_db().string() + "'",
                    &out) == 0);

  out.clear();
  CHECK(run_command(pending + " --format json", &out) == 0);
  // stderr is mixed in (run_command): a note about entries not yet under a checkpoint may come
  // first; the JSON is the line that starts with '{'.
  const auto json_at = out.find("\n{");
  const json::value listed = json::parse(out[0] == '{' ? out : out.substr(json_at + 1));
  REQUIRE(listed.at("pending") == 1);
  CHECK(listed.at("disclosures").at(0).at("request_id").as_string() == id_b);
  CHECK(listed.at("disclosures").at(0).at("incident_ref") == "INC-000005");
  CHECK(listed.at("disclosures").at(0).at("overdue") == false);
  CHECK(out.find(id_a) == std::string::npos);

  const std::string m = w.metrics();
  CHECK(sample(m, "dsa_emergency_reviews_pending") == 1.0);
  CHECK(sample(m, "dsa_emergency_reviews_total{outcome=\"justified\"}") == 1.0);
  CHECK(sample(m, "dsa_emergency_reviews_total{outcome=\"needs_escalation\"}") == 1.0);
}

TEST_CASE("emergency: an overdue review shows in /metrics and the log, also after a restart",
          "[gateway][emergency]") {
  emergency_rig w("PT1S");
  const response a = ask(w.gw->port(), case_path, "INC-000006");
  REQUIRE(a.status == 200);
  CHECK(a.header("DSA-Emergency-Review").find("; within=PT1S") != std::string::npos);
  CHECK(sample(w.metrics(), "dsa_emergency_reviews_overdue") == 0.0);
  CHECK(ops::rig::wait_for(
      [&] { return sample(w.metrics(), "dsa_emergency_reviews_overdue") == 1.0; }, 4000ms));

  std::string out;
  CHECK(
      run_command(dsa_binary() + " audit review --db '" + w.gw->audit_db().string() + "' --pending",
                  &out) == 0);
  CHECK(out.find("OVERDUE") != std::string::npos);

  // Seeded from the store at start, and reported once then.
  w.gw->restart();
  CHECK(sample(w.metrics(), "dsa_emergency_reviews_overdue") == 1.0);
  const std::string log = w.stderr_log();
  CHECK(log.find("\"event\":\"emergency_reviews_overdue\",\"check\":\"start\",\"overdue\":1") !=
        std::string::npos);

  out.clear();
  CHECK(review(w, "--request-id " + a.header("DSA-Request-Id"), "justified", &out) == 0);
  CHECK(sample(w.metrics(), "dsa_emergency_reviews_overdue") == 0.0);
  w.gw->restart();
  CHECK(sample(w.metrics(), "dsa_emergency_reviews_overdue") == 0.0);
  CHECK(sample(w.metrics(), "dsa_emergency_reviews_pending") == 0.0);
}

}  // namespace dsa::gateway::testing
