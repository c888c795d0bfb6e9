// `dsa test --coverage` on an agreement that is not active (docs/agreements.md §5): a case refused
// as agreement_inactive covers the allow of the permission that would allow it once the agreement
// is reinstated, shown "as if active"; a case that would be refused anyway covers nothing more; a
// real allow elsewhere is reported as an ordinary allow.

#include <catch2/catch.hpp>
#include <string>

#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;

namespace {

const std::string suspended_agreement =
    replace(base_agreement, "status: active\n",
            "status: suspended\nstatus_reason: Suspended pending the annual review\n");

const std::string request_headers =
    "{DSA-Purpose: asb-case-management, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}";

std::string inactive_case(const std::string& name, const std::string& headers) {
  return "  - name: " + name +
         "\n    request:\n      requester: police\n      method: GET\n"
         "      target: /asb/v1/cases/ASB-2026-000123\n      headers: " +
         headers + "\n    expect: {decision: deny, reason: agreement_inactive}\n";
}

}  // namespace

TEST_CASE("dsa test --coverage: a suspended agreement's allow is covered as if active") {
  temp_dir dir;
  dir.write("a.yaml", suspended_agreement);

  // Refused as inactive, and refused again when reinstated (no purpose): no allow shown.
  dir.write("a.test.yaml", "time: 2026-11-24T10:30:00Z\ncases:\n" +
                               inactive_case("no purpose", "{DSA-Case-Ref: ASB-2026-000123}"));
  run_result none = run("test --coverage " + dir.path().string());
  CHECK(none.status == 0);
  CHECK_THAT(none.output,
             Catch::Contains("test-asb  permission police-read-case: allow NO, deny yes"));

  // Refused as inactive, allowed when reinstated: the permission's allow is covered, marked.
  dir.write("a.test.yaml",
            "time: 2026-11-24T10:30:00Z\ncases:\n" + inactive_case("well formed", request_headers));
  run_result covered = run("test --coverage " + dir.path().string());
  CHECK(covered.status == 0);
  CHECK_THAT(covered.output, Catch::Contains("test-asb  permission police-read-case: allow yes "
                                             "(as if active), deny yes"));
  // The case itself still has to expect the refusal: expecting an allow fails.
  dir.write("a.test.yaml",
            "time: 2026-11-24T10:30:00Z\ncases:\n  - name: allow expected\n    request:\n"
            "      requester: police\n      method: GET\n"
            "      target: /asb/v1/cases/ASB-2026-000123\n      headers: " +
                request_headers + "\n    expect: {decision: allow}\n");
  run_result wrong = run("test " + dir.path().string());
  CHECK(wrong.status == 1);
  CHECK_THAT(wrong.output, Catch::Contains("got deny (agreement_inactive)"));
}

TEST_CASE("dsa test --coverage: an active agreement's allows are never marked as if active") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  dir.write("a.test.yaml",
            "time: 2026-11-24T10:30:00Z\ncases:\n  - name: allowed\n    request:\n"
            "      requester: police\n      method: GET\n"
            "      target: /asb/v1/cases/ASB-2026-000123\n      headers: " +
                request_headers + "\n    expect: {decision: allow}\n");
  run_result r = run("test --coverage " + dir.path().string());
  CHECK(r.status == 0);
  CHECK_THAT(r.output,
             Catch::Contains("test-asb  permission police-read-case: allow yes, deny NO"));
  CHECK_THAT(r.output, !Catch::Contains("as if active"));
}
