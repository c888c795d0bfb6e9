// The decision engine against docs/design.md §4: identity, candidates, every reason in order,
// ordering and tie rules, time windows across the Europe/London clock changes, and volume caps.

#include <catch2/catch.hpp>

#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

namespace {

struct fixture {
  explicit fixture(const std::vector<std::pair<std::string, std::string>>& files = {
                       {"a.yaml", base_agreement}}) {
    load_result r = load_texts(files);
    for (const auto& d : r.diagnostics) {
      UNSCOPED_INFO(d.format());
    }
    REQUIRE(r.ok());
    eng = std::make_unique<engine>(r.set);
  }

  // A request that passes every check of police-read-case on a Tuesday morning.
  struct request {
    std::string method = "GET";
    std::string path = "/asb/v1/cases/ASB-2026-000123";
    std::string query;
    std::optional<std::string> purpose = "asb-case-management";
    std::optional<std::string> case_ref = "ASB-2026-000123";
    std::optional<std::string> acting_user = "PC1234";
    std::optional<std::string> agreement;
    std::string now = "2026-11-24T10:30:00Z";
  };

  decision decide(const request& r, std::string_view party = "police") {
    request_view v;
    v.method = r.method;
    v.path = r.path;
    v.query = r.query;
    v.purpose = r.purpose;
    v.case_ref = r.case_ref;
    v.acting_user = r.acting_user;
    v.agreement = r.agreement;
    v.now = at(r.now.c_str());
    return eng->decide_for(party, v, counter, true);
  }

  std::unique_ptr<engine> eng;
  memory_volume_counter counter;
};

reason why(fixture& f, const fixture::request& r, std::string_view party = "police") {
  return f.decide(r, party).why;
}

}  // namespace

TEST_CASE("an allowed request names its agreement, permission and endpoint") {
  fixture f;
  decision d = f.decide({});
  REQUIRE(d.allowed);
  CHECK(d.why == reason::allowed);
  CHECK(d.status() == 200);
  CHECK(d.requester == "police");
  REQUIRE(d.agreement != nullptr);
  CHECK(agreement_label(d) == "test-asb@1.0.0");
  CHECK(d.permission->id == "police-read-case");
  CHECK(d.endpoint->id == "asb-case");
}

TEST_CASE("a default decision is a deny") {
  decision d;
  CHECK_FALSE(d.allowed);
  CHECK(d.status() == 403);
}

TEST_CASE("identity: unknown, ambiguous, pinned and time-limited identities") {
  fixture f;
  request_identity id;
  id.trust_anchor = "partner-ca";
  id.uri_sans = {"spiffe://nobody.test/gw"};
  CHECK(f.eng->identify(id, at("2026-11-24T10:00:00Z")).why == reason::unknown_requester);

  id.uri_sans = {"spiffe://police.test/gw"};
  auto m = f.eng->identify(id, at("2026-11-24T10:00:00Z"));
  CHECK(m.why == reason::allowed);
  CHECK(m.party == "police");

  id.trust_anchor = "other-ca";  // the right SAN under another trust anchor is nobody
  CHECK(f.eng->identify(id, at("2026-11-24T10:00:00Z")).why == reason::unknown_requester);

  id.trust_anchor = "partner-ca";
  id.uri_sans = {"spiffe://police.test/gw", "spiffe://council.test/gw"};
  CHECK(f.eng->identify(id, at("2026-11-24T10:00:00Z")).why == reason::ambiguous_requester);

  request_view v;
  v.method = "GET";
  v.path = "/asb/v1/summary";
  v.purpose = "asb-case-management";
  v.now = at("2026-11-24T10:00:00Z");
  decision d = f.eng->decide(id, v, f.counter);
  CHECK(d.why == reason::ambiguous_requester);
  CHECK(d.requester.empty());

  std::string pinned =
      replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"}",
              "uri_san: \"spiffe://police.test/gw\", spki_sha256: " + std::string(64, 'a') +
                  ", not_after: 2027-01-01}");
  fixture g({{"a.yaml", pinned}});
  id.uri_sans = {"spiffe://police.test/gw"};
  id.spki_sha256 = std::string(64, 'b');
  CHECK(g.eng->identify(id, at("2026-11-24T10:00:00Z")).why == reason::unknown_requester);
  id.spki_sha256 = std::string(64, 'a');
  CHECK(g.eng->identify(id, at("2026-11-24T10:00:00Z")).why == reason::allowed);
  CHECK(g.eng->identify(id, at("2027-01-02T10:00:00Z")).why == reason::unknown_requester);
}

TEST_CASE("no_agreement: wrong party, method, path or agreement filter") {
  fixture f;
  CHECK(why(f, {}, "council") == reason::no_agreement);
  fixture::request r;
  r.method = "HEAD";  // HEAD is not GET
  CHECK(why(f, r) == reason::no_agreement);
  r = {};
  r.path = "/asb/v1/cases/ASB-2026-000123/notes";
  CHECK(why(f, r) == reason::no_agreement);
  r = {};
  r.agreement = "another-agreement";
  CHECK(why(f, r) == reason::no_agreement);
  r.agreement = "test-asb";
  CHECK(why(f, r) == reason::allowed);
  decision d = f.decide({}, "council");
  CHECK(d.detail.find("test-asb") == std::string::npos);  // never reveals others' agreements
}

TEST_CASE("agreement status and validity") {
  fixture suspended({{"a.yaml", replace(base_agreement, "status: active",
                                        "status: suspended\nstatus_reason: DPIA under review")}});
  decision d = suspended.decide({});
  CHECK(d.why == reason::agreement_inactive);
  CHECK_THAT(d.detail, Catch::Contains("DPIA under review"));
  CHECK(d.status() == 403);

  fixture f;
  fixture::request r;
  r.path = "/asb/v1/summary";
  r.case_ref.reset();
  r.acting_user.reset();
  r.now = "2026-03-31T22:59:59Z";  // 23:59:59 BST on 31 March: not yet
  CHECK(why(f, r) == reason::agreement_not_yet_valid);
  r.now = "2026-03-31T23:00:00Z";  // 00:00 BST on 1 April: from is inclusive
  CHECK(why(f, r) == reason::allowed);
  r.now = "2028-03-31T22:59:59Z";
  CHECK(why(f, r) == reason::allowed);
  r.now = "2028-03-31T23:00:00Z";  // until is exclusive
  CHECK(why(f, r) == reason::agreement_expired);
}

TEST_CASE("review overdue denies only with overdue: deny, from the day after the due date") {
  fixture::request r;
  r.path = "/asb/v1/summary";
  fixture warn;
  r.now = "2027-10-05T10:00:00Z";
  CHECK(why(warn, r) == reason::allowed);
  fixture deny({{"a.yaml", replace(base_agreement, "overdue: warn", "overdue: deny")}});
  r.now = "2027-09-30T22:59:59Z";  // still 30 September in London (BST)
  CHECK(why(deny, r) == reason::allowed);
  r.now = "2027-09-30T23:00:00Z";  // 1 October in London
  CHECK(why(deny, r) == reason::review_overdue);
}

TEST_CASE("path parameters are checked decoded") {
  fixture f;
  fixture::request r;
  r.path = "/asb/v1/cases/ASB-26-1";
  CHECK(why(f, r) == reason::path_param_invalid);
  r.path = "/asb/v1/cases/ASB%2D2026%2D000123";  // decodes to the right case id
  CHECK(why(f, r) == reason::allowed);
}

TEST_CASE("query parameters: unknown, repeated, malformed, bad value, required") {
  fixture f;
  fixture::request r;
  r.query = "include=actions";
  CHECK(why(f, r) == reason::allowed);
  for (const char* q : {"foo=1", "include=actions&include=notes", "include=secrets", "include",
                        "include=actions&", "=x", "include=%zz"}) {
    r.query = q;
    INFO(q);
    CHECK(why(f, r) == reason::query_not_allowed);
  }
  r = {};
  r.path = "/asb/v1/summary";
  r.case_ref.reset();
  r.query = "x=1";  // no query_params: no query string allowed
  CHECK(why(f, r) == reason::query_not_allowed);

  fixture req({{"a.yaml", replace(base_agreement, "required: false", "required: true")}});
  fixture::request s;
  CHECK(why(req, s) == reason::query_not_allowed);
  s.query = "include=notes";
  CHECK(why(req, s) == reason::allowed);
}

TEST_CASE("purpose, case reference and acting user checks in order") {
  fixture f;
  fixture::request r;
  r.purpose.reset();
  CHECK(why(f, r) == reason::purpose_missing);
  r.purpose = "";
  CHECK(why(f, r) == reason::purpose_missing);
  r.purpose = "marketing";
  CHECK(why(f, r) == reason::purpose_not_permitted);

  r = {};
  r.case_ref.reset();
  CHECK(why(f, r) == reason::case_ref_missing);
  r.case_ref = "CASE-1";
  CHECK(why(f, r) == reason::case_ref_invalid);
  r.case_ref = "ASB-2026-000999";
  CHECK(why(f, r) == reason::case_ref_mismatch);

  r = {};
  r.acting_user.reset();
  CHECK(why(f, r) == reason::acting_user_missing);
  r.acting_user = "constable";
  CHECK(why(f, r) == reason::acting_user_invalid);

  // Earlier checks win: a missing purpose is reported even when everything after it fails too.
  r = {};
  r.purpose.reset();
  r.case_ref.reset();
  r.acting_user.reset();
  r.now = "2026-11-28T10:00:00Z";  // Saturday
  CHECK(why(f, r) == reason::purpose_missing);
}

TEST_CASE("time windows: inclusive from, exclusive to, weekends") {
  fixture f;
  fixture::request r;
  r.now = "2026-11-24T08:00:00Z";  // Tuesday 08:00 GMT
  CHECK(why(f, r) == reason::allowed);
  r.now = "2026-11-24T07:59:59Z";
  CHECK(why(f, r) == reason::outside_time_window);
  r.now = "2026-11-24T17:59:59Z";
  CHECK(why(f, r) == reason::allowed);
  r.now = "2026-11-24T18:00:00Z";
  CHECK(why(f, r) == reason::outside_time_window);
  r.now = "2026-11-28T10:00:00Z";  // Saturday
  CHECK(why(f, r) == reason::outside_time_window);
}

TEST_CASE("time windows follow Europe/London across the clock changes") {
  fixture f;
  fixture::request r;
  // Spring 2027: clocks go forward on Sunday 28 March.
  r.now = "2027-03-26T07:30:00Z";  // Friday, GMT: 07:30 local
  CHECK(why(f, r) == reason::outside_time_window);
  r.now = "2027-03-29T07:30:00Z";  // Monday, BST: 08:30 local
  CHECK(why(f, r) == reason::allowed);
  r.now = "2027-03-29T17:00:00Z";  // Monday, BST: 18:00 local
  CHECK(why(f, r) == reason::outside_time_window);
  // Autumn 2026: clocks go back on Sunday 25 October.
  r.now = "2026-10-23T17:30:00Z";  // Friday, BST: 18:30 local
  CHECK(why(f, r) == reason::outside_time_window);
  r.now = "2026-10-26T17:30:00Z";  // Monday, GMT: 17:30 local
  CHECK(why(f, r) == reason::allowed);
  r.now = "2026-10-25T10:00:00Z";  // the Sunday of the change itself
  CHECK(why(f, r) == reason::outside_time_window);
}

TEST_CASE("a matching prohibition always wins") {
  fixture f;
  fixture::request r;
  r.purpose = "research";
  decision d = f.decide(r);
  CHECK(d.why == reason::prohibited);
  CHECK_THAT(d.detail, Catch::Contains("No research use"));
}

TEST_CASE("volume caps count allowed requests per scope key within the window") {
  fixture f;
  fixture::request r;
  for (int i = 0; i < 3; ++i) {
    CHECK(why(f, r) == reason::allowed);
  }
  decision d = f.decide(r);
  CHECK(d.why == reason::volume_cap_exceeded);
  CHECK(d.status() == 429);
  CHECK_THAT(d.detail, Catch::Contains("at most 3 requests per P1D per case_ref"));

  // Another case has its own count.
  fixture::request other;
  other.path = "/asb/v1/cases/ASB-2026-000124";
  other.case_ref = "ASB-2026-000124";
  CHECK(why(f, other) == reason::allowed);

  // Refused requests do not count; a day later the window has moved on.
  r.now = "2026-11-25T10:29:59Z";
  CHECK(why(f, r) == reason::volume_cap_exceeded);
  r.now = "2026-11-25T10:30:00Z";  // the window [now - P1D, now] still includes 10:30:00
  CHECK(why(f, r) == reason::volume_cap_exceeded);
  r.now = "2026-11-25T10:30:01Z";
  CHECK(why(f, r) == reason::allowed);
}

TEST_CASE("volume caps seeded through record() are counted") {
  fixture f;
  const agreement& a = *f.eng->agreements().agreements[0];
  const permission& p = a.permissions[0];
  for (int i = 0; i < 3; ++i) {
    f.counter.record(a, p, {"police", "ASB-2026-000123", "PC1234"}, at("2026-11-24T09:00:00Z"));
  }
  CHECK(why(f, {}) == reason::volume_cap_exceeded);
}

TEST_CASE("candidates: first passing in (agreement id, permission id) order, else furthest") {
  // Two agreements give police the same endpoint: "a-first" wants a different purpose,
  // "b-second" is the base agreement.
  std::string first = replace(replace(base_agreement, "id: test-asb", "id: a-first"),
                              "purposes: [asb-case-management, research]", "purposes: [research]");
  std::string second = replace(base_agreement, "id: test-asb", "id: b-second");
  fixture f({{"1.yaml", first}, {"2.yaml", second}});

  decision d = f.decide({});
  REQUIRE(d.allowed);
  CHECK(d.agreement->id == "b-second");
  REQUIRE(d.trace.size() == 2);
  CHECK(d.trace[0].agreement == "a-first");
  CHECK(d.trace[0].result == reason::purpose_not_permitted);

  // Both fail: a-first at purpose_not_permitted, b-second at case_ref_missing (further).
  fixture::request r;
  r.case_ref.reset();
  d = f.decide(r);
  CHECK(d.why == reason::case_ref_missing);
  CHECK(d.agreement->id == "b-second");

  // Both fail at the same check: the tie goes to the first in order.
  r = {};
  r.acting_user.reset();
  r.purpose = "research-x";
  d = f.decide(r);
  CHECK(d.why == reason::purpose_not_permitted);
  CHECK(d.agreement->id == "a-first");

  // Both pass: the first in order decides.
  fixture both(
      {{"1.yaml", replace(base_agreement, "id: test-asb", "id: a-first")}, {"2.yaml", second}});
  d = both.decide({});
  REQUIRE(d.allowed);
  CHECK(d.agreement->id == "a-first");
}

TEST_CASE("a gateway decides only the endpoints whose upstream it serves") {
  load_result r = load_texts({{"a.yaml", base_agreement}});
  REQUIRE(r.ok());
  memory_volume_counter counter;
  request_view v;
  v.method = "GET";
  v.path = "/asb/v1/summary";
  v.purpose = "asb-case-management";
  v.now = at("2026-11-24T10:30:00Z");

  engine serving(r.set, {"council-asb"});
  CHECK(serving.decide_for("police", v, counter).allowed);

  // At the police's own gateway the council's endpoints are served elsewhere: no candidate.
  engine elsewhere(r.set, {"police-records"});
  decision d = elsewhere.decide_for("police", v, counter);
  CHECK(d.why == reason::no_agreement);
  CHECK(d.agreement == nullptr);

  // A capped permission served elsewhere is never charged.
  v.path = "/asb/v1/cases/ASB-2026-000123";
  v.case_ref = "ASB-2026-000123";
  v.acting_user = "PC1234";
  for (int i = 0; i < 5; ++i) {
    CHECK(elsewhere.decide_for("police", v, counter).why == reason::no_agreement);
  }
  CHECK(serving.decide_for("police", v, counter).allowed);
}
