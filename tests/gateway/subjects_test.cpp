// Data subjects end to end (docs/auditing.md, "A subject access request"): the real gateway
// records keyed hashes of the identifiers in what it released — never the identifiers — under a
// subject key it creates 0600 on first start and refuses when exposed or malformed; `dsa audit
// subject` finds exactly the disclosures about a person from those hashes.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "audit/subject_key.hpp"
#include "common/hex.hpp"
#include "gateway/request_handler.hpp"
#include "policy/loader.hpp"
#include "policy/volume.hpp"
#include "tests/common/run_dsa.hpp"
#include "tests/gateway/harness.hpp"

namespace {
using namespace dsa::gateway::testing;
namespace fs = std::filesystem;

// Police read council ASB cases; the response names people in several places. Only
// /subjects/*/subject_id and /officer/staff_no are released; /reporter is not (the agreement
// lists it under subjects all the same: recording must follow what leaves, not what is listed).
const std::string agreement = R"yaml(schema: dsa/v1
id: test-subjects
version: 2.1.0
title: Subject access test agreement
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
  - id: case-people
    provider: council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case]
    response:
      allow_fields: [/case_id, /subjects/*/subject_id, /subjects/*/role, /officer/staff_no]
      withhold_if: [{pointer: /subjects/*/restricted, equals: true}]
      subjects: [/subjects/*/subject_id, /reporter/person_id, /officer/staff_no]
permissions:
  - id: police-read-case
    assignee: police
    endpoints: [case-people]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    require: {case_ref: "ASB-[0-9]{4}-[0-9]{6}", case_ref_param: case_id}
)yaml";

const std::string routes = R"json({"routes": [
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-2026-000001)", "fixture": "one.json"},
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-2026-000002)", "fixture": "two.json"},
  {"method": "GET", "path": "/asb/v1/cases/(?P<case_id>ASB-2026-000009)", "fixture": "restricted.json"}
]})json";

// Case 1: two released people, a released staff number (a JSON number) and a reporter who is
// not released. Case 2: one of the same people. Case 9: withheld whole by withhold_if (a person
// there is restricted), so nobody in it was disclosed.
const std::map<std::string, std::string> fixtures = {
    {"one.json",
     R"({"case_id": "${case_id}", "subjects": [{"subject_id": "P-1001-ALPHA", "role": "suspect", "dob": "2001-01-01"}, {"subject_id": "P-1002-BRAVO", "role": "victim"}], "reporter": {"person_id": "P-1003-CHARLIE"}, "officer": {"staff_no": 4471234}})"},
    {"two.json",
     R"({"case_id": "${case_id}", "subjects": [{"subject_id": "P-1002-BRAVO", "role": "witness"}], "reporter": {"person_id": "P-1004-DELTA"}})"},
    {"restricted.json",
     R"({"case_id": "${case_id}", "subjects": [{"subject_id": "P-1005-ECHO", "restricted": true}, {"subject_id": "P-1006-FOXTROT"}]})"},
};

std::string gateway_config(int upstream_port, const std::string& audit_extra = "") {
  const std::string p = pki().string();
  return R"(listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
tls:
  certificate: )" +
         p + R"(/gateway.pem
  private_key: )" +
         p + R"(/gateway.key
  trust_anchors:
    - {name: partner-ca, ca_file: )" +
         p + "/ca.pem, crl_file: " + p + R"(/crl.pem}
agreements_dir: agreements
upstreams:
  council-asb:
    url: "https://127.0.0.1:)" +
         std::to_string(upstream_port) + R"("
    ca_file: )" +
         p + R"(/upstream-ca.pem
audit: {path: audit.db, signing_key: keys/audit-key.pem, origin: "subjects test")" +
         audit_extra + "}\n";
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// HMAC-SHA-256 of `id` under the key file's secret, computed here with OpenSSL's one-shot HMAC.
std::string hmac_hex(const fs::path& key_file, const std::string& id) {
  const std::string text = read_bytes(key_file);
  REQUIRE(text.size() == 65);
  std::string key;
  for (std::size_t i = 0; i < 64; i += 2) {
    key.push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), out, &len);
  return dsa::common::to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::string get(const std::string& case_id) {
  return "GET /asb/v1/cases/" + case_id +
         " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: asb-case-management\r\nDSA-Case-Ref: " +
         case_id + "\r\n\r\n";
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The gateway started on `config`, or its exit status and stderr when it refuses to start.
struct start_attempt {
  bool listening = false;
  int status = -1;
  std::string stderr_text;
};

start_attempt try_start(const temp_dir& dir, const std::string& config) {
  const fs::path cfg = dir.write("gateway.yaml", config);
  const fs::path err = dir.path() / "refused-stderr.log";
  dsa::test::process proc(
      {std::string(DSA_BINARY_DIR) + "/gateway/dsa-gateway", "--config", cfg.string()}, err);
  start_attempt a;
  auto line = proc.read_line(20s);
  a.listening = line && line->rfind("listening https=", 0) == 0;
  a.status = proc.stop(a.listening ? SIGTERM : 0, 15s);
  a.stderr_text = read_bytes(err);
  return a;
}

}  // namespace

TEST_CASE(
    "subjects: entries hold the HMACs of exactly the released identifiers, never the identifiers, "
    "and dsa audit subject lists exactly that person's disclosures",
    "[gateway][integration][subjects]") {
  temp_dir dir;
  dir.write("agreements/test-subjects.yaml", agreement);
  fs::create_directory(dir.path() / "keys");
  upstream up(dir, "council-asb", routes, fixtures,
              {"--tls-cert", (pki() / "upstream.pem").string(), "--tls-key",
               (pki() / "upstream.key").string()});
  const fs::path key_file = dir.path() / "keys" / "subject.key";
  REQUIRE_FALSE(fs::exists(key_file));
  auto gw = std::make_unique<gateway>(dir, gateway_config(up.port()));

  // Created on first start beside the signing key (the default), 0600, 64 hex and a newline.
  REQUIRE(fs::exists(key_file));
  CHECK(mode_of(key_file) == 0600);
  const std::string key_text = read_bytes(key_file);
  REQUIRE(key_text.size() == 65);
  CHECK(key_text.find_first_not_of("0123456789abcdef") == 64);
  CHECK(key_text.back() == '\n');

  for (const char* id : {"ASB-2026-000001", "ASB-2026-000002", "ASB-2026-000009"}) {
    tls_client c(gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(get(id)));
    auto r = c.read_response();
    REQUIRE(r);
    CAPTURE(id, r->body);
    CHECK(r->status == (std::string(id) == "ASB-2026-000009" ? 403 : 200));
  }
  // The released body of case 1 carries both people and the staff number, not the reporter.
  const std::vector<dsa::audit::entry> entries = audit_entries(gw->audit_db(), "request");
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].case_ref == "ASB-2026-000001");
  CHECK(entries[0].subjects ==
        sorted({hmac_hex(key_file, "P-1001-ALPHA"), hmac_hex(key_file, "P-1002-BRAVO"),
                hmac_hex(key_file, "4471234")}));
  CHECK(entries[1].subjects == std::vector<std::string>{hmac_hex(key_file, "P-1002-BRAVO")});
  // Withheld: nothing left, so nobody is recorded as disclosed.
  CHECK(entries[2].decision == dsa::audit::entry_decision::withheld);
  CHECK(entries[2].subjects.empty());

  // Stop (the WAL is checkpointed into the main file), then search every byte of the store and
  // of the gateway's log for the identifiers and the secret.
  CHECK(gw->stop() == 0);
  const std::string secret = key_text.substr(0, 64);
  std::string bytes;
  for (const auto& f : fs::directory_iterator(dir.path())) {
    if (f.path().filename().string().rfind("audit.db", 0) == 0) {
      bytes += read_bytes(f.path());
    }
  }
  REQUIRE(bytes.size() > 4096);
  CHECK(bytes.find(hmac_hex(key_file, "P-1002-BRAVO")) != std::string::npos);
  const std::string log = read_bytes(dir.path() / "gateway-stderr.log");
  for (const std::string& raw :
       {std::string("P-1001-ALPHA"), std::string("P-1002-BRAVO"), std::string("P-1003-CHARLIE"),
        std::string("P-1004-DELTA"), std::string("P-1005-ECHO"), std::string("P-1006-FOXTROT"),
        std::string("4471234"), secret}) {
    CAPTURE(raw);
    CHECK(bytes.find(raw) == std::string::npos);
    CHECK(log.find(raw) == std::string::npos);
  }

  // dsa audit subject: exactly the disclosures about the person.
  const std::string db = (dir.path() / "audit.db").string();
  const std::string base = "audit subject --db " + db + " --key-file " + key_file.string();
  auto bravo = dsa::test::run_dsa(base + " --id P-1002-BRAVO");
  CAPTURE(bravo.output);
  CHECK(bravo.status == 0);
  CHECK(bravo.output.find("2 disclosures") != std::string::npos);
  CHECK(bravo.output.find("ASB-2026-000001") != std::string::npos);
  CHECK(bravo.output.find("ASB-2026-000002") != std::string::npos);
  CHECK(bravo.output.find("test-subjects@2.1.0") != std::string::npos);
  CHECK(bravo.output.find("police-read-case") != std::string::npos);
  CHECK(bravo.output.find("asb-case-management") != std::string::npos);
  CHECK(bravo.output.find(entries[0].request_id) != std::string::npos);
  CHECK(bravo.output.find(entries[1].request_id) != std::string::npos);
  CHECK(bravo.output.find("GET /asb/v1/cases/ASB-2026-000002") != std::string::npos);

  auto alpha = dsa::test::run_dsa(base + " --id P-1001-ALPHA --format csv");
  CAPTURE(alpha.output);
  CHECK(alpha.status == 0);
  // One data row: case 1 only (case 9, where the id also appears, was withheld).
  CHECK(std::count(alpha.output.begin(), alpha.output.end(), '\n') == 2);
  CHECK(alpha.output.find("seq,time,requester,purpose,case_ref,agreement,agreement_version,"
                          "permission,lawful_basis,legal_gateway,endpoint,method,path,query,"
                          "request_id,released_fields,id\r\n") == 0);
  CHECK(alpha.output.find(std::to_string(entries[0].seq) + ",") != std::string::npos);
  CHECK(alpha.output.find(",police,asb-case-management,ASB-2026-000001,test-subjects,2.1.0,"
                          "police-read-case,") != std::string::npos);
  CHECK(alpha.output.find("ASB-2026-000009") == std::string::npos);

  // A number identifier, and two ids at once (one listed row per disclosure).
  auto both = dsa::test::run_dsa(base + " --id 4471234 --id P-1002-BRAVO --format json");
  CAPTURE(both.output);
  CHECK(both.status == 0);
  CHECK(std::count(both.output.begin(), both.output.end(), '\n') == 2);
  CHECK(both.output.find("{\"seq\":" + std::to_string(entries[0].seq) + ",") == 0);

  for (const char* nobody : {"P-1003-CHARLIE", "P-1005-ECHO", "P-1006-FOXTROT", "p-1002-bravo"}) {
    auto none = dsa::test::run_dsa(base + " --id " + nobody);
    CAPTURE(nobody, none.output);
    CHECK(none.status == 0);
    CHECK(none.output.find("no disclosures recorded") != std::string::npos);
  }

  // Bad arguments: exit 2.
  auto no_key = dsa::test::run_dsa("audit subject --db " + db + " --key-file " +
                                   (dir.path() / "missing.key").string() + " --id P-1");
  CHECK(no_key.status == 2);
  CHECK(no_key.output.find("cannot read subject key") != std::string::npos);
  auto no_id = dsa::test::run_dsa("audit subject --db " + db + " --key-file " + key_file.string());
  CHECK(no_id.status == 2);
  auto empty_id = dsa::test::run_dsa(base + " --id ''");
  CHECK(empty_id.status == 2);

  // A store that fails verification is refused (exit 1), naming the first bad seq.
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    const std::string sql =
        "DROP TRIGGER entries_no_update; UPDATE entries SET entry = replace(entry, "
        "'\"status\":200', '\"status\":201') WHERE seq = " +
        std::to_string(entries[1].seq) + ";";
    char* msg = nullptr;
    const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &msg);
    INFO((msg != nullptr ? msg : ""));
    sqlite3_free(msg);
    sqlite3_close(h);
    REQUIRE(rc == SQLITE_OK);
  }
  auto tampered = dsa::test::run_dsa(base + " --id P-1002-BRAVO");
  CAPTURE(tampered.output);
  CHECK(tampered.status == 1);
  CHECK(tampered.output.find("fails verification") != std::string::npos);
  CHECK(tampered.output.find("first bad seq " + std::to_string(entries[1].seq)) !=
        std::string::npos);
  CHECK(tampered.output.find("disclosures") == std::string::npos);
}

TEST_CASE("subjects: the gateway refuses to start with an exposed or malformed subject key",
          "[gateway][integration][subjects]") {
  temp_dir dir;
  dir.write("agreements/test-subjects.yaml", agreement);
  fs::create_directory(dir.path() / "keys");
  // No upstream is needed to start: the refusal comes before any request.
  const int port = unused_port();
  const fs::path key_file = dir.path() / "keys" / "people.key";
  const std::string config = gateway_config(port, ", subject_key: keys/people.key");

  // First start creates the named file, 0600.
  start_attempt first = try_start(dir, config);
  CAPTURE(first.stderr_text);
  CHECK(first.listening);
  CHECK(first.status == 0);
  REQUIRE(fs::exists(key_file));
  CHECK(mode_of(key_file) == 0600);
  CHECK_FALSE(fs::exists(dir.path() / "keys" / "subject.key"));
  const std::string secret = read_bytes(key_file).substr(0, 64);

  // Readable by group and others: refused, nothing listening, the secret not logged.
  REQUIRE(::chmod(key_file.c_str(), 0644) == 0);
  start_attempt exposed = try_start(dir, config);
  CAPTURE(exposed.stderr_text);
  CHECK_FALSE(exposed.listening);
  CHECK(exposed.status != 0);
  CHECK(exposed.stderr_text.find("people.key has mode 0644") != std::string::npos);
  CHECK(exposed.stderr_text.find("chmod 600") != std::string::npos);
  CHECK(exposed.stderr_text.find(secret) == std::string::npos);
  // The key is left as it was: the operator fixes the mode, the gateway never rewrites it.
  CHECK(read_bytes(key_file).substr(0, 64) == secret);

  // Wrong length, and not hex: refused, naming the file.
  REQUIRE(::chmod(key_file.c_str(), 0600) == 0);
  { std::ofstream(key_file, std::ios::trunc) << secret.substr(0, 40) << "\n"; }
  start_attempt short_key = try_start(dir, config);
  CAPTURE(short_key.stderr_text);
  CHECK_FALSE(short_key.listening);
  CHECK(short_key.stderr_text.find("holds 40 characters; expected exactly 64") !=
        std::string::npos);
  { std::ofstream(key_file, std::ios::trunc) << std::string(64, 'g') << "\n"; }
  start_attempt not_hex = try_start(dir, config);
  CAPTURE(not_hex.stderr_text);
  CHECK_FALSE(not_hex.listening);
  CHECK(not_hex.stderr_text.find("is not lowercase hex") != std::string::npos);

  // Restored: starts again.
  { std::ofstream(key_file, std::ios::trunc) << secret << "\n"; }
  start_attempt restored = try_start(dir, config);
  CAPTURE(restored.stderr_text);
  CHECK(restored.listening);
  CHECK(restored.status == 0);
}

// The handler without sockets: an allowed response's entry carries the hashes the subject key
// gives, and without a key (which the server never leaves it) the response is withheld rather
// than released with its subjects unrecorded.
TEST_CASE("subjects: the request handler records the hashes, or withholds when it cannot",
          "[gateway][subjects]") {
  temp_dir dir;
  dir.write("agreements/test-subjects.yaml", agreement);
  dsa::policy::load_options opts;
  opts.now = dsa::policy::time_point(std::chrono::seconds(1'800'000'000));
  auto loaded = dsa::policy::load_agreements({dir.path() / "agreements"}, opts);
  REQUIRE(loaded.ok());
  auto eng =
      std::make_shared<const dsa::policy::engine>(loaded.set, std::set<std::string>{"council-asb"});
  dsa::gateway::config cfg;
  dsa::gateway::upstream_config up;
  up.name = "council-asb";
  up.authority = "council.internal:8443";
  cfg.upstreams["council-asb"] = up;
  dsa::policy::memory_volume_counter counter;
  const fs::path key_file = dir.path() / "subject.key";
  auto key = dsa::audit::subject_key::load_or_create(key_file);
  REQUIRE(key);
  dsa::gateway::peer_identity police;
  police.id.trust_anchor = "partner-ca";
  police.id.uri_sans = {"spiffe://northshire.police.uk.example/dsa-gateway"};

  const auto answer = [&](const dsa::gateway::request_handler& handler) {
    dsa::gateway::request_state r =
        handler.begin(police, eng, "rid-subjects", 1'800'000'000'000'000, "127.0.0.1:40000");
    REQUIRE_FALSE(handler.check_head(r, dsa::gateway::parse_request_head(get("ASB-2026-000001"))));
    auto step = handler.decide(r);
    REQUIRE(std::holds_alternative<dsa::gateway::forward_plan>(step));
    dsa::gateway::upstream_response res;
    res.why = dsa::policy::reason::allowed;
    res.status = 200;
    res.content_type = "application/json";
    res.body = R"({"case_id":"ASB-2026-000001","subjects":[{"subject_id":"P-7","role":"victim"},)"
               R"({"subject_id":"P-7"},{"subject_id":"P-3"}],"reporter":{"person_id":"P-9"}})";
    dsa::gateway::outcome o = handler.complete(r, std::move(res));
    return std::pair{std::move(o), std::move(r.entry)};
  };

  const dsa::gateway::request_handler with_key(cfg, counter, key->get());
  auto [released, entry] = answer(with_key);
  CHECK(released.status == 200);
  CHECK(released.body.find("P-9") == std::string::npos);
  CHECK(entry.decision == dsa::audit::entry_decision::allow);
  CHECK(entry.subjects == sorted({hmac_hex(key_file, "P-7"), hmac_hex(key_file, "P-3")}));

  const dsa::gateway::request_handler without_key(cfg, counter);
  auto [withheld, unrecorded] = answer(without_key);
  CHECK(withheld.status == 502);
  CHECK(withheld.body.find("P-7") == std::string::npos);
  CHECK(unrecorded.decision == dsa::audit::entry_decision::withheld);
  CHECK(unrecorded.reason == "response_not_filterable");
  CHECK(unrecorded.subjects.empty());
}
