// `dsa lint`'s help with silent mistakes (docs/agreements.md, "Warnings" and "Reading the
// messages"): warnings about what is declared but can never work, "did you mean" for typos, YAML
// and regular-expression errors in plain words, each at the file:line:column of the mistake.

#include <catch2/catch.hpp>
#include <string>

#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

namespace {

load_result lint_texts(const std::vector<std::pair<std::string, std::string>>& files) {
  load_options opts;
  opts.lint_warnings = true;
  opts.now = at("2026-11-24T10:00:00Z");
  return load_texts(files, opts);
}

// The diagnostics with `code`.
std::vector<diagnostic> with_code(const load_result& r, const std::string& code) {
  std::vector<diagnostic> out;
  for (const diagnostic& d : r.diagnostics) {
    if (d.code == code) {
      out.push_back(d);
    }
  }
  return out;
}

// Checks that exactly one diagnostic has `code`, at the position of `needle` in `text`, and
// returns it.
diagnostic one_at(const load_result& r, const std::string& code, const std::string& text,
                  const std::string& needle, int column_offset = 0) {
  std::vector<diagnostic> found = with_code(r, code);
  REQUIRE(found.size() == 1);
  auto [line, column] = position_of(text, needle);
  CHECK(found[0].line == line);
  CHECK(found[0].column == column + column_offset);
  return found[0];
}

// The base fixture without the permitted research purpose, which its prohibition always refuses
// (the prohibition still names it).
std::string without_research() {
  return replace(base_agreement, "purposes: [asb-case-management, research]",
                 "purposes: [asb-case-management]");
}

}  // namespace

TEST_CASE("lint: the base fixture warns only that research is always prohibited") {
  load_result r = lint_texts({{"a.yaml", base_agreement}});
  REQUIRE(r.ok());
  diagnostic d = one_at(r, "prohibited-purpose", base_agreement, "research]\n    lawful_basis");
  CHECK(d.level == severity::warning);
  CHECK_THAT(d.message, Catch::Contains("prohibition 'no-research'"));
  for (const char* code : {"unused-endpoint", "unused-purpose", "unpatterned-placeholder",
                           "empty-allow-fields", "conflicting-response-rules"}) {
    CHECK(with_code(r, code).empty());
  }
}

TEST_CASE("lint: a prohibition for another party does not make a purpose unusable") {
  std::string text = replace(base_agreement, "{id: no-research, assignee: any",
                             "{id: no-research, assignee: council");
  load_result r = lint_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  CHECK(with_code(r, "prohibited-purpose").empty());
}

TEST_CASE("lint: an endpoint no permission names and a purpose nothing names") {
  std::string text = replace(without_research(), "  - id: asb-summary\n",
                             "  - id: asb-summary-v0\n    provider: council\n    upstream: "
                             "council-asb\n    method: GET\n    path: /asb/v0/summary\n    "
                             "data_categories: [asb-case]\n    response: {allow_fields: [/n]}\n"
                             "  - id: asb-summary\n");
  text = replace(text, "  - {id: research, description: Research}\n",
                 "  - {id: research, description: Research}\n  - {id: training, description: "
                 "Training}\n");
  load_result r = lint_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  diagnostic e = one_at(r, "unused-endpoint", text, "asb-summary-v0");
  CHECK_THAT(e.message, Catch::Contains("'asb-summary-v0' is not named by any permission"));
  diagnostic p = one_at(r, "unused-purpose", text, "training, description");
  CHECK_THAT(p.message, Catch::Contains("purpose 'training'"));
}

TEST_CASE("lint: a placeholder without a pattern and an empty allow_fields") {
  std::string text =
      replace(without_research(), "    path_params: {case_id: \"ASB-[0-9]{4}-[0-9]{6}\"}\n", "");
  text = replace(text, "response: {allow_fields: [/case_id, /status]}",
                 "response: {allow_fields: []}");
  load_result r = lint_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  diagnostic d = one_at(r, "unpatterned-placeholder", text, "/asb/v1/cases/{case_id}");
  CHECK_THAT(d.message, Catch::Contains("{case_id} has no pattern"));
  one_at(r, "empty-allow-fields", text, "[]}");
}

TEST_CASE("lint: the same resource with different response rules in two agreements") {
  std::string other = replace(without_research(), "id: test-asb", "id: test-asb-two");
  other = replace(other, "response: {allow_fields: [/case_id, /status]}",
                  "response: {allow_fields: [/case_id, /status, /address]}");
  load_result r = lint_texts({{"a.yaml", without_research()}, {"b.yaml", other}});
  REQUIRE(r.ok());
  std::vector<diagnostic> found = with_code(r, "conflicting-response-rules");
  REQUIRE(found.size() == 1);
  CHECK(found[0].file.find("b.yaml") != std::string::npos);
  CHECK(found[0].line == position_of(other, "- id: asb-case\n    provider").first);
  CHECK_THAT(found[0].message, Catch::Contains("agreement 'test-asb' in "));
  CHECK_THAT(found[0].message, Catch::Contains("a.yaml"));

  // The same rules, or another path, are not a conflict.
  std::string same = replace(without_research(), "id: test-asb", "id: test-asb-two");
  CHECK(with_code(lint_texts({{"a.yaml", without_research()}, {"b.yaml", same}}),
                  "conflicting-response-rules")
            .empty());
}

TEST_CASE("lint: did you mean, for an unknown key and a dangling reference") {
  std::string text = replace(
      base_agreement, "    upstream: council-asb\n    method: GET\n    path: /asb/v1/summary",
      "    upstrem: council-asb\n    method: GET\n    path: /asb/v1/summary");
  text = replace(text, "    purposes: [asb-case-management]\n    lawful_basis",
                 "    purposes: [asb-case-managment]\n    lawful_basis");
  load_result r = lint_texts({{"a.yaml", text}});
  REQUIRE_FALSE(r.ok());
  std::vector<diagnostic> keys = with_code(r, "unknown-key");
  REQUIRE(keys.size() == 1);
  CHECK_THAT(keys[0].message, Catch::Contains("unknown key 'upstrem'; did you mean 'upstream'?"));
  diagnostic ref = one_at(r, "dangling-reference", text, "asb-case-managment]");
  CHECK_THAT(ref.message, Catch::Contains("did you mean 'asb-case-management'?"));

  // Nothing close: the declared ids are listed instead.
  std::string far = replace(base_agreement, "    purposes: [asb-case-management]\n    lawful_basis",
                            "    purposes: [fraud]\n    lawful_basis");
  diagnostic listed = one_at(lint_texts({{"a.yaml", far}}), "dangling-reference", far, "fraud]");
  CHECK_THAT(listed.message, Catch::Contains("(declared: asb-case-management, research)"));
}

TEST_CASE("lint: YAML mistakes are named at the line that has them") {
  SECTION("a tab used to indent") {
    std::string text = replace(base_agreement, "    name: Test Police\n", "\tname: Test Police\n");
    load_result r = lint_texts({{"a.yaml", text}});
    diagnostic d = one_at(r, "yaml-tab", text, "\tname: Test Police");
    CHECK_THAT(d.message, Catch::Contains("YAML indents with spaces only"));
  }
  SECTION("a key indented to no level above it") {
    std::string text = replace(base_agreement,
                               "    role: controller\n    identities: [{trust_anchor: partner-ca, "
                               "uri_san: \"spiffe://police",
                               "   role: controller\n    identities: [{trust_anchor: partner-ca, "
                               "uri_san: \"spiffe://police");
    load_result r = lint_texts({{"a.yaml", text}});
    diagnostic d = one_at(
        r, "yaml-indentation", text,
        "role: controller\n    identities: [{trust_anchor: partner-ca, uri_san: \"spiffe://police");
    CHECK_THAT(d.message, Catch::Contains("indented 3 spaces"));
  }
  SECTION("a key indented under one that already has a value") {
    std::string text = replace(base_agreement, "title: Test ASB case sharing\n",
                               "title: Test ASB case sharing\n  subtitle: x\n");
    load_result r = lint_texts({{"a.yaml", text}});
    diagnostic d = one_at(r, "yaml-indentation", text, "subtitle: x");
    CHECK_THAT(d.message, Catch::Contains("already has a value"));
  }
  SECTION("an unquoted ': ' inside a value") {
    std::string text =
        replace(base_agreement, "title: Test ASB case sharing\n", "title: ASB: case sharing\n");
    load_result r = lint_texts({{"a.yaml", text}});
    std::vector<diagnostic> found = with_code(r, "yaml-syntax");
    REQUIRE(found.size() == 1);
    CHECK(found[0].line == position_of(text, "title: ASB").first);
    CHECK_THAT(found[0].message, Catch::Contains("must be in quotes"));
  }
  SECTION("a '[' list left open") {
    std::string text =
        replace(base_agreement, "endpoints: [asb-summary]", "endpoints: [asb-summary");
    load_result r = lint_texts({{"a.yaml", text}});
    diagnostic d = one_at(r, "yaml-syntax", text, "[asb-summary\n");
    CHECK_THAT(d.message, Catch::Contains("never closed with ']'"));
  }
}

TEST_CASE("lint: a regular-expression error in plain words at the column of the fault") {
  // The acting_user pattern "[A-Z]{2}(0-9]{4}" opens a group it never closes; the fault is
  // reported inside the quoted pattern, not at its start.
  std::string text = replace(base_agreement, "acting_user: \"[A-Z]{2}[0-9]{4}\"",
                             "acting_user: \"[A-Z]{2}[0-9]{4}\\\\q\"");
  load_result r = lint_texts({{"a.yaml", text}});
  // "\\q" in the double-quoted YAML is the pattern's "\q": the 13th character of
  // "[A-Z]{2}[0-9]{4}\q".
  diagnostic d = one_at(r, "bad-regex", text, "\\\\q\"");
  CHECK_THAT(d.message, Catch::Contains("'\\q' is not an ECMAScript escape"));
  CHECK_THAT(d.message, Catch::Contains("at character 17 of the pattern"));

  std::string paren = replace(base_agreement, "acting_user: \"[A-Z]{2}[0-9]{4}\"",
                              "acting_user: \"[A-Z]{2}([0-9]{4}\"");
  std::vector<diagnostic> found = with_code(lint_texts({{"a.yaml", paren}}), "bad-regex");
  REQUIRE(found.size() == 1);
  CHECK_THAT(found[0].message, Catch::Contains("a '(' has no matching ')'"));
  CHECK_THAT(found[0].message, !Catch::Contains("HERE"));
  CHECK(found[0].line == position_of(paren, "[A-Z]{2}([0-9]").first);
}

// Data subjects (docs/agreements.md, "Data subjects").
TEST_CASE("lint: a subjects pointer allow_fields never releases is a warning at its position") {
  std::string text =
      replace(without_research(), "response: {allow_fields: [/case_id, /status]}",
              "response: {allow_fields: [/case_id, /status, /people/0], subjects: [/case_id, "
              "/people/*/id, /reporter/id]}");
  load_result r = lint_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  // /people/*/id may be released (/people/0 is); /reporter/id never is.
  diagnostic d = one_at(r, "subject-not-released", text, "/reporter/id]");
  CHECK(d.level == severity::warning);
  CHECK_THAT(d.message, Catch::Contains("endpoint 'asb-case': subjects pointer /reporter/id is "
                                        "not covered by allow_fields"));
  const agreement& a = *r.set->agreements.front();
  REQUIRE(a.endpoints.front().response.subjects.size() == 3);
  CHECK(a.endpoints.front().response.subjects[1].segments ==
        std::vector<std::string>{"people", "*", "id"});
}

TEST_CASE("lint: subjects on a streamed endpoint is an error at file:line:col") {
  std::string text = replace(without_research(), "    path: /asb/v1/summary\n",
                             "    path: /asb/v1/summary\n    response: {subjects: [/person_id]}\n");
  load_result r = lint_texts({{"a.yaml", text}});
  CHECK_FALSE(r.ok());
  diagnostic d = one_at(r, "subjects-on-streamed", text, "[/person_id]");
  CHECK(d.level == severity::error);
  CHECK(d.file.find("a.yaml") != std::string::npos);
  CHECK_THAT(d.message, Catch::Contains("streamed unparsed"));
  CHECK_THAT(d.format(), Catch::Contains("a.yaml:" + std::to_string(d.line) + ":" +
                                         std::to_string(d.column) + ": error:"));
}

TEST_CASE("lint: a malformed subjects pointer is an error at its position") {
  std::string text =
      replace(without_research(), "response: {allow_fields: [/case_id, /status]}",
              "response: {allow_fields: [/case_id, /status], subjects: [/case_id, person_id]}");
  load_result r = lint_texts({{"a.yaml", text}});
  CHECK_FALSE(r.ok());
  diagnostic d = one_at(r, "bad-pointer", text, "person_id]}");
  CHECK(d.level == severity::error);
  CHECK_THAT(d.message, Catch::Contains("'person_id' is not a JSON Pointer"));
  CHECK_THAT(d.message, Catch::Contains("subjects"));
}

TEST_CASE("lint: request.max_bytes on a method that never carries a body is a warning") {
  // asb-summary is a GET: the gateway refuses a GET with a body, so the limit is dead text.
  std::string text = replace(without_research(), "    path: /asb/v1/summary\n",
                             "    path: /asb/v1/summary\n    request: {max_bytes: 1048576}\n");
  load_result r = lint_texts({{"a.yaml", text}});
  CHECK(r.ok());
  diagnostic d = one_at(r, "request-body-never-sent", text, "1048576}");
  CHECK(d.level == severity::warning);
  CHECK_THAT(d.message, Catch::Contains("endpoints[1].request.max_bytes: a GET request never "
                                        "carries a body"));
  // On a POST it is what the key is for: no warning.
  std::string post = replace(text, "    method: GET\n    path: /asb/v1/summary\n",
                             "    method: POST\n    path: /asb/v1/summary\n");
  CHECK(with_code(lint_texts({{"a.yaml", post}}), "request-body-never-sent").empty());
}
