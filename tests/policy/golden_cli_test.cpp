// `dsa test` as an IG officer runs it: a case that names something no agreement declares is an
// error (exit 2), -v lists passing cases, --coverage reports each permission and prohibition,
// --min-coverage gates on it; and `dsa explain` answers unknown_requester for a party no agreement
// names, as the gateway does for a certificate.

#include <catch2/catch.hpp>
#include <string>

#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;

namespace {

const std::string allowed_case = R"(  - name: allowed
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: asb-case-management, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}
    expect: {decision: allow, permission: police-read-case}
)";

// A directory with the base agreement and one golden-case file holding `cases`.
struct golden_dir {
  temp_dir dir;
  explicit golden_dir(const std::string& cases) {
    dir.write("a.yaml", base_agreement);
    dir.write("a.test.yaml", "time: 2026-11-24T10:30:00Z\ncases:\n" + cases);
  }
  std::string path() const { return dir.path().string(); }
};

}  // namespace

TEST_CASE("dsa test: a typo'd requester is an error, not a vacuous pass") {
  // Before: "polcie" was refused (no_agreement), which is what the case expected, so it passed.
  golden_dir g(allowed_case + R"(  - name: typo
    request: {requester: polcie, method: GET, target: /asb/v1/summary}
    expect: {decision: deny, reason: no_agreement}
)");
  run_result r = run("test " + g.path());
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("a.test.yaml:10: ERROR 'typo': request.requester: unknown "
                                       "party 'polcie'; did you mean 'police'?"));
  CHECK_THAT(r.output, Catch::Contains("1 passed, 0 failed, 1 invalid case"));
}

TEST_CASE("dsa test: an unknown reason, endpoint or purpose is an error with its fix") {
  SECTION("reason") {
    golden_dir g(R"(  - name: r
    request: {requester: police, method: GET, target: /asb/v1/summary}
    expect: {decision: deny, reason: purpose_mising}
)");
    run_result r = run("test " + g.path());
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("expect.reason: unknown reason code 'purpose_mising'; did "
                                         "you mean 'purpose_missing'?"));
  }
  SECTION("endpoint") {
    golden_dir g(replace(allowed_case, "permission: police-read-case", "endpoint: asb-cases"));
    run_result r = run("test " + g.path());
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("expect.endpoint: unknown endpoint 'asb-cases'; did you "
                                         "mean 'asb-case'?"));
  }
  SECTION("purpose") {
    golden_dir g(replace(allowed_case, "DSA-Purpose: asb-case-management",
                         "DSA-Purpose: asb-case-managment"));
    run_result r = run("test " + g.path());
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("unknown purpose 'asb-case-managment'"));
  }
  SECTION("a case that means to test an unknown party or purpose may name one") {
    golden_dir g(R"(  - name: stranger
    request: {requester: nobody, method: GET, target: /asb/v1/summary}
    expect: {decision: deny, reason: unknown_requester}
  - name: other purpose
    request: {requester: police, method: GET, target: /asb/v1/summary, headers: {DSA-Purpose: marketing}}
    expect: {decision: deny, reason: purpose_not_permitted}
)");
    run_result r = run("test " + g.path());
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("2 passed, 0 failed"));
  }
}

TEST_CASE("dsa test: -v lists passing cases") {
  golden_dir g(allowed_case);
  CHECK(count_lines_with(run("test " + g.path()).output, "PASS") == 0);
  run_result r = run("test -v " + g.path());
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("a.test.yaml:3: PASS 'allowed': allow"));
}

TEST_CASE("dsa test: --coverage and --min-coverage") {
  // One allow case: police-read-case has its allow, nothing else is covered. The prohibition
  // no-research is on asb-case for any party, so the allow there shows its edge.
  golden_dir g(allowed_case);
  run_result r = run("test --coverage " + g.path());
  CHECK(r.status == 0);
  CHECK_THAT(r.output,
             Catch::Contains("test-asb  permission police-read-case: allow yes, deny NO"));
  CHECK_THAT(r.output, Catch::Contains("test-asb  permission police-summary: allow NO, deny NO"));
  CHECK_THAT(r.output, Catch::Contains("test-asb  prohibition no-research: allow yes, deny NO"));
  CHECK_THAT(r.output, Catch::Contains("coverage: 2 of 6 (33.3%)"));
  run_result gated = run("test --min-coverage 50 " + g.path());
  CHECK(gated.status == 1);
  CHECK_THAT(gated.output, Catch::Contains("below --min-coverage 50"));
  CHECK(run("test --min-coverage 30 " + g.path()).status == 0);

  golden_dir full(allowed_case + R"(  - name: research is prohibited
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: research, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}
    expect: {decision: deny, reason: prohibited}
  - name: summary
    request: {requester: police, method: GET, target: /asb/v1/summary, headers: {DSA-Purpose: asb-case-management}}
    expect: {decision: allow}
  - name: summary without purpose
    request: {requester: police, method: GET, target: /asb/v1/summary}
    expect: {decision: deny, reason: purpose_missing}
)");
  run_result all = run("test --min-coverage 100 " + full.path());
  CHECK(all.status == 0);
  CHECK_THAT(all.output, Catch::Contains("coverage: 6 of 6 (100.0%)"));
}

TEST_CASE("dsa explain: a party no agreement names is unknown_requester, as at the gateway") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  dir.write("r.json", R"({"requester": "nobody", "method": "GET", "target": "/asb/v1/summary"})");
  run_result r =
      run("explain --agreements " + dir.path().string() + " " + (dir.path() / "r.json").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("\"reason\":\"unknown_requester\""));
  CHECK_THAT(r.output, Catch::Contains("party 'nobody' is not named by any loaded agreement"));
}

TEST_CASE(
    "dsa explain: an allow shows the lawful basis, gateway, released fields, windows and caps") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  dir.write("r.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123",
    "headers": {"DSA-Purpose": "asb-case-management", "DSA-Case-Ref": "ASB-2026-000123",
                "DSA-Acting-User": "PC1234"}})");
  const std::string args = "explain --time 2026-11-24T10:30:00Z --agreements " +
                           dir.path().string() + " " + (dir.path() / "r.json").string();
  run_result r = run(args);
  CHECK(r.status == 0);
  const std::string basis =
      R"x("lawful_basis":[{"id":"public-task","cite":"UK GDPR Art 6(1)(e)"}])x";
  CHECK_THAT(r.output, Catch::Contains(basis));
  CHECK_THAT(r.output, Catch::Contains(R"("legal_gateway":[{"id":"cda-s115","cite":"Crime and )"
                                       R"(Disorder Act 1998 s.115"}])"));
  CHECK_THAT(r.output, Catch::Contains(R"("allow_fields":["/case_id","/status"])"));
  CHECK_THAT(r.output, Catch::Contains(R"("local_time":"Tue 2026-11-24 10:30")"));
  // Without --db the counts are not known (tests/audit/explain_counts_test.cpp reads a store).
  CHECK_THAT(r.output, Catch::Contains(R"({"scope":"case_ref","key":"ASB-2026-000123","window":)"
                                       R"("P1D","max":3,"count":null})"));
  CHECK_THAT(r.output, Catch::Contains(R"("counts":{"known":false})"));
  run_result text = run(args + " --format text");
  CHECK_THAT(text.output, Catch::Contains("lawful basis:  public-task (UK GDPR Art 6(1)(e))"));
  CHECK_THAT(text.output, Catch::Contains("released:      /case_id, /status"));
  CHECK_THAT(text.output, Catch::Contains("volume cap:    max 3 per case_ref 'ASB-2026-000123' "
                                          "in P1D; current count not known"));

  // A deny carries no grant.
  dir.write("d.json", R"({"requester": "police", "method": "GET", "target": "/asb/v1/summary"})");
  run_result deny =
      run("explain --agreements " + dir.path().string() + " " + (dir.path() / "d.json").string());
  CHECK(deny.status == 1);
  CHECK_THAT(deny.output, !Catch::Contains("\"grant\""));
}
