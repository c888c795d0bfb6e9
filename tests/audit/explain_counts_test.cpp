// `dsa explain --db` (docs/agreements.md, "Explaining a decision"): the volume caps' counts come
// from the audit store's counted entries, exactly as the gateway seeds its counter at start, so
// an IG officer sees how much of a cap is used; without --db the counts are not known and are
// not printed as numbers. A store built here with audit::store, the real `dsa` binary.

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "tests/audit/cli_util.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;
namespace json = boost::json;

namespace {

// The example agreements and request: the police read ASB case ASB-2026-000123 under
// kingsbury-asb-case-sharing / police-read-asb-case, capped at 20 reads of one case a day.
const std::string explain_args = "explain --agreements " + std::string(DSA_SOURCE_DIR) +
                                 "/agreements --time 2026-11-24T10:30:00Z ";
const std::string request =
    std::string(DSA_SOURCE_DIR) + "/agreements/requests/police-read-asb-case.json";

std::int64_t utc_us(std::chrono::sys_days day, int hour) {
  using namespace std::chrono;
  return duration_cast<microseconds>((day + hours(hour)).time_since_epoch()).count();
}

// A counted read of `case_ref` under the example permission at `time_us`.
entry police_read(std::uint64_t i, std::int64_t time_us, const std::string& case_ref) {
  entry e = make_entry(i);
  e.time_us = time_us;
  e.decision = entry_decision::allow;
  e.reason = "";
  e.status = 200;
  e.requester.party = "northshire-police";
  e.agreement = "kingsbury-asb-case-sharing";
  e.permission = "police-read-asb-case";
  e.case_ref = case_ref;
  e.acting_user = "";
  e.counted = true;
  return e;
}

// A store holding `in_window` counted reads of ASB-2026-000123 on the morning of 2026-11-24, and
// around them entries the gateway does not count for that cap: a read two days earlier (outside
// P1D), an uncounted (refused) request, a read of another case.
store_options build_store(const temp_dir& dir, std::uint64_t in_window) {
  using namespace std::chrono;
  const sys_days day = 2026y / November / 24;
  auto opts = options_in(dir);
  std::string error;
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  std::uint64_t i = 0;
  REQUIRE(append_sync(*s, police_read(i++, utc_us(day - days(2), 9), "ASB-2026-000123")).ok);
  for (std::uint64_t n = 0; n < in_window; ++n) {
    REQUIRE(append_sync(*s, police_read(i++, utc_us(day, 8) + static_cast<std::int64_t>(n),
                                        "ASB-2026-000123"))
                .ok);
  }
  entry refused = police_read(i++, utc_us(day, 9), "ASB-2026-000123");
  refused.decision = entry_decision::deny;
  refused.reason = "purpose_not_permitted";
  refused.status = 403;
  refused.counted = false;
  REQUIRE(append_sync(*s, refused).ok);
  REQUIRE(append_sync(*s, police_read(i++, utc_us(day, 9), "ASB-2026-000999")).ok);
  s->close();
  return opts;
}

json::object explain_json(const std::string& extra, int expected_status) {
  run_result r = dsa::test::run_dsa(explain_args + extra + request);
  INFO(r.output);
  REQUIRE(r.status == expected_status);
  return json::parse(r.output).as_object();
}

const json::object& case_cap(const json::object& out) {
  const json::array& caps = out.at("grant").at("volume_caps").as_array();
  REQUIRE(caps.size() == 1);
  const json::object& cap = caps[0].as_object();
  CHECK(cap.at("scope").as_string() == "case_ref");
  CHECK(cap.at("key").as_string() == "ASB-2026-000123");
  CHECK(cap.at("max").as_int64() == 20);
  return cap;
}

}  // namespace

TEST_CASE("dsa explain --db counts a cap from the audit store as the gateway does", "[cli]") {
  temp_dir dir;
  auto opts = build_store(dir, 3);
  json::object out = explain_json("--db " + q(opts.db_path) + " ", 0);
  CHECK(out.at("decision").as_string() == "allow");
  // Three counted reads of this case in the window, plus this request; the older read, the
  // refused request and the other case are not counted.
  CHECK(case_cap(out).at("count").as_int64() == 4);
  const json::object& counts = out.at("grant").at("counts").as_object();
  CHECK(counts.at("known").as_bool());
  CHECK(counts.at("db").as_string() == opts.db_path.string());
  // What the grant also shows: the lawful basis, gateway and released fields.
  CHECK(!out.at("grant").at("lawful_basis").as_array().empty());
  CHECK(!out.at("grant").at("legal_gateway").as_array().empty());
  CHECK(out.at("grant").at("released").as_object().contains("allow_fields"));
  // withhold_if's value is the JSON value the agreement wrote (true), not its text ("true").
  const json::array& withhold = out.at("grant").at("released").at("withhold_if").as_array();
  REQUIRE(withhold.size() == 1);
  CHECK(withhold[0].at("equals") == json::value(true));

  run_result text =
      dsa::test::run_dsa(explain_args + "--format text --db " + q(opts.db_path) + " " + request);
  CHECK(text.status == 0);
  CHECK_THAT(text.output, Catch::Contains("volume cap:    4 of 20 per case_ref 'ASB-2026-000123' "
                                          "in P1D (counting this request"));
}

TEST_CASE("dsa explain --db refuses as the gateway would once the store fills the cap", "[cli]") {
  temp_dir full_dir;
  auto full = build_store(full_dir, 20);
  json::object out = explain_json("--db " + q(full.db_path) + " ", 1);
  CHECK(out.at("decision").as_string() == "deny");
  CHECK(out.at("reason").as_string() == "volume_cap_exceeded");

  temp_dir last_dir;
  auto last = build_store(last_dir, 19);
  json::object allowed = explain_json("--db " + q(last.db_path) + " ", 0);
  CHECK(case_cap(allowed).at("count").as_int64() == 20);
}

TEST_CASE("dsa explain without --db says the counts are not known", "[cli]") {
  json::object out = explain_json("", 0);
  CHECK(case_cap(out).at("count").is_null());
  CHECK(out.at("grant").at("counts").at("known").as_bool() == false);
  run_result text = dsa::test::run_dsa(explain_args + "--format text " + request);
  CHECK(text.status == 0);
  CHECK_THAT(text.output, Catch::Contains("max 20 per case_ref 'ASB-2026-000123' in P1D; current "
                                          "count not known"));
  CHECK_THAT(text.output, !Catch::Contains("1 of 20"));
}

TEST_CASE("dsa explain --db refuses a store that fails verification, naming the seq", "[cli]") {
  temp_dir dir;
  auto opts = build_store(dir, 3);
  {
    raw_db raw(opts.db_path);
    raw.drop_triggers();
    REQUIRE(raw.exec("UPDATE entries SET entry = replace(entry, '\"counted\":true', "
                     "'\"counted\":false') WHERE seq = 2") == SQLITE_OK);
  }
  run_result r = dsa::test::run_dsa(explain_args + "--db " + q(opts.db_path) + " " + request);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("fails verification"));
  CHECK_THAT(r.output, Catch::Contains("first bad seq 2"));
  // A path that is not a store is an error too, never a count of zero.
  run_result missing =
      dsa::test::run_dsa(explain_args + "--db " + q(dir / "nope.db") + " " + request);
  CHECK(missing.status == 2);
  CHECK_THAT(missing.output, Catch::Contains("nope.db"));
}
