// `dsa diff OLD NEW`: what an amendment changes in who can see what, and whether it widens access
// (docs/agreements.md §2.4). The comparison is checked directly on loaded sets and through the real
// `dsa` binary on agreement directories written here.

#include "render/diff.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;
using dsa::policy::load_result;
using dsa::policy::doc::change;
using dsa::policy::doc::change_effect;
using dsa::policy::doc::diff_agreements;

namespace {

// The changes between the base agreement and `amended`, loaded as the tool loads them.
std::vector<change> diff_with(const std::string& amended) {
  load_result a = load_texts({{"a.yaml", base_agreement}});
  load_result b = load_texts({{"a.yaml", amended}});
  REQUIRE(a.ok());
  std::string first = b.diagnostics.empty() ? std::string() : b.diagnostics.front().format();
  INFO(first);
  REQUIRE(b.ok());
  return diff_agreements(*a.set, *b.set);
}

// The one change with code `what`; fails when there is not exactly one.
change only(const std::vector<change>& changes, const std::string& what) {
  std::vector<change> hits;
  for (const change& c : changes) {
    if (c.what == what) {
      hits.push_back(c);
    }
  }
  INFO("changes: " << changes.size()
                   << ", first: " << (changes.empty() ? std::string() : changes.front().what));
  REQUIRE(hits.size() == 1);
  return hits.front();
}

struct sides {
  temp_dir before, after;
  run_result diff(const std::string& amended, const std::string& flags = "") {
    before.write("a.yaml", base_agreement);
    after.write("a.yaml", amended);
    return run("diff " + flags + before.path().string() + " " + after.path().string());
  }
};

}  // namespace

TEST_CASE("diff_agreements: identical sets have no changes") {
  CHECK(diff_with(base_agreement).empty());
}

TEST_CASE("diff_agreements: each widening is classed as widening, in words") {
  struct example {
    std::string from, to, what, words;
  };
  const std::vector<example> examples = {
      {"endpoints: [asb-summary]", "endpoints: [asb-summary, asb-case]", "endpoint_added",
       "endpoint asb-case added for police"},
      {"purposes: [asb-case-management]\n    lawful",
       "purposes: [asb-case-management, research]\n    lawful", "purpose_added",
       "purpose research added for police"},
      {"allow_fields: [/case_id, /status]", "allow_fields: [/case_id, /status, /address]",
       "released_field_added", "released field /address added"},
      {"max: 3}", "max: 30}", "volume_cap_raised", "volume cap 3 per day per case_ref → 30"},
      {"volume_caps: [{scope: case_ref, window: P1D, max: 3}]", "volume_caps: []",
       "volume_cap_removed", "volume cap 3 per day per case_ref removed"},
      {"from: \"08:00\", to: \"18:00\"", "from: \"07:00\", to: \"18:00\"", "time_windows_widened",
       "07:00"},
      {"until: 2028-04-01", "until: 2029-04-01", "valid_until_changed", "1 April 2029"},
      {"path: /asb/v1/summary", "path: /asb/v1/everything", "path_changed",
       "path /asb/v1/summary → /asb/v1/everything"},
      {"    data_categories: [asb-case]\npermissions:",
       "    data_categories: [asb-case]\n    response: {ranges: true}\npermissions:", "ranges_on",
       "range requests are now forwarded"},
  };
  for (const example& e : examples) {
    INFO(e.what);
    change c = only(diff_with(replace(base_agreement, e.from, e.to)), e.what);
    CHECK(c.effect == change_effect::widens);
    CHECK(c.agreement == "test-asb");
    CHECK_THAT(c.words, Catch::Contains(e.words));
  }
}

TEST_CASE("diff_agreements: withhold_if, max_bytes and status classed both ways") {
  std::string with_rules =
      replace(base_agreement, "response: {allow_fields: [/case_id, /status]}",
              "response: {allow_fields: [/case_id, /status], withhold_if: [{pointer: /restricted, "
              "equals: true}], max_bytes: 1000}");
  load_result a = load_texts({{"a.yaml", base_agreement}});
  load_result b = load_texts({{"a.yaml", with_rules}});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  // Adding the rules narrows; taking them away again widens.
  std::vector<change> adding = diff_agreements(*a.set, *b.set);
  CHECK(only(adding, "withhold_if_added").effect == change_effect::narrows);
  CHECK(only(adding, "max_bytes_changed").effect == change_effect::narrows);
  std::vector<change> removing = diff_agreements(*b.set, *a.set);
  CHECK(only(removing, "withhold_if_removed").effect == change_effect::widens);
  CHECK(only(removing, "max_bytes_changed").effect == change_effect::widens);

  // request.max_bytes: a limit set narrows, taken away (the gateway's limit again) widens.
  load_result limited = load_texts(
      {{"a.yaml", replace(base_agreement, "    path: /asb/v1/summary\n",
                          "    path: /asb/v1/summary\n    request: {max_bytes: 5000}\n")}});
  REQUIRE(limited.ok());
  CHECK(only(diff_agreements(*a.set, *limited.set), "request_max_bytes_changed").effect ==
        change_effect::narrows);
  const change lifted = only(diff_agreements(*limited.set, *a.set), "request_max_bytes_changed");
  CHECK(lifted.effect == change_effect::widens);
  CHECK_THAT(lifted.words, Catch::Contains("request.max_bytes 5000 bytes → the gateway's limit"));

  CHECK(only(diff_with(replace(base_agreement, "status: active",
                               "status: suspended\nstatus_reason: Under review")),
             "status_changed")
            .effect == change_effect::narrows);
  load_result draft =
      load_texts({{"a.yaml", replace(base_agreement, "status: active", "status: draft")}});
  REQUIRE(draft.ok());
  CHECK(only(diff_agreements(*draft.set, *a.set), "status_changed").effect ==
        change_effect::widens);
}

TEST_CASE("diff_agreements: agreements are matched by id") {
  load_result one = load_texts({{"a.yaml", base_agreement}});
  load_result two =
      load_texts({{"a.yaml", base_agreement},
                  {"b.yaml", replace(base_agreement, "id: test-asb", "id: test-two")}});
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  change added = only(diff_agreements(*one.set, *two.set), "agreement_added");
  CHECK(added.agreement == "test-two");
  CHECK(added.effect == change_effect::widens);
  change removed = only(diff_agreements(*two.set, *one.set), "agreement_removed");
  CHECK(removed.effect == change_effect::narrows);
  // Another file name for the same agreement is no change.
  load_result renamed = load_texts({{"renamed.yaml", base_agreement}});
  REQUIRE(renamed.ok());
  CHECK(diff_agreements(*one.set, *renamed.set).empty());
}

TEST_CASE("dsa diff: a widening amendment exits 1 and says what widens") {
  sides s;
  run_result r = s.diff(replace(base_agreement, "allow_fields: [/case_id, /status]",
                                "allow_fields: [/case_id, /status, /address]"));
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("agreement test-asb:"));
  CHECK_THAT(r.output,
             Catch::Contains("WIDENS   endpoint asb-case: released field /address added"));
  CHECK_THAT(r.output, Catch::Contains("1 change: 1 widen access, 0 narrow it, 0 other"));

  sides removed_prohibition;
  run_result p = removed_prohibition.diff(replace(
      base_agreement,
      "prohibitions:\n  - {id: no-research, assignee: any, endpoints: [asb-case], purposes: "
      "[research], reason: No research use of case records}\n",
      ""));
  CHECK(p.status == 1);
  CHECK_THAT(p.output, Catch::Contains("prohibition no-research: removed: No research use"));
}

TEST_CASE("dsa diff: a narrowing-only amendment exits 0") {
  sides s;
  std::string narrower = replace(base_agreement, "max: 3}", "max: 2}");
  narrower = replace(narrower, "purposes: [asb-case-management, research]",
                     "purposes: [asb-case-management]");
  narrower = replace(narrower, "version: 1.0.0", "version: 1.1.0");
  run_result r = s.diff(narrower);
  CHECK(r.status == 0);
  CHECK_THAT(r.output,
             Catch::Contains("narrows  permission police-read-case: volume cap 3 per day per "
                             "case_ref → 2"));
  CHECK_THAT(r.output, Catch::Contains("narrows  permission police-read-case: purpose research "
                                       "removed for police"));
  CHECK_THAT(r.output, Catch::Contains("changes  agreement: version 1.0.0 → 1.1.0"));
  CHECK_THAT(r.output, !Catch::Contains("WIDENS"));
}

TEST_CASE("dsa diff: identical agreements print no changes and exit 0") {
  sides s;
  run_result r = s.diff(base_agreement);
  CHECK(r.status == 0);
  CHECK(r.output == "no changes\n");
}

TEST_CASE("dsa diff --format json lists the changes") {
  sides s;
  run_result r = s.diff(replace(base_agreement, "max: 3}", "max: 5}"), "--format json ");
  CHECK(r.status == 1);
  boost::json::value v = boost::json::parse(r.output);
  CHECK(v.at("widens").as_bool());
  const boost::json::array& changes = v.at("changes").as_array();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].at("agreement").as_string() == "test-asb");
  CHECK(changes[0].at("subject").as_string() == "permission police-read-case");
  CHECK(changes[0].at("change").as_string() == "volume_cap_raised");
  CHECK(changes[0].at("effect").as_string() == "widens");

  sides same;
  boost::json::value none = boost::json::parse(same.diff(base_agreement, "--format json ").output);
  CHECK_FALSE(none.at("widens").as_bool());
  CHECK(none.at("changes").as_array().empty());
}

TEST_CASE("dsa diff: either side failing to load exits 2 with its diagnostics") {
  sides s;
  run_result r = s.diff(replace(base_agreement, "version: 1.0.0", "version: one"));
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("a.yaml:"));
  CHECK_THAT(r.output, Catch::Contains("nothing compared"));
  CHECK_THAT(r.output, !Catch::Contains("no changes"));

  temp_dir present;
  present.write("a.yaml", base_agreement);
  run_result missing =
      run("diff " + (present.path() / "nowhere").string() + " " + present.path().string());
  CHECK(missing.status == 2);
  CHECK_THAT(missing.output, Catch::Contains("nowhere: error: no such file or directory"));
}
