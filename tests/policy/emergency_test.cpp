// Emergency disclosures (docs/agreements.md, "Emergency disclosures"; docs/design.md §4.2–4.3):
// an emergency permission is tried only for a request that declares an emergency with
// DSA-Emergency, a declared emergency is decided only by emergency permissions, the incident
// reference and the justification are checked in their place in the order, prohibitions still
// win, time windows are honoured when written, and caps count per incident. Also the loader's
// errors and lint's warning for the `emergency` block, at file:line:column, and the header rules.

#include <catch2/catch.hpp>

#include "policy/request_fields.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

namespace {

// The base fixture plus an emergency permission on the case endpoint: no case reference, no
// acting user, no time window, a cap per incident and one per assignee.
const std::string emergency_permission = R"yaml(  - id: police-emergency-case
    assignee: police
    endpoints: [asb-case]
    purposes: [risk-to-life]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    emergency:
      incident_ref: "INC-[0-9]{4}-[0-9]{6}"
      justification: {min_length: 20}
      review_within: P3D
      response: {allow_fields: [/case_id]}
    volume_caps:
      - {scope: incident, window: P1D, max: 2}
      - {scope: assignee, window: P1D, max: 3}
)yaml";

std::string with_emergency(const std::string& permission = emergency_permission) {
  std::string text =
      replace(base_agreement, "  - {id: research, description: Research}\n",
              "  - {id: research, description: Research}\n"
              "  - {id: risk-to-life, description: Finding a person whose life is at risk}\n");
  return replace(text, "prohibitions:\n", permission + "prohibitions:\n");
}

struct fixture {
  explicit fixture(const std::string& text = with_emergency()) {
    load_result r = load_texts({{"a.yaml", text}});
    for (const auto& d : r.diagnostics) {
      UNSCOPED_INFO(d.format());
    }
    REQUIRE(r.ok());
    eng = std::make_unique<engine>(r.set);
  }

  // A declared emergency that passes every check of police-emergency-case on a Sunday night,
  // outside the ordinary permission's office hours.
  struct request {
    std::string path = "/asb/v1/cases/ASB-2026-000123";
    std::optional<std::string> purpose = "risk-to-life";
    std::optional<std::string> case_ref, acting_user;
    std::optional<std::string> emergency = "INC-2026-000042";
    std::optional<std::string> justification = "Child missing since 18:00, seen near the park";
    std::string now = "2026-11-29T23:30:00Z";
  };

  decision decide(const request& r) {
    request_view v;
    v.method = "GET";
    v.path = r.path;
    v.purpose = r.purpose;
    v.case_ref = r.case_ref;
    v.acting_user = r.acting_user;
    v.emergency = r.emergency;
    v.justification = r.justification;
    v.now = at(r.now.c_str());
    return eng->decide_for("police", v, counter, true);
  }

  std::unique_ptr<engine> eng;
  memory_volume_counter counter;
};

// An ordinary request that passes police-read-case (Tuesday morning).
fixture::request ordinary() {
  fixture::request r;
  r.purpose = "asb-case-management";
  r.case_ref = "ASB-2026-000123";
  r.acting_user = "PC1234";
  r.emergency.reset();
  r.justification.reset();
  r.now = "2026-11-24T10:30:00Z";
  return r;
}

load_result lint_text(const std::string& text) {
  load_options opts;
  opts.lint_warnings = true;
  opts.now = at("2026-11-24T10:00:00Z");
  return load_texts({{"a.yaml", text}}, opts);
}

const diagnostic* find_code(const load_result& r, const std::string& code) {
  for (const diagnostic& d : r.diagnostics) {
    if (d.code == code) {
      return &d;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("emergency: a declared emergency is allowed by the emergency permission") {
  fixture f;
  decision d = f.decide({});
  REQUIRE(d.allowed);
  CHECK(d.emergency);
  CHECK(d.permission->id == "police-emergency-case");
  REQUIRE(d.permission->emergency);
  CHECK(d.permission->emergency->review_within == std::chrono::hours(72));
  CHECK(d.permission->emergency->review_within_text == "P3D");
  CHECK(d.permission->emergency->min_justification == 20);
  // The emergency block's own response rules replace the endpoint's.
  const response_rules& rules = response_rules_for(*d.permission, *d.endpoint);
  REQUIRE(rules.allow_fields.size() == 1);
  CHECK(rules.allow_fields[0].text == "/case_id");
  CHECK(d.endpoint->response.allow_fields.size() == 2);
}

TEST_CASE("emergency: without DSA-Emergency the emergency permission is never tried") {
  fixture f;
  // Only the emergency permission permits risk-to-life: without the header it is no candidate,
  // so the ordinary permission decides (its purpose list lacks risk-to-life).
  fixture::request r;
  r.emergency.reset();
  r.justification.reset();
  decision d = f.decide(r);
  CHECK_FALSE(d.allowed);
  CHECK(d.why == reason::purpose_not_permitted);
  CHECK(d.permission->id == "police-read-case");
  bool traced = false;
  for (const trace_step& s : d.trace) {
    if (s.permission == "police-emergency-case") {
      traced = true;
      CHECK_THAT(s.detail, Catch::Contains("not tried"));
    }
  }
  CHECK(traced);
  // An ordinary request is decided as before, and is not an emergency decision.
  decision ok = f.decide(ordinary());
  REQUIRE(ok.allowed);
  CHECK_FALSE(ok.emergency);
  CHECK(ok.permission->id == "police-read-case");
}

TEST_CASE("emergency: with DSA-Emergency an ordinary permission is not a candidate") {
  fixture f;
  // Everything police-read-case needs, plus a declared emergency for its purpose: refused,
  // because the emergency permission does not permit that purpose and the ordinary one may not
  // answer a declared emergency.
  fixture::request r = ordinary();
  r.emergency = "INC-2026-000042";
  r.justification = "Child missing since 18:00, seen near the park";
  decision d = f.decide(r);
  CHECK_FALSE(d.allowed);
  CHECK(d.why == reason::purpose_not_permitted);
  CHECK(d.permission->id == "police-emergency-case");

  // An endpoint only ordinary permissions cover: emergency_not_permitted, 403.
  fixture::request s;
  s.path = "/asb/v1/summary";
  decision e = f.decide(s);
  CHECK_FALSE(e.allowed);
  CHECK(e.why == reason::emergency_not_permitted);
  CHECK(e.status() == 403);
  CHECK_FALSE(e.emergency);
  CHECK_THAT(e.detail, Catch::Contains("no emergency permission"));
}

TEST_CASE("emergency: incident reference and justification are checked, in that order") {
  fixture f;
  fixture::request bad_ref;
  bad_ref.emergency = "INC-26-42";
  bad_ref.justification = "short";
  decision d = f.decide(bad_ref);
  CHECK(d.why == reason::incident_ref_invalid);
  CHECK(d.status() == 403);
  CHECK_THAT(d.detail, Catch::Contains("INC-[0-9]{4}-[0-9]{6}"));

  fixture::request short_text;
  short_text.justification = "  missing child     ";  // 13 characters once trimmed
  decision s = f.decide(short_text);
  CHECK(s.why == reason::justification_too_short);
  CHECK_THAT(s.detail, Catch::Contains("has 13 characters"));
  CHECK_THAT(s.detail, Catch::Contains("at least 20"));

  fixture::request exact;
  exact.justification = "Missing child, river";  // exactly 20
  CHECK(f.decide(exact).allowed);

  // The engine alone (no header rules) treats a missing justification as empty.
  fixture::request none;
  none.justification.reset();
  CHECK(f.decide(none).why == reason::justification_too_short);

  // The purpose is checked before the emergency terms: the permission's own terms apply only
  // to its own purposes.
  fixture::request wrong_purpose = bad_ref;
  wrong_purpose.purpose = "research";
  CHECK(f.decide(wrong_purpose).why == reason::purpose_not_permitted);
}

TEST_CASE("emergency: reason codes sit in the documented order with 403") {
  CHECK(reason::no_agreement < reason::emergency_not_permitted);
  CHECK(reason::emergency_not_permitted < reason::agreement_inactive);
  CHECK(reason::purpose_not_permitted < reason::incident_ref_invalid);
  CHECK(reason::incident_ref_invalid < reason::justification_too_short);
  CHECK(reason::justification_too_short < reason::case_ref_missing);
  for (reason r : {reason::emergency_not_permitted, reason::incident_ref_invalid,
                   reason::justification_too_short}) {
    CHECK(http_status(r) == 403);
    reason back = reason::allowed;
    REQUIRE(from_string(to_string(r), back));
    CHECK(back == r);
  }
  CHECK(to_string(reason::incident_ref_invalid) == "incident_ref_invalid");
  CHECK(to_string(reason::justification_too_short) == "justification_too_short");
  CHECK(to_string(reason::emergency_not_permitted) == "emergency_not_permitted");
}

TEST_CASE("emergency: a prohibition still wins") {
  std::string text = with_emergency();
  text = replace(text, "prohibitions:\n",
                 "prohibitions:\n"
                 "  - {id: no-emergency-cases, assignee: police, endpoints: [asb-case], "
                 "purposes: [risk-to-life], reason: Case records go through the duty manager}\n");
  fixture f(text);
  decision d = f.decide({});
  CHECK_FALSE(d.allowed);
  CHECK(d.why == reason::prohibited);
  CHECK_THAT(d.detail, Catch::Contains("no-emergency-cases"));
}

TEST_CASE("emergency: time windows are honoured when written, and a case ref when required") {
  std::string permission =
      replace(emergency_permission, "    volume_caps:\n",
              "    require: {case_ref: \"ASB-[0-9]{4}-[0-9]{6}\"}\n"
              "    time_windows:\n"
              "      timezone: Europe/London\n"
              "      allow: [{days: [mon, tue, wed, thu, fri], from: \"08:00\", to: \"18:00\"}]\n"
              "    volume_caps:\n");
  fixture f(with_emergency(permission));
  fixture::request r;
  r.case_ref = "ASB-2026-000123";
  CHECK(f.decide(r).why == reason::outside_time_window);  // Sunday night
  r.now = "2026-11-24T10:30:00Z";
  CHECK(f.decide(r).allowed);
  r.case_ref.reset();
  CHECK(f.decide(r).why == reason::case_ref_missing);
}

TEST_CASE("emergency: caps count per incident through the volume counter") {
  fixture f;
  fixture::request r;
  REQUIRE(f.decide(r).allowed);
  REQUIRE(f.decide(r).allowed);
  decision third = f.decide(r);
  CHECK_FALSE(third.allowed);
  CHECK(third.why == reason::volume_cap_exceeded);
  CHECK(third.status() == 429);
  CHECK_THAT(third.detail, Catch::Contains("per incident"));

  // Another incident has its own count; the assignee cap (3) still counts both.
  fixture::request other = r;
  other.emergency = "INC-2026-000043";
  CHECK(f.decide(other).allowed);
  decision fourth = f.decide(other);
  CHECK(fourth.why == reason::volume_cap_exceeded);
  CHECK_THAT(fourth.detail, Catch::Contains("per assignee"));

  // The count the gateway seeds from the audit store is keyed by the incident too.
  const agreement& a = *f.eng->agreements().find("test-asb");
  const permission& p = *std::find_if(a.permissions.begin(), a.permissions.end(),
                                      [](const permission& x) { return x.emergency.has_value(); });
  memory_volume_counter seeded;
  const time_point now = at(r.now.c_str());
  seeded.record(a, p, cap_keys{"police", "", "", "INC-2026-000044"}, now - std::chrono::hours(1));
  CHECK(seeded.count(p, p.volume_caps[0], cap_keys{"police", "", "", "INC-2026-000044"}, now) == 1);
  CHECK(seeded.count(p, p.volume_caps[0], cap_keys{"police", "", "", "INC-2026-000045"}, now) == 0);
}

TEST_CASE("emergency: the loader requires incident_ref, justification and review_within") {
  SECTION("missing keys are errors at the emergency block") {
    std::string permission = replace(emergency_permission,
                                     "      incident_ref: \"INC-[0-9]{4}-[0-9]{6}\"\n"
                                     "      justification: {min_length: 20}\n"
                                     "      review_within: P3D\n",
                                     "      response: {allow_fields: [/case_id]}\n"
                                     "      incident_ref: \"INC-[0-9]{4}-[0-9]{6}\"\n");
    permission = replace(permission, "      response: {allow_fields: [/case_id]}\n    volume_caps",
                         "    volume_caps");
    std::string text = with_emergency(permission);
    load_result r = lint_text(text);
    CHECK_FALSE(r.ok());
    auto [line, column] = position_of(text, "response: {allow_fields: [/case_id]}\n      incident");
    int missing = 0;
    for (const diagnostic& d : r.diagnostics) {
      if (d.message.find("required key 'justification'") != std::string::npos ||
          d.message.find("required key 'review_within'") != std::string::npos) {
        ++missing;
        CHECK(d.line == line);
        CHECK(d.column == column);
        CHECK(d.file.find("a.yaml") != std::string::npos);
      }
    }
    CHECK(missing == 2);
  }
  SECTION("min_length 0 is an error at the value") {
    std::string text =
        with_emergency(replace(emergency_permission, "{min_length: 20}", "{min_length: 0}"));
    load_result r = lint_text(text);
    CHECK_FALSE(r.ok());
    const diagnostic* d = find_code(r, "bad-value");
    REQUIRE(d != nullptr);
    auto [line, column] = position_of(text, "0}");
    CHECK(d->line == line);
    CHECK(d->column == column);
    CHECK_THAT(d->message, Catch::Contains("min_length"));
  }
  SECTION("review_within must be a duration greater than zero") {
    for (const char* bad : {"3 days", "PT0S", "P1M"}) {
      std::string text = with_emergency(replace(emergency_permission, "review_within: P3D",
                                                std::string("review_within: ") + bad));
      load_result r = lint_text(text);
      CHECK_FALSE(r.ok());
      const diagnostic* d = find_code(r, "bad-duration");
      REQUIRE(d != nullptr);
      auto [line, column] = position_of(text, bad);
      CHECK(d->line == line);
      CHECK(d->column == column);
    }
  }
  SECTION("an invalid incident_ref pattern is an error at the pattern") {
    std::string text = with_emergency(
        replace(emergency_permission, "\"INC-[0-9]{4}-[0-9]{6}\"", "\"INC-(?i)[0-9]+\""));
    load_result r = lint_text(text);
    CHECK_FALSE(r.ok());
    const diagnostic* d = find_code(r, "bad-regex");
    REQUIRE(d != nullptr);
    CHECK(d->line == position_of(text, "\"INC-(?i)").first);
  }
  SECTION("an emergency block with no value is an error, not an ordinary permission") {
    std::string text = with_emergency(replace(emergency_permission,
                                              "    emergency:\n"
                                              "      incident_ref: \"INC-[0-9]{4}-[0-9]{6}\"\n"
                                              "      justification: {min_length: 20}\n"
                                              "      review_within: P3D\n"
                                              "      response: {allow_fields: [/case_id]}\n",
                                              "    emergency:\n"));
    // The incident cap would be an error too; drop it to see the block's own error.
    text = replace(text, "      - {scope: incident, window: P1D, max: 2}\n", "");
    load_result r = lint_text(text);
    CHECK_FALSE(r.ok());
    const diagnostic* d = find_code(r, "wrong-type");
    REQUIRE(d != nullptr);
    CHECK_THAT(d->message, Catch::Contains("emergency: expected a mapping"));
  }
  SECTION("an incident cap needs an emergency block") {
    std::string text = replace(base_agreement, "volume_caps: [{scope: case_ref,",
                               "volume_caps: [{scope: incident,");
    load_result r = lint_text(text);
    CHECK_FALSE(r.ok());
    const diagnostic* d = find_code(r, "bad-cap");
    REQUIRE(d != nullptr);
    auto [line, column] = position_of(text, "incident,");
    CHECK(d->line == line);
    CHECK(d->column == column);
    CHECK_THAT(d->message, Catch::Contains("emergency block"));
  }
}

TEST_CASE("emergency: lint warns when an emergency permission has no incident cap") {
  std::string text = with_emergency(
      replace(emergency_permission, "      - {scope: incident, window: P1D, max: 2}\n", ""));
  load_result r = lint_text(text);
  REQUIRE(r.ok());
  const diagnostic* d = find_code(r, "emergency-without-incident-cap");
  REQUIRE(d != nullptr);
  CHECK(d->level == severity::warning);
  auto [line, column] = position_of(text, "incident_ref: \"INC");
  CHECK(d->line == line);
  CHECK(d->column == column);
  CHECK(find_code(lint_text(with_emergency()), "emergency-without-incident-cap") == nullptr);
}

TEST_CASE("emergency: the header rules for DSA-Emergency and its justification") {
  using fields = std::vector<std::pair<std::string, std::string>>;
  auto read = [](const fields& f) { return read_client_fields(f); };

  auto both = read({{"DSA-Emergency", " INC-2026-000042 "},
                    {"dsa-emergency-justification", "Child missing, last seen at 18:00 "}});
  REQUIRE(both);
  CHECK(both.value().emergency == "INC-2026-000042");
  CHECK(both.value().emergency_justification == "Child missing, last seen at 18:00");

  auto neither = read({{"DSA-Emergency", "  "}, {"DSA-Emergency-Justification", ""}});
  REQUIRE(neither);
  CHECK_FALSE(neither.value().emergency);
  CHECK_FALSE(neither.value().emergency_justification);

  auto only_ref = read({{"DSA-Emergency", "INC-2026-000042"}});
  REQUIRE_FALSE(only_ref);
  CHECK_THAT(only_ref.error(), Catch::Contains("without DSA-Emergency-Justification"));

  auto blank_text =
      read({{"DSA-Emergency", "INC-2026-000042"}, {"DSA-Emergency-Justification", " \t "}});
  REQUIRE_FALSE(blank_text);

  auto only_text = read({{"DSA-Emergency-Justification", "Child missing"}});
  REQUIRE_FALSE(only_text);
  CHECK_THAT(only_text.error(), Catch::Contains("without DSA-Emergency"));

  auto twice = read({{"DSA-Emergency", "INC-2026-000042"},
                     {"DSA-Emergency-Justification", "a"},
                     {"dsa-EMERGENCY", "INC-2026-000043"}});
  REQUIRE_FALSE(twice);
  CHECK_THAT(twice.error(), Catch::Contains("duplicate DSA-Emergency header"));

  auto underscore = read({{"DSA_Emergency", "INC-2026-000042"}});
  REQUIRE_FALSE(underscore);

  auto non_ascii = read({{"DSA-Emergency", "INC-2026-000042"},
                         {"DSA-Emergency-Justification", "Child missing \xC3\xA9"}});
  REQUIRE_FALSE(non_ascii);
  CHECK_THAT(non_ascii.error(), Catch::Contains("DSA-Emergency-Justification has byte 0xC3"));

  auto control =
      read({{"DSA-Emergency", "INC-2026-000042"}, {"DSA-Emergency-Justification", "line\x01"}});
  REQUIRE_FALSE(control);
}
