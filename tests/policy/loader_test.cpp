// Loader errors: every class of mistake an IG officer can make is reported at the right
// file:line:column with a plain-English message, and no input crashes the loader.

#include <catch2/catch.hpp>

#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

namespace {

// Loads one agreement text and returns its diagnostics.
std::vector<diagnostic> errors_of(const std::string& text) {
  load_result r = load_texts({{"a.yaml", text}});
  std::vector<diagnostic> out;
  for (const auto& d : r.diagnostics) {
    if (d.level == severity::error) {
      out.push_back(d);
    }
  }
  CHECK_FALSE(r.ok());
  return out;
}

// Expects exactly one error with `code` at the position of `needle` in `text`.
void expect_error_at(const std::string& text, const std::string& needle, const std::string& code,
                     const std::string& message_fragment) {
  auto errors = errors_of(text);
  REQUIRE(errors.size() == 1);
  auto [line, column] = position_of(text, needle);
  CHECK(errors[0].line == line);
  CHECK(errors[0].column == column);
  CHECK(errors[0].code == code);
  CHECK_THAT(errors[0].message, Catch::Contains(message_fragment));
  CHECK_THAT(errors[0].format(), Catch::Contains("a.yaml:" + std::to_string(line) + ":" +
                                                 std::to_string(column) + ": error: "));
}

}  // namespace

TEST_CASE("the base fixture loads cleanly with its indexes built") {
  load_result r = load_texts({{"a.yaml", base_agreement}});
  for (const auto& d : r.diagnostics) {
    INFO(d.format());
  }
  REQUIRE(r.ok());
  REQUIRE(r.set->agreements.size() == 1);
  const agreement& a = *r.set->agreements[0];
  CHECK(a.id == "test-asb");
  CHECK(a.sha256.size() == 64);
  CHECK(a.permissions.front().id == "police-read-case");
  CHECK(r.set->candidates.count(agreement_set::candidate_key("police", "GET")) == 1);
  CHECK(r.set->candidates.at(agreement_set::candidate_key("police", "GET")).size() == 2);
  // A bare date is midnight in London: 2026-04-01 is in BST, so 23:00 UTC the day before.
  CHECK(a.valid_from == at("2026-03-31T23:00:00Z"));
  CHECK(a.valid_until == at("2028-03-31T23:00:00Z"));
}

TEST_CASE("an unknown key is an error at the key, listing the expected keys") {
  std::string text = replace(base_agreement, "    upstream: council-asb\n",
                             "    upstream: council-asb\n    upstrem: typo\n");
  expect_error_at(text, "upstrem: typo", "unknown-key", "unknown key 'upstrem'");
  auto errors = errors_of(text);
  CHECK_THAT(errors[0].message, Catch::Contains("expected one of: id, provider, upstream"));
}

TEST_CASE("a wrong type is an error at the value") {
  std::string text = replace(base_agreement, "purposes: [asb-case-management, research]",
                             "purposes: {asb-case-management: yes}");
  expect_error_at(text, "{asb-case-management: yes}", "wrong-type", "expected a list");
}

TEST_CASE("a boolean must be true or false") {
  std::string text = replace(base_agreement, "special_category: false", "special_category: maybe");
  expect_error_at(text, "maybe", "wrong-type", "expected true or false");
}

TEST_CASE("a missing required key is an error at its mapping") {
  std::string text = replace(base_agreement, "title: Test ASB case sharing\n", "");
  auto errors = errors_of(text);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == "missing-key");
  CHECK(errors[0].line == 1);
  CHECK_THAT(errors[0].message, Catch::Contains("required key 'title' is missing"));
}

TEST_CASE("a bad regex is an error at the fault inside the pattern") {
  std::string text = replace(base_agreement, "\"ASB-[0-9]{4}-[0-9]{6}\", case_ref_param",
                             "\"ASB-[0-9{4}\", case_ref_param");
  expect_error_at(text, "[0-9{4}\"", "bad-regex", "'[' without a closing ']'");
}

TEST_CASE("a bad date is an error at the date") {
  std::string text = replace(base_agreement, "until: 2028-04-01", "until: 2028-13-01");
  expect_error_at(text, "2028-13-01", "bad-date", "not a valid date or instant");
}

TEST_CASE("validity must end after it starts") {
  std::string text = replace(base_agreement, "until: 2028-04-01", "until: 2026-01-01");
  expect_error_at(text, "2026-01-01", "bad-date", "later than validity.from");
}

TEST_CASE("a bad duration is an error at the window") {
  std::string text = replace(base_agreement, "window: P1D", "window: P1M");
  expect_error_at(text, "P1M", "bad-duration", "not a duration");
}

TEST_CASE("a bad time zone is an error at the zone") {
  std::string text = replace(base_agreement, "timezone: Europe/London", "timezone: Europe/Londn");
  expect_error_at(text, "Europe/Londn", "bad-timezone", "not a time zone");
}

TEST_CASE("a time window must start before it ends") {
  std::string text = replace(base_agreement, "to: \"18:00\"", "to: \"07:00\"");
  expect_error_at(text, "\"07:00\"", "bad-time", "later than 'from'");
}

TEST_CASE("a dangling purpose reference is an error at the reference") {
  std::string text =
      replace(base_agreement, "purposes: [asb-case-management]\n", "purposes: [asb-casework]\n");
  expect_error_at(text, "asb-casework", "dangling-reference",
                  "'asb-casework' is not a purpose of this agreement");
}

TEST_CASE("dangling endpoint, party, lawful basis and case_ref_param references are errors") {
  CHECK(errors_of(replace(base_agreement, "endpoints: [asb-summary]", "endpoints: [nope]"))
            .at(0)
            .code == "dangling-reference");
  CHECK(errors_of(replace(base_agreement, "assignee: police\n", "assignee: fire\n")).at(0).code ==
        "dangling-reference");
  CHECK(errors_of(replace(base_agreement,
                          "purposes: [asb-case-management]\n    lawful_basis: [public-task]",
                          "purposes: [asb-case-management]\n    lawful_basis: [consent]"))
            .at(0)
            .code == "dangling-reference");
  auto e = errors_of(replace(base_agreement, "case_ref_param: case_id", "case_ref_param: case"));
  REQUIRE(e.size() == 1);
  CHECK_THAT(e[0].message, Catch::Contains("not a {placeholder} in the path"));
}

TEST_CASE("a duplicate id is an error at the second declaration") {
  std::string text = replace(base_agreement, "  - {id: research, description: Research}",
                             "  - {id: asb-case-management, description: Again}");
  auto errors = errors_of(text);
  REQUIRE(errors.size() >= 1);
  CHECK(errors[0].code == "duplicate-id");
  CHECK(errors[0].line == position_of(text, "{id: asb-case-management, description: Again}").first);
}

TEST_CASE("an invalid id is refused") {
  std::string text = replace(base_agreement, "id: test-asb", "id: Test ASB");
  expect_error_at(text, "Test ASB", "bad-id", "not a valid id");
}

TEST_CASE("another schema is refused") {
  std::string text = replace(base_agreement, "schema: dsa/v1", "schema: dsa/v2");
  expect_error_at(text, "dsa/v2", "bad-schema", "expected dsa/v1");
}

TEST_CASE("an identity needs exactly one selector") {
  std::string text = replace(
      base_agreement, "{trust_anchor: partner-ca, uri_san: \"spiffe://council.test/gw\"}",
      "{trust_anchor: partner-ca, uri_san: \"spiffe://council.test/gw\", dns_san: council.test}");
  expect_error_at(text, "{trust_anchor: partner-ca, uri_san: \"spiffe://council.test/gw\", dns_san",
                  "bad-identity", "exactly one of uri_san, dns_san or subject");
}

TEST_CASE("a suspended agreement needs a status reason") {
  std::string text = replace(base_agreement, "status: active", "status: suspended");
  expect_error_at(text, "suspended", "missing-key", "needs a status_reason");
}

TEST_CASE("volume caps need the matching requirement") {
  std::string text =
      replace(base_agreement,
              "volume_caps: [{scope: case_ref, window: P1D, max: 3}]\n  - id: police-summary",
              "volume_caps: [{scope: case_ref, window: P1D, max: 3}]\n  - id: police-summary\n    "
              "volume_caps: [{scope: acting_user, window: PT1H, max: 1}]");
  expect_error_at(text, "acting_user, window: PT1H", "bad-cap", "needs require.acting_user");
}

TEST_CASE("YAML syntax errors are reported with their position") {
  std::string text = "schema: dsa/v1\nid: [unclosed\n";
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "yaml-syntax");
  CHECK(r.diagnostics[0].line >= 2);
}

TEST_CASE("the same identity under two party ids is a cross-file error") {
  std::string other =
      replace(replace(base_agreement, "id: test-asb", "id: test-other"),
              "  - id: council\n    name: Test Council", "  - id: borough\n    name: Test Borough");
  other = replace(other, "provider: council", "provider: borough");
  other = replace(other, "provider: council", "provider: borough");
  load_result r = load_texts({{"a.yaml", base_agreement}, {"b.yaml", other}});
  REQUIRE_FALSE(r.ok());
  bool found = false;
  for (const auto& d : r.diagnostics) {
    if (d.code == "identity-conflict") {
      found = true;
      CHECK_THAT(d.file, Catch::EndsWith("b.yaml"));
      CHECK_THAT(d.message, Catch::Contains("already declared for party 'council'"));
    }
  }
  CHECK(found);
}

TEST_CASE("duplicate agreement ids across files are an error naming the other file") {
  load_result r = load_texts({{"a.yaml", base_agreement}, {"b.yaml", base_agreement}});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error_count() == 1);
  CHECK(r.diagnostics[0].code == "duplicate-agreement");
  CHECK_THAT(r.diagnostics[0].message, Catch::Contains("a.yaml"));
}

TEST_CASE("one party id means one organisation everywhere") {
  std::string other = replace(replace(base_agreement, "id: test-asb", "id: test-other"),
                              "name: Test Police", "name: Another Police Force");
  load_result r = load_texts({{"a.yaml", base_agreement}, {"b.yaml", other}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics[0].code == "party-conflict");
}

TEST_CASE("golden-case files and other extensions are not agreements") {
  load_result r = load_texts(
      {{"a.yaml", base_agreement}, {"a.test.yaml", "cases: []\n"}, {"notes.txt", "not yaml: ["}});
  REQUIRE(r.ok());
  CHECK(r.files.size() == 1);
}

TEST_CASE("lint warnings: missing governance sections and unfiltered endpoints") {
  load_options opts;
  opts.lint_warnings = true;
  opts.now = at("2026-11-24T10:00:00Z");
  load_result r = load_texts({{"a.yaml", base_agreement}}, opts);
  REQUIRE(r.ok());
  std::set<std::string> codes;
  for (const auto& d : r.diagnostics) {
    CHECK(d.level == severity::warning);
    codes.insert(d.code);
  }
  CHECK(codes.count("governance-missing") == 1);
  CHECK(codes.count("unfiltered-endpoint") == 1);
}

TEST_CASE("trust anchors are checked against the gateway config when given") {
  load_options opts;
  opts.trust_anchors = std::set<std::string>{"other-ca"};
  load_result r = load_texts({{"a.yaml", base_agreement}}, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics[0].code == "dangling-reference");
  CHECK_THAT(r.diagnostics[0].message, Catch::Contains("not a trust anchor"));
}

TEST_CASE("hostile inputs never crash the loader") {
  const std::vector<std::string> inputs = {
      "",
      "~",
      "- a\n- b\n",
      "schema: dsa/v1\n",
      "schema: [dsa/v1]\nid: {a: b}\n",
      std::string(200, '[') + std::string(200, ']'),
      "a: &x [*x]\n",
      "a: *undefined\n",
      "schema: dsa/v1\nparties: [1, 2, [3]]\nendpoints: {x: y}\npermissions: \"no\"\n",
      std::string("\xff\xfe\x00\x01garbage", 12),
      replace(base_agreement, "path: /asb/v1/cases/{case_id}", "path: /asb/{a}/{a}"),
      replace(base_agreement, "path: /asb/v1/cases/{case_id}", "path: asb//x"),
      replace(base_agreement, "response: {allow_fields: [/case_id, /status]}",
              "response: {allow_fields: [case_id], max_items: {pointer: /x, max: -1}, withhold_if: "
              "[{pointer: /a, equals: [1]}]}"),
  };
  for (const std::string& text : inputs) {
    load_result r = load_texts({{"a.yaml", text}});
    CHECK_FALSE(r.ok());
    CHECK(r.error_count() >= 1);
  }
}

TEST_CASE("instants and durations parse exactly") {
  CHECK(parse_instant("2026-11-24T10:30:00Z") == at("2026-11-24T10:30:00+00:00"));
  CHECK(parse_instant("2026-07-01T10:30:00+01:00") == at("2026-07-01T09:30:00Z"));
  CHECK(parse_instant("2026-01-10") == at("2026-01-10T00:00:00Z"));  // GMT in winter
  CHECK(parse_instant("2026-07-10") == at("2026-07-09T23:00:00Z"));  // BST in summer
  CHECK_FALSE(parse_instant("2026-11-24 10:30"));
  CHECK_FALSE(parse_instant("2026-02-30"));
  CHECK_FALSE(parse_instant("2026-11-24T25:00:00Z"));
  CHECK(parse_duration("PT1H") == std::chrono::hours(1));
  CHECK(parse_duration("P1D") == std::chrono::hours(24));
  CHECK(parse_duration("P2W") == std::chrono::hours(24 * 14));
  CHECK(parse_duration("P1DT12H") == std::chrono::hours(36));
  CHECK_FALSE(parse_duration("P1Y"));
  CHECK_FALSE(parse_duration("P1M"));
  CHECK_FALSE(parse_duration("PT"));
  CHECK_FALSE(parse_duration("P1H"));
  CHECK_FALSE(parse_duration("PT1H1H"));
  CHECK(format_instant(at("2026-11-24T10:30:00.000250Z")) == "2026-11-24T10:30:00.000250Z");
}

TEST_CASE("request.max_bytes: a positive whole number of bytes, else an error at the value") {
  const std::string summary = "    path: /asb/v1/summary\n";
  SECTION("a valid limit loads onto the endpoint") {
    std::string text = replace(base_agreement, summary,
                               "    path: /asb/v1/summary\n    request: {max_bytes: 2147483648}\n");
    load_result r = load_texts({{"a.yaml", text}});
    REQUIRE(r.ok());
    const agreement& a = *r.set->agreements[0];
    CHECK(a.find_endpoint("asb-summary")->request.max_bytes == 2147483648ull);
    CHECK_FALSE(a.find_endpoint("asb-case")->request.max_bytes.has_value());
  }
  struct bad {
    std::string value, code, message;
  };
  for (const bad& b :
       {bad{"0", "bad-value",
            "endpoints[1].request.max_bytes: expected a number of bytes greater than 0"},
        bad{"-5", "wrong-type",
            "endpoints[1].request.max_bytes: expected a whole number, found '-5'"},
        bad{"lots", "wrong-type",
            "endpoints[1].request.max_bytes: expected a whole number, found 'lots'"},
        bad{"1.5", "wrong-type",
            "endpoints[1].request.max_bytes: expected a whole number, found '1.5'"}}) {
    INFO(b.value);
    std::string text =
        replace(base_agreement, summary,
                "    path: /asb/v1/summary\n    request: {max_bytes: " + b.value + "}\n");
    expect_error_at(text, b.value + "}", b.code, b.message);
  }
  SECTION("max_bytes is required in request, and request takes no other key") {
    std::string text =
        replace(base_agreement, summary, "    path: /asb/v1/summary\n    request: {}\n");
    auto errors = errors_of(text);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Catch::Contains("max_bytes"));
    text = replace(base_agreement, summary,
                   "    path: /asb/v1/summary\n    request: {max_bytes: 10, max_byte: 5}\n");
    expect_error_at(text, "max_byte: 5", "unknown-key", "unknown key 'max_byte'");
  }
}
