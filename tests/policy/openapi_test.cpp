// `dsa openapi` (docs/agreements.md §2.8): the real command on the shipped agreements, its content
// checked against the loaded model, its response schemas checked against what the real response
// filter lets leave (with a real JSON Schema validator), and every party's document checked by a
// real OpenAPI validator (@redocly/cli, installed by tools/install-deps.sh).

#include "render/openapi.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "policy/response_filter.hpp"
#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string agreements_dir = std::string(DSA_SOURCE_DIR) + "/agreements";
const std::string at_time = " --time 2026-11-24T10:30:00Z";  // inside every example's validity

// A shell command's exit status and stdout+stderr, bounded in time.
run_result shell(const std::string& cmd) {
  run_result r;
  FILE* p = popen(("timeout 120 " + cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The document `dsa openapi` writes for `party` (with -o, so stderr notes stay out of it).
json::object document_for(const std::string& party, const std::string& extra = "") {
  temp_dir dir;
  const fs::path out = dir.path() / "openapi.json";
  run_result r = run("openapi " + agreements_dir + " --requester " + party + at_time + " -o " +
                     out.string() + extra);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return json::parse(read_file(out)).as_object();
}

std::shared_ptr<const dsa::policy::agreement_set> load_examples() {
  dsa::policy::load_options opts;
  dsa::policy::load_result r = dsa::policy::load_agreements({fs::path(agreements_dir)}, opts);
  REQUIRE(r.ok());
  return r.set;
}

const json::object& operation(const json::object& doc, const std::string& path,
                              const std::string& method) {
  const json::object& paths = doc.at("paths").as_object();
  INFO("path " << path);
  REQUIRE(paths.contains(path));
  REQUIRE(paths.at(path).as_object().contains(method));
  return paths.at(path).at(method).as_object();
}

const json::object* parameter(const json::object& op, const std::string& name) {
  for (const auto& p : op.at("parameters").as_array()) {
    if (p.at("name").as_string() == name) {
      return &p.as_object();
    }
  }
  return nullptr;
}

std::vector<std::string> strings(const json::value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.as_array()) {
    out.emplace_back(s.as_string());
  }
  return out;
}

const json::object& body_schema(const json::object& op) {
  return op.at("responses").at("2XX").at("content").at("application/json").at("schema").as_object();
}

// Validates `instance` against `schema` (JSON Schema 2020-12) with Debian's python3-jsonschema.
bool schema_accepts(const json::object& schema, const std::string& instance, std::string& why) {
  temp_dir dir;
  const fs::path s = dir.write("schema.json", json::serialize(schema));
  const fs::path i = dir.write("instance.json", instance);
  const fs::path py =
      dir.write("check.py",
                "import json, sys, jsonschema\n"
                "schema = json.load(open(sys.argv[1]))\n"
                "instance = json.load(open(sys.argv[2]))\n"
                "errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))\n"
                "for e in errors: print('at', list(e.absolute_path), e.message)\n"
                "sys.exit(1 if errors else 0)\n");
  run_result r = shell("/usr/bin/python3 " + py.string() + " " + s.string() + " " + i.string());
  why = r.output;
  REQUIRE((r.status == 0 || r.status == 1));
  return r.status == 0;
}

}  // namespace

TEST_CASE("dsa openapi: the purpose enum is the permission's purposes, headers follow require") {
  auto set = load_examples();
  const dsa::policy::agreement* mash = set->find("northshire-mash");
  REQUIRE(mash != nullptr);
  const dsa::policy::permission* perm = nullptr;
  for (const auto& p : mash->permissions) {
    if (p.id == "health-read-childrens-record") {
      perm = &p;
    }
  }
  REQUIRE(perm != nullptr);

  json::object doc = document_for("northshire-health");
  const json::object& op =
      operation(doc, "/mash/v1/referrals/{mash_ref}/social-care-summary", "get");
  CHECK(op.at("x-dsa-agreement").as_string() == "northshire-mash@" + mash->version);
  CHECK(strings(op.at("x-dsa-permission")) == std::vector<std::string>{perm->id});
  const json::object* purpose = parameter(op, "DSA-Purpose");
  REQUIRE(purpose != nullptr);
  CHECK(purpose->at("in").as_string() == "header");
  CHECK(purpose->at("required").as_bool());
  CHECK(strings(purpose->at("schema").at("enum")) == perm->purposes);

  const json::object* case_ref = parameter(op, "DSA-Case-Ref");
  REQUIRE(case_ref != nullptr);
  CHECK(case_ref->at("required").as_bool());
  CHECK(case_ref->at("schema").at("pattern").as_string() ==
        "^(?:" + perm->require.case_ref->text + ")$");
  const json::object* user = parameter(op, "DSA-Acting-User");
  REQUIRE(user != nullptr);
  CHECK(user->at("schema").at("pattern").as_string() ==
        "^(?:" + perm->require.acting_user->text + ")$");
  const json::object* agreement = parameter(op, "DSA-Agreement");
  REQUIRE(agreement != nullptr);
  CHECK_FALSE(agreement->at("required").as_bool());
  const json::object* mash_ref = parameter(op, "mash_ref");
  REQUIRE(mash_ref != nullptr);
  CHECK(mash_ref->at("in").as_string() == "path");
  CHECK(mash_ref->at("schema").at("pattern").as_string() == "^(?:MASH-[0-9]{2}-[0-9]{5})$");
  // The emergency headers are not part of a partner's everyday interface.
  CHECK(parameter(op, "DSA-Emergency") == nullptr);
}

TEST_CASE("dsa openapi: a purpose a prohibition refuses for the requester is not offered") {
  json::object doc = document_for("northshire-health");
  // health-no-intelligence-at-triage: health may read police intelligence only for a strategy
  // discussion, although its permission lists safeguarding-triage too.
  const json::object& op =
      operation(doc, "/mash/v1/referrals/{mash_ref}/police-intelligence", "get");
  CHECK(strings(parameter(op, "DSA-Purpose")->at("schema").at("enum")) ==
        std::vector<std::string>{"strategy-discussion"});
  CHECK_THAT(std::string(op.at("description").as_string()),
             Catch::Contains("health-no-intelligence-at-triage"));
}

TEST_CASE("dsa openapi: only the requester's endpoints, and only in agreements in force") {
  auto set = load_examples();
  json::object doc = document_for("northshire-health");
  const json::object& paths = doc.at("paths").as_object();
  // Every operation is an endpoint one of health's permissions names...
  std::size_t operations = 0;
  for (const auto& item : paths) {
    for (const auto& op : item.value().as_object()) {
      ++operations;
      const std::string agreement_id(op.value().at("x-dsa-agreement").as_string());
      const dsa::policy::agreement* a = set->find(agreement_id.substr(0, agreement_id.find('@')));
      REQUIRE(a != nullptr);
      for (const std::string& perm_id : strings(op.value().at("x-dsa-permission"))) {
        bool mine = false;
        for (const auto& p : a->permissions) {
          mine = mine || (p.id == perm_id && p.assignee == "northshire-health");
        }
        CHECK(mine);
      }
    }
  }
  CHECK(operations == 4);
  // ... so the council's and police's own endpoints are not in it.
  CHECK_FALSE(paths.contains("/asb/v1/cases/{case_id}"));
  CHECK_FALSE(paths.contains("/records/v1/asb-cases/{case_id}/incidents"));
  CHECK_FALSE(paths.contains("/mash/v1/referrals/{mash_ref}/health-summary"));  // health serves it

  // The police have a permission in the suspended Riverside agreement: it is left out, and the
  // IG officer is told why on stderr.
  run_result r = run("openapi " + agreements_dir + " --requester northshire-police" + at_time);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("note: agreement riverside-tenancy-asb left out: it is "
                                       "suspended"));
  CHECK(r.output.find("/tenancy/v1/properties/{uprn}/tenancy") == std::string::npos);
  CHECK_THAT(r.output, Catch::Contains("/asb/v1/cases/{case_id}"));
  // The CCTV agreement's emergency permission is not part of any operation: the IG officer is
  // told so (docs/agreements.md §2.8).
  CHECK_THAT(r.output, Catch::Contains("note: emergency permission "
                                       "kingsbury-cctv-evidence/police-risk-to-life on endpoint"));

  // Before the examples take effect nothing is in force: each agreement is noted, none described.
  run_result early = run("openapi " + agreements_dir +
                         " --requester northshire-police --time 2026-03-01T00:00:00Z");
  CHECK(early.status == 0);
  CHECK_THAT(early.output, Catch::Contains("note: agreement northshire-mash left out: it takes "
                                           "effect at 2026-03-31T23:00:00Z"));
  CHECK_THAT(early.output, Catch::Contains("\"paths\": {}"));

  // --provider narrows to one provider's endpoints.
  json::object council_only = document_for("northshire-police", " --provider kingsbury-council");
  for (const auto& item : council_only.at("paths").as_object()) {
    for (const auto& op : item.value().as_object()) {
      CHECK(strings(op.value().at("tags")) == std::vector<std::string>{"kingsbury-council"});
    }
  }
  CHECK(council_only.at("paths").as_object().contains("/asb/v1/cases/{case_id}"));
  CHECK_FALSE(council_only.at("paths").as_object().contains(
      "/mash/v1/referrals/{mash_ref}/health-summary"));
}

TEST_CASE("dsa openapi: the response schema holds only what allow_fields lets leave") {
  auto set = load_examples();
  const dsa::policy::endpoint* ep =
      set->find("northshire-mash")->find_endpoint("mash-health-summary");
  REQUIRE(ep != nullptr);
  json::object doc = document_for("northshire-police");
  const json::object& op = operation(doc, "/mash/v1/referrals/{mash_ref}/health-summary", "get");
  const json::object& schema = body_schema(op);
  const json::object& props = schema.at("properties").as_object();
  CHECK(props.contains("mash_ref"));
  CHECK(props.contains("attendances"));
  CHECK_FALSE(props.contains("mother_mental_health"));  // in the record, not in allow_fields
  CHECK_FALSE(props.contains("gp_safeguarding_lead"));
  CHECK(schema.at("additionalProperties") == json::value(false));
  const json::object& attendance = props.at("attendances").at("items").as_object();
  CHECK(attendance.at("properties").as_object().contains("date"));
  CHECK_FALSE(attendance.at("properties").as_object().contains("clinical_notes"));
  CHECK_FALSE(props.at("child").at("properties").as_object().contains("address"));
  // withhold_if tests a flag of the provider's record that never leaves (/restricted on the
  // social care summary): the document says records may be withheld, not which flag does it.
  json::object childrens = document_for("northshire-police");
  const json::object& summary =
      operation(childrens, "/mash/v1/referrals/{mash_ref}/social-care-summary", "get");
  CHECK_THAT(std::string(summary.at("description").as_string()),
             Catch::Contains("withheld_by_agreement"));
  CHECK(json::serialize(summary).find("restricted") == std::string::npos);

  // The provider's record as the sample upstream serves it: what the real filter lets leave fits
  // the schema; the record itself (clinical notes, an address) does not.
  std::string record =
      read_file(fs::path(DSA_SOURCE_DIR) / "tools/upstream-fixtures/mash-health-summary.json");
  record = replace(record, "${mash_ref}", "MASH-26-01234");
  dsa::policy::filter_result filtered = dsa::policy::filter_response(ep->response, record);
  REQUIRE(filtered.allowed());
  REQUIRE(filtered.changed);
  std::string why;
  CHECK(schema_accepts(schema, filtered.body, why));
  INFO(why);
  CHECK_FALSE(schema_accepts(schema, record, why));
  CHECK_THAT(why, Catch::Contains("clinical_notes") || Catch::Contains("mother_mental_health"));
}

TEST_CASE("dsa openapi: whatever the real filter lets leave fits the response schema") {
  // Wildcards beside names, an index, a subtree and max_items on one endpoint; the schema is
  // made by the library directly, and each body is filtered by the gateway's own filter.
  temp_dir dir;
  dir.write("a.yaml", replace(base_agreement, "response: {allow_fields: [/case_id, /status]}",
                              "response:\n      allow_fields: [/case_id, /subjects/*/name, "
                              "/subjects/0/role, /actions, /meta/*]\n      max_items: {pointer: "
                              "/subjects, max: 3}"));
  dsa::policy::load_options lo;
  dsa::policy::load_result loaded = dsa::policy::load_agreements({dir.path()}, lo);
  REQUIRE(loaded.ok());
  dsa::policy::doc::openapi_options o;
  o.requester = "police";
  o.now = *dsa::policy::parse_instant("2026-11-24T10:30:00Z");
  dsa::policy::doc::openapi_result doc = dsa::policy::doc::openapi_document(*loaded.set, o);
  REQUIRE(doc.error.empty());
  CHECK(doc.operations == 2);
  const json::object& op = operation(doc.document, "/asb/v1/cases/{case_id}", "get");
  const json::object& schema = body_schema(op);
  CHECK(schema.at("properties").at("subjects").at("maxItems").as_int64() == 3);
  // The base agreement's prohibition refuses `research` to everyone on this endpoint.
  CHECK(strings(parameter(op, "DSA-Purpose")->at("schema").at("enum")) ==
        std::vector<std::string>{"asb-case-management"});
  // The summary endpoint has no response rules: streamed, any bytes.
  const json::object& summary = operation(doc.document, "/asb/v1/summary", "get");
  CHECK(summary.at("responses")
            .at("2XX")
            .at("content")
            .as_object()
            .contains("application/octet-stream"));
  CHECK(parameter(summary, "DSA-Case-Ref") == nullptr);  // police-summary requires none

  const dsa::policy::endpoint* ep = loaded.set->agreements.front()->find_endpoint("asb-case");
  REQUIRE(ep != nullptr);
  const std::vector<std::string> bodies = {
      R"({"case_id":"ASB-2026-000123","secret":1,"subjects":[{"name":"a","role":"r","dob":"d"},)"
      R"({"name":"b","role":"q"}],"actions":[{"x":1}],"meta":{"k":{"deep":1},"j":2}})",
      R"({"subjects":{"p":{"name":"n","x":1},"0":{"role":"r","name":"m","y":2}},"meta":[1,2]})",
      R"({"case_id":{"nested":{"any":true}},"subjects":"not a container","meta":"x"})",
      R"([1,{"case_id":1},[2]])",
      R"("a scalar document")",
      R"({"subjects":[[{"name":"x"}],{"name":{"first":"a"}}],"actions":null})",
  };
  for (const std::string& body : bodies) {
    dsa::policy::filter_result f = dsa::policy::filter_response(ep->response, body);
    INFO(body << " → " << f.body);
    REQUIRE(f.allowed());
    std::string why;
    CHECK(schema_accepts(schema, f.body, why));
    INFO(why);
  }
  // The provider's record itself does not fit: `secret` and a subject's `dob` never leave.
  std::string why;
  CHECK_FALSE(schema_accepts(schema, bodies.front(), why));
  CHECK_THAT(why, Catch::Contains("secret"));
}

TEST_CASE("dsa openapi: max_items and streamed endpoints") {
  json::object doc = document_for("northshire-police");
  const json::object& footage = operation(doc, "/cctv/v1/incidents/{incident_ref}/footage", "get");
  CHECK(body_schema(footage).at("properties").at("clips").at("maxItems").as_int64() == 100);
  // Two permissions cover the CCTV endpoints: both purposes, either case reference format.
  CHECK(strings(footage.at("x-dsa-permission")) ==
        std::vector<std::string>{"police-crime-footage", "police-missing-person"});
  CHECK(parameter(footage, "DSA-Case-Ref")->at("schema").at("pattern").as_string() ==
        "^(?:(?:CR-[0-9]{2}-[0-9]{6})|(?:MP-[0-9]{2}-[0-9]{6}))$");
  CHECK(footage.at("responses")
            .at("2XX")
            .at("headers")
            .at("Handling-Caveat")
            .at("schema")
            .at("const") == "OFFICIAL-SENSITIVE");

  const json::object& clip =
      operation(doc, "/cctv/v1/incidents/{incident_ref}/footage/{clip_id}", "get");
  const json::object& responses = clip.at("responses").as_object();
  CHECK(responses.at("2XX").at("content").as_object().contains("application/octet-stream"));
  CHECK(responses.contains("206"));  // response.ranges: true
  CHECK(parameter(clip, "Range") != nullptr);
  CHECK(parameter(footage, "Range") == nullptr);
  CHECK_FALSE(footage.at("responses").as_object().contains("206"));
}

TEST_CASE("dsa openapi: a request body's limit is stated where the agreement sets one") {
  json::object doc = document_for("northshire-police");
  const json::object& update = operation(doc, "/asb/v1/cases/{case_id}/partner-updates", "post");
  const std::string about(update.at("requestBody").at("description").as_string());
  CHECK_THAT(about, Catch::Contains("At most 65536 bytes, or the gateway's body limit if lower"));
  CHECK_THAT(about, Catch::Contains("413 `body_too_large`"));
}

TEST_CASE("dsa openapi: refusals are the gateway's problem bodies with their reason codes") {
  json::object doc = document_for("northshire-health");
  const json::object& comps = doc.at("components").as_object();
  const json::object& problem = comps.at("schemas").at("Problem").as_object();
  // The members gateway/http_message.cpp problem_body writes.
  CHECK(strings(problem.at("required")) ==
        std::vector<std::string>{"type", "title", "status", "detail", "reason", "request_id"});
  CHECK(problem.at("properties").as_object().contains("upstream_status"));
  const auto forbidden = strings(comps.at("responses")
                                     .at("Refused403")
                                     .at("content")
                                     .at("application/problem+json")
                                     .at("schema")
                                     .at("allOf")
                                     .at(1)
                                     .at("properties")
                                     .at("reason")
                                     .at("enum"));
  CHECK(std::find(forbidden.begin(), forbidden.end(), "purpose_not_permitted") != forbidden.end());
  CHECK(std::find(forbidden.begin(), forbidden.end(), "volume_cap_exceeded") == forbidden.end());
  const auto capped = strings(comps.at("responses")
                                  .at("Refused429")
                                  .at("content")
                                  .at("application/problem+json")
                                  .at("schema")
                                  .at("allOf")
                                  .at(1)
                                  .at("properties")
                                  .at("reason")
                                  .at("enum"));
  CHECK(std::find(capped.begin(), capped.end(), "volume_cap_exceeded") != capped.end());
  CHECK_FALSE(doc.contains("servers"));

  json::object with_server =
      document_for("northshire-health", " --server https://dsa.northshire.police.uk.example:8443");
  CHECK(with_server.at("servers").at(0).at("url") ==
        "https://dsa.northshire.police.uk.example:8443");
  run_result bad = run("openapi " + agreements_dir + " --requester northshire-health --server " +
                       "http://plain.example");
  CHECK(bad.status == 2);
  CHECK_THAT(bad.output, Catch::Contains("is not an https:// URL"));
}

TEST_CASE("dsa openapi: an unknown party is a usage error, a party with nothing gets no paths") {
  run_result r = run("openapi " + agreements_dir + " --requester northshire-polise" + at_time);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("--requester 'northshire-polise' is not a party of any "
                                       "loaded agreement; did you mean 'northshire-police'?"));
  run_result p = run("openapi " + agreements_dir +
                     " --requester northshire-police --provider "
                     "nobody" +
                     at_time);
  CHECK(p.status == 2);
  CHECK_THAT(p.output, Catch::Contains("--provider 'nobody'"));

  // Riverside Homes' only agreement is suspended.
  temp_dir dir;
  const fs::path out = dir.path() / "riverside.json";
  run_result none = run("openapi " + agreements_dir + " --requester riverside-housing" + at_time +
                        " -o " + out.string());
  CHECK(none.status == 0);
  CHECK_THAT(none.output, Catch::Contains("riverside-housing may call nothing"));
  json::object doc = json::parse(read_file(out)).as_object();
  CHECK(doc.at("paths").as_object().empty());
  CHECK(doc.at("info").at("version") == "none");
}

TEST_CASE("dsa openapi: two endpoints on one method and path cannot be one operation") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  // The same endpoint under a second agreement id: both would be GET /asb/v1/cases/{case_id}.
  dir.write("b.yaml", replace(base_agreement, "id: test-asb\n", "id: test-asb-two\n"));
  run_result r = run("openapi " + dir.path().string() + " --requester police" + at_time);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("are both GET /asb/v1/cases/{case_id}"));
}

TEST_CASE("dsa openapi: every party's document passes the OpenAPI validator",
          "[openapi][redocly]") {
  // tools/install-deps.sh installs the pinned @redocly/cli (npm ci --prefix tools/openapi);
  // without it this test fails rather than passing unchecked.
  const fs::path lint = fs::path(DSA_SOURCE_DIR) / "tools/openapi/lint.sh";
  const fs::path redocly = fs::path(DSA_SOURCE_DIR) / "tools/openapi/node_modules/.bin/redocly";
  INFO("run tools/install-deps.sh to install " << redocly.string());
  REQUIRE(fs::exists(redocly));

  auto set = load_examples();
  temp_dir dir;
  std::string files;
  std::vector<std::string> parties;
  for (const auto& a : set->agreements) {
    for (const auto& p : a->parties) {
      if (std::find(parties.begin(), parties.end(), p.id) == parties.end()) {
        parties.push_back(p.id);
      }
    }
  }
  REQUIRE(parties.size() == 6);
  for (const std::string& party : parties) {
    const fs::path out = dir.path() / (party + ".json");
    run_result r = run("openapi " + agreements_dir + " --requester " + party + at_time + " -o " +
                       out.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    files += " " + out.string();
  }
  // One with a server and one provider only, as a partner would be given it.
  const fs::path narrowed = dir.path() / "police-at-council.json";
  REQUIRE(run("openapi " + agreements_dir + " --requester northshire-police --provider " +
              "kingsbury-council --server https://dsa.kingsbury.gov.uk.example" + at_time + " -o " +
              narrowed.string())
              .status == 0);
  files += " " + narrowed.string();

  run_result v = shell(lint.string() + files);
  INFO(v.output);
  CHECK(v.status == 0);
  CHECK(count_lines_with(v.output, "validated in") == parties.size() + 1);

  // The validator does catch a broken document (so a pass above means something): a parameter
  // in a place OpenAPI does not have.
  json::object doc = json::parse(read_file(narrowed)).as_object();
  json::object& op =
      doc["paths"].as_object().begin()->value().as_object().begin()->value().as_object();
  op["parameters"].as_array().front().as_object()["in"] = "body";
  const fs::path broken = dir.write("broken.json", json::serialize(doc));
  run_result b = shell(lint.string() + " " + broken.string());
  CHECK(b.status == 1);
  CHECK_THAT(b.output, Catch::Contains("`in` can be one of the following only"));
}
