// The `dsa` commands IG officers use, run as real processes on real files.

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>

#include "policy/text.hpp"
#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;

TEST_CASE("dsa lint: a clean agreement exits 0, three mistakes give three errors and exit 1") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  run_result clean = run("lint " + dir.path().string());
  CHECK(clean.status == 0);
  CHECK_THAT(clean.output, Catch::Contains("1 file, 0 errors"));

  std::string broken = replace(base_agreement, "    upstream: council-asb\n",
                               "    upstream: council-asb\n    upstrem: typo\n");
  broken = replace(broken, "acting_user: \"[A-Z]{2}[0-9]{4}\"", "acting_user: \"[A-Z\"");
  broken = replace(broken, "purposes: [asb-case-management]\n", "purposes: [asb-casework]\n");
  dir.write("a.yaml", broken);
  run_result r = run("lint " + dir.path().string());
  CHECK(r.status == 1);
  CHECK(count_lines_with(r.output, ": error: ") == 3);
  auto [l1, c1] = position_of(broken, "upstrem: typo");
  CHECK_THAT(r.output, Catch::Contains("a.yaml:" + std::to_string(l1) + ":" + std::to_string(c1) +
                                       ": error: endpoints[0].upstrem: unknown key"));
  CHECK_THAT(r.output, Catch::Contains("[bad-regex]"));
  CHECK_THAT(r.output, Catch::Contains("[dangling-reference]"));
}

TEST_CASE("dsa lint: --strict fails on warnings, usage errors exit 2") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);  // no governance: warnings
  CHECK(run("lint " + dir.path().string()).status == 0);
  CHECK(run("lint --strict " + dir.path().string()).status == 1);
  CHECK(run("lint").status == 2);
  CHECK(run("lint --no-such-flag x").status == 2);
}

TEST_CASE("dsa explain: JSON and text decisions with exit codes") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  auto req = dir.write("req.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123",
    "headers": {"DSA-Purpose": "asb-case-management", "dsa-case-ref": "ASB-2026-000123",
                "DSA-Acting-User": "PC1234"}})");
  std::string common =
      "explain --agreements " + dir.path().string() + " --time 2026-11-24T10:30:00Z ";
  run_result allow = run(common + req.string());
  CHECK(allow.status == 0);
  CHECK_THAT(allow.output, Catch::Contains("\"decision\":\"allow\""));
  CHECK_THAT(allow.output, Catch::Contains("\"permission\":\"police-read-case\""));

  auto deny = dir.write("deny.json", R"({"identity": {"trust_anchor": "partner-ca",
    "uri_san": ["spiffe://police.test/gw"]}, "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123", "headers": {}})");
  run_result d = run(common + deny.string());
  CHECK(d.status == 1);
  CHECK_THAT(d.output, Catch::Contains("\"reason\":\"purpose_missing\""));
  CHECK_THAT(d.output, Catch::Contains("\"status\":403"));

  run_result text = run(common + "--format text " + deny.string());
  CHECK(text.status == 1);
  CHECK_THAT(text.output, Catch::Contains("DENY  403  purpose_missing"));

  auto traversal = dir.write("t.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/..%2Fsecrets"})");
  run_result bad = run(common + traversal.string());
  CHECK(bad.status == 1);
  CHECK_THAT(bad.output, Catch::Contains("\"reason\":\"bad_request\""));

  auto invalid = dir.write("i.json", R"({"method": "GET"})");
  CHECK(run(common + invalid.string()).status == 2);
}

TEST_CASE("dsa test: failures are listed and summarised") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  dir.write("a.test.yaml", R"(time: 2026-11-24T10:30:00Z
cases:
  - name: allowed
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: asb-case-management, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}
    expect: {decision: allow, permission: police-read-case}
  - name: wrong expectation on purpose
    request:
      requester: police
      method: GET
      target: /asb/v1/summary
    expect: {decision: deny, reason: purpose_not_permitted}
  - name: cap of three
    repeat: 2
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: asb-case-management, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}
    expect: {decision: allow}
  - name: cap reached
    request:
      requester: police
      method: GET
      target: /asb/v1/cases/ASB-2026-000123
      headers: {DSA-Purpose: asb-case-management, DSA-Case-Ref: ASB-2026-000123, DSA-Acting-User: PC1234}
    expect: {decision: deny, reason: volume_cap_exceeded}
)");
  run_result r = run("test " + dir.path().string());
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("3 passed, 1 failed"));
  CHECK_THAT(r.output, Catch::Contains("'wrong expectation on purpose': expected deny "
                                       "(purpose_not_permitted), got deny (purpose_missing)"));
}

TEST_CASE("dsa explain: the header and target checks of live traffic, with their reasons") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  const std::string common =
      "explain --agreements " + dir.path().string() + " --time 2026-11-24T10:30:00Z ";
  auto explain = [&](const std::string& target, const std::string& headers) {
    auto file = dir.write("req.json", R"({"requester": "police", "method": "GET", "target": ")" +
                                          target + R"(", "headers": )" + headers + "}");
    return run(common + file.string());
  };
  const std::string ok_headers =
      R"({"DSA-Purpose": "asb-case-management", "DSA-Case-Ref": "ASB-2026-000123",
          "DSA-Acting-User": "PC1234"})";
  CHECK(explain("/asb/v1/cases/ASB-2026-000123", ok_headers).status == 0);

  struct refused {
    std::string target, headers, reason, detail;
  };
  const std::vector<refused> cases = {
      {"/asb/v1/cases/ASB-2026-000123", R"({"DSA_Purpose": "asb-case-management"})", "bad_request",
       "spells a DSA-* field with '_'"},
      {"/asb/v1/cases/ASB-2026-000123",
       R"({"DSA-Purpose": "research", "dsa-purpose": "asb-case-management"})", "bad_request",
       "duplicate DSA-Purpose header"},
      // Exactly equal keys: a JSON parser keeps one, the gateway would see two fields.
      {"/asb/v1/cases/ASB-2026-000123",
       R"({"DSA-Purpose": "research", "DSA-Purpose": "asb-case-management"})", "bad_request",
       "duplicate DSA-Purpose header"},
      {"/asb/v1/cases/ASB-2026-000123", R"({"DSA-Requester": "council"})", "bad_request",
       "set by the gateway"},
      {"/asb/v1/cases/ASB-2026-000123", R"({"DSA-Purpose": "  "})", "purpose_missing", ""},
      {"/asb/v1/cases/", ok_headers, "no_agreement", ""},
      {"/asb/v1/cases/ASB-2026-000123?include=%00", ok_headers, "bad_request",
       "encoded NUL (%00) in query"},
      {"/asb/v1/cases/..;x/ASB-2026-000123", ok_headers, "bad_request", "dot segment"},
      {"/asb/v1/cases/ASB-2026-000123?include=actions%0D%0AX-Injected:%201", ok_headers,
       "bad_request", "encoded control byte 0x0D in query"},
      {"/asb/v1/cases/ASB-2026-000123%C0%AE", ok_headers, "bad_request",
       "encoded non-ASCII byte 0xC0 in path"},
  };
  for (const refused& c : cases) {
    INFO(c.target << " " << c.headers);
    run_result r = explain(c.target, c.headers);
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains("\"reason\":\"" + c.reason + "\""));
    CHECK_THAT(r.output, Catch::Contains(c.detail));
  }
}

TEST_CASE("dsa explain: a query name that is not UTF-8 comes out as valid UTF-8 JSON") {
  temp_dir dir;
  dir.write("a.yaml", base_agreement);
  auto file = dir.write("req.json", R"({"requester": "police", "method": "GET",
    "target": "/asb/v1/cases/ASB-2026-000123?%FF%C3=1",
    "headers": {"DSA-Purpose": "asb-case-management"}})");
  run_result r = run("explain --agreements " + dir.path().string() +
                     " --time 2026-11-24T10:30:00Z " + file.string());
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains(R"(query parameter '\\xFF\\xC3' is not allowed)"));
  CHECK(dsa::policy::first_invalid_utf8(r.output) == std::string_view::npos);
}

TEST_CASE("dsa lint: a subject written another way is shown as it will be matched") {
  temp_dir dir;
  dir.write("a.yaml", replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"",
                              "subject: \"cn=police gw, o=Test Police\""));
  run_result r = run("lint " + dir.path().string());
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("warning: parties[0].identities[0].subject: "
                                       "'cn=police gw, o=Test Police' is matched as "
                                       "'CN=police gw,O=Test Police'"));
  CHECK_THAT(r.output, Catch::Contains("[identity-normalised]"));
}
