// Emergency permissions in the IG officer's tools (docs/agreements.md §3.10): `dsa render` shows
// them distinctly with their review period, `dsa explain` reports an emergency decision and its
// review terms, `dsa test` checks `expect.emergency`, `dsa diff` counts an added emergency
// permission as widening, and `dsa register` lists them. Run against the shipped CCTV agreement
// and inline variants of the base fixture, through the real `dsa` binary where a tool is named.

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "render/diff.hpp"
#include "render/render.hpp"
#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

namespace {

const std::string k_agreements = std::string(DSA_SOURCE_DIR) + "/agreements";

// The base fixture with an emergency permission on the case endpoint.
std::string with_emergency(const std::string& block_extra = "") {
  std::string text =
      replace(base_agreement, "  - {id: research, description: Research}\n",
              "  - {id: research, description: Research}\n"
              "  - {id: risk-to-life, description: Finding a person whose life is at risk}\n");
  return replace(text, "prohibitions:\n",
                 "  - id: police-emergency-case\n"
                 "    assignee: police\n"
                 "    endpoints: [asb-case]\n"
                 "    purposes: [risk-to-life]\n"
                 "    lawful_basis: [public-task]\n"
                 "    legal_gateway: [cda-s115]\n"
                 "    emergency:\n"
                 "      incident_ref: \"INC-[0-9]{4}-[0-9]{6}\"\n"
                 "      justification: {min_length: 20}\n"
                 "      review_within: P3D\n" +
                     block_extra +
                     "    volume_caps: [{scope: incident, window: P1D, max: 2}]\n"
                     "prohibitions:\n");
}

const agreement& cctv(const load_result& r) {
  REQUIRE(r.ok());
  const agreement* a = r.set->find("kingsbury-cctv-evidence");
  REQUIRE(a != nullptr);
  return *a;
}

}  // namespace

TEST_CASE("emergency render: the emergency permission is shown distinctly with its review") {
  load_result r = load_agreements({k_agreements}, {});
  const agreement& a = cctv(r);
  const std::string md = render_markdown(a);
  CHECK_THAT(md, Catch::Contains("Emergency permission police-risk-to-life"));
  CHECK_THAT(md, Catch::Contains("- **Emergency:** Used only when the requester declares an "
                                 "emergency, giving an incident reference (DSA-Emergency header) "
                                 "in the form “NP-” followed by 8 digits"));
  CHECK_THAT(md, Catch::Contains("reviewed within 3 days"));
  CHECK_THAT(md, Catch::Contains("a justification of at least 40 characters"));
  CHECK_THAT(md, Catch::Contains("DSA-Emergency header"));
  CHECK_THAT(md, Catch::Contains("per emergency incident"));
  CHECK_THAT(md, Catch::Contains("(emergency permission police-risk-to-life)"));
  // Ordinary permissions are not marked.
  CHECK_THAT(md, Catch::Contains("Permission police-missing-person"));
  CHECK_THAT(md, !Catch::Contains("Emergency permission police-missing-person"));

  const std::string html = render_html(a);
  CHECK_THAT(html, Catch::Contains("Emergency permission police-risk-to-life"));
  CHECK_THAT(html, Catch::Contains("reviewed within 3 days"));

  // An emergency block's own response rules are shown in place of the endpoint's.
  load_result own =
      load_texts({{"a.yaml", with_emergency("      response: {allow_fields: [/case_id]}\n")}});
  REQUIRE(own.ok());
  const std::string md2 = render_markdown(*own.set->agreements.front());
  CHECK_THAT(md2, Catch::Contains("Released in an emergency"));
  CHECK_THAT(md2, Catch::Contains("in place of the service's own rules"));
  CHECK_THAT(md2, Catch::Contains("per 1 day per emergency incident") ||
                      Catch::Contains("per day per emergency incident"));
}

TEST_CASE("emergency explain: an emergency decision with its incident and review due") {
  temp_dir dir;
  dir.write("a.yaml", with_emergency());
  const std::string headers =
      R"("DSA-Purpose": "risk-to-life", "DSA-Emergency": "INC-2026-000042",
         "DSA-Emergency-Justification": "Child missing since 18:00, near the river")";
  auto req = dir.write("req.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123", "headers": {)" +
                                       headers + "}}");
  const std::string common =
      "explain --agreements " + dir.path().string() + " --time 2026-11-29T23:30:00Z ";
  run_result allow = run(common + req.string());
  CHECK(allow.status == 0);
  CHECK_THAT(allow.output, Catch::Contains("\"decision\":\"allow\""));
  CHECK_THAT(allow.output, Catch::Contains("\"emergency\":true"));
  CHECK_THAT(allow.output, Catch::Contains("\"permission\":\"police-emergency-case\""));
  CHECK_THAT(allow.output, Catch::Contains("\"incident_ref\":\"INC-2026-000042\""));
  CHECK_THAT(allow.output, Catch::Contains("\"review_within\":\"P3D\""));
  CHECK_THAT(allow.output, Catch::Contains("\"review_due\":\"2026-12-02T23:30:00Z\""));
  CHECK_THAT(allow.output, Catch::Contains("{\"scope\":\"incident\",\"key\":\"INC-2026-000042\""));

  run_result text = run(common + "--format text " + req.string());
  CHECK(text.status == 0);
  CHECK_THAT(text.output, Catch::Contains("ALLOW  200  EMERGENCY"));
  CHECK_THAT(text.output,
             Catch::Contains("emergency:     incident INC-2026-000042, reviewed within P3D (due "
                             "2026-12-02T23:30:00Z)"));

  // A short justification: the emergency permission's refusal, with its reason and status.
  auto short_req = dir.write("short.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123", "headers": {"DSA-Purpose": "risk-to-life",
    "DSA-Emergency": "INC-2026-000042", "DSA-Emergency-Justification": "urgent"}})");
  run_result deny = run(common + short_req.string());
  CHECK(deny.status == 1);
  CHECK_THAT(deny.output, Catch::Contains("\"reason\":\"justification_too_short\""));
  CHECK_THAT(deny.output, Catch::Contains("\"emergency\":false"));

  // Without the header the emergency permission is listed as not tried.
  auto plain = dir.write("plain.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123", "headers": {"DSA-Purpose": "risk-to-life"}})");
  run_result not_tried = run(common + "--format text " + plain.string());
  CHECK(not_tried.status == 1);
  CHECK_THAT(not_tried.output, Catch::Contains("police-emergency-case / asb-case: no_agreement — "
                                               "not tried"));

  // Half a declaration is a bad request, as at the gateway.
  auto half = dir.write("half.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123", "headers": {"DSA-Purpose": "risk-to-life",
    "DSA-Emergency": "INC-2026-000042"}})");
  run_result bad = run(common + half.string());
  CHECK(bad.status == 1);
  CHECK_THAT(bad.output, Catch::Contains("\"reason\":\"bad_request\""));
}

TEST_CASE("emergency test: golden cases check expect.emergency") {
  temp_dir dir;
  dir.write("a.yaml", with_emergency());
  dir.write("a.test.yaml", R"(time: 2026-11-29T23:30:00Z
cases:
  - name: allowed in an emergency
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: risk-to-life, DSA-Emergency: INC-2026-000042, DSA-Emergency-Justification: Child missing since 18:00 near the river}
    expect: {decision: allow, permission: police-emergency-case, emergency: true}
  - name: wrongly expected not to be an emergency
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: risk-to-life, DSA-Emergency: INC-2026-000043, DSA-Emergency-Justification: Child missing since 18:00 near the river}
    expect: {decision: allow, emergency: false}
  - name: an ordinary allow is not an emergency
    time: 2026-11-24T10:30:00Z
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: asb-case-management, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}
    expect: {decision: allow, emergency: false}
  - name: not a boolean
    request:
      requester: police
      method: GET
      target: /asb/v1/summary
    expect: {decision: deny, reason: purpose_missing, emergency: maybe}
)");
  run_result r = run("test " + dir.path().string());
  CHECK(r.status == 2);  // an invalid case
  CHECK_THAT(r.output, Catch::Contains("2 passed, 1 failed"));
  CHECK_THAT(r.output, Catch::Contains("'wrongly expected not to be an emergency': expected "
                                       "emergency false, got true"));
  CHECK_THAT(r.output, Catch::Contains("expect.emergency must be true or false"));

  // The shipped CCTV golden cases, emergency ones included, pass.
  run_result shipped = run("test " + k_agreements);
  CHECK(shipped.status == 0);
  CHECK_THAT(shipped.output, Catch::Contains(" 0 failed"));
}

TEST_CASE("emergency diff: an added emergency permission widens access (exit 1)") {
  load_result before = load_texts({{"a.yaml", base_agreement}});
  load_result after = load_texts({{"a.yaml", with_emergency()}});
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  std::vector<doc::change> changes = doc::diff_agreements(*before.set, *after.set);
  auto hit = std::find_if(changes.begin(), changes.end(), [](const doc::change& c) {
    return c.what == "emergency_permission_added";
  });
  REQUIRE(hit != changes.end());
  CHECK(hit->effect == doc::change_effect::widens);
  CHECK_THAT(hit->words, Catch::Contains("in a declared emergency (reviewed within 3 days)"));

  // Within the block: a longer review and a shorter justification widen; the reverse narrows.
  std::string looser = replace(with_emergency(), "review_within: P3D", "review_within: P7D");
  looser = replace(looser, "{min_length: 20}", "{min_length: 10}");
  load_result l = load_texts({{"a.yaml", looser}});
  REQUIRE(l.ok());
  for (const doc::change& c : doc::diff_agreements(*after.set, *l.set)) {
    CHECK(c.effect == doc::change_effect::widens);
  }
  std::vector<doc::change> back = doc::diff_agreements(*l.set, *after.set);
  REQUIRE(back.size() == 2);
  for (const doc::change& c : back) {
    CHECK(c.effect == doc::change_effect::narrows);
  }

  temp_dir old_dir, new_dir;
  old_dir.write("a.yaml", base_agreement);
  new_dir.write("a.yaml", with_emergency());
  run_result r = run("diff " + old_dir.path().string() + " " + new_dir.path().string());
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("WIDENS   permission police-emergency-case:"));
}

TEST_CASE("emergency register: emergency permissions are listed with their review period") {
  run_result r = run("register --time 2026-11-24T10:30:00Z " + k_agreements);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("- **Emergency disclosures:**"));
  CHECK_THAT(r.output, Catch::Contains("police-risk-to-life: northshire-police for risk-to-life; "
                                       "reviewed within 3 days"));
  temp_dir out;
  const std::string csv = (out.path() / "r.csv").string();
  REQUIRE(run("register --format csv -o " + csv + " --time 2026-11-24T10:30:00Z " + k_agreements)
              .status == 0);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  CHECK_THAT(header, Catch::EndsWith(",sha256,emergency_permissions\r"));
  std::string asb_row, cctv_row;
  std::getline(in, asb_row);
  std::getline(in, cctv_row);
  CHECK_THAT(cctv_row, Catch::EndsWith(",police-risk-to-life: northshire-police for risk-to-life; "
                                       "reviewed within 3 days\r"));
}
