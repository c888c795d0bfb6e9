// The auditor's questions in one command (docs/auditing.md, "Queries", "Statistics", "The
// governance report"): multi-value filters, validated values, --tz and bare dates across a clock
// change, CSV that parses back, two-key statistics and a report whose figures are the
// statistics'. A real store written with audit::store; the real `dsa audit` binary reads it.
#include <sys/wait.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "audit/reader.hpp"
#include "tests/audit/cli_util.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

// Microseconds of a UTC time "2026-03-29T00:30:00Z".
std::int64_t utc(int day, int hour, int minute) {
  // 2026-03-27T00:00:00Z is 1774569600 s after the epoch.
  const std::int64_t base = 1'774'569'600;
  return (base + (day - 27) * 86'400 + hour * 3600 + minute * 60) * 1'000'000;
}

entry request(std::uint64_t i, std::int64_t time_us, const std::string& requester,
              const std::string& agreement, entry_decision decision, const std::string& reason) {
  entry e = make_entry(i);
  e.time_us = time_us;
  e.request_id = "req-" + std::to_string(i);
  e.requester.party = requester;
  e.agreement = agreement;
  e.decision = decision;
  e.reason = reason;
  e.status = decision == entry_decision::allow ? 200 : reason == "volume_cap_exceeded" ? 429 : 403;
  e.counted = decision == entry_decision::allow;
  e.fields_removed = 0;
  e.bytes = decision == entry_decision::allow ? 1000 : 0;
  return e;
}

// Nine requests over 27–30 March 2026; Europe/London moves from GMT to BST at 01:00 UTC on the
// 29th. Entries 3, 4, 5 and 6 sit either side of the local midnights of the 29th and 30th.
std::vector<entry> desk_log() {
  std::vector<entry> log;
  log.push_back(request(0, utc(27, 10, 0), "police", "asb-sharing", entry_decision::allow, ""));
  log.back().fields_removed = 2;
  log.back().endpoint = "get-case";
  log.push_back(request(1, utc(27, 11, 0), "fire", "fire-safety", entry_decision::allow, ""));
  log.back().fields_removed = 1;
  log.back().endpoint = "get-premises";
  log.back().purpose = "fire-inspection<i>";
  log.push_back(request(2, utc(28, 9, 0), "police", "asb-sharing", entry_decision::deny,
                        "purpose_not_permitted"));
  // 23:30 GMT on the 28th in London.
  log.push_back(request(3, utc(28, 23, 30), "police", "asb-sharing", entry_decision::allow, ""));
  log.back().endpoint = "get-case";
  log.back().fields_removed = 3;
  // 00:30 GMT on the 29th.
  log.push_back(request(4, utc(29, 0, 30), "fire", "fire-safety", entry_decision::deny,
                        "volume_cap_exceeded"));
  // 23:30 BST on the 29th.
  log.push_back(request(5, utc(29, 22, 30), "council", "youth-justice", entry_decision::allow, ""));
  log.back().purpose = "youth-case";
  // 00:30 BST on the 30th.
  log.push_back(request(6, utc(29, 23, 30), "police", "asb-sharing", entry_decision::deny,
                        "volume_cap_exceeded"));
  log.push_back(request(7, utc(30, 8, 0), "fire", "", entry_decision::reject, "bad_request"));
  // Values a spreadsheet would run as formulas, and CSV's own delimiters.
  log.push_back(request(8, utc(30, 9, 0), "police", "asb-sharing", entry_decision::allow, ""));
  log.back().acting_user = "=HYPERLINK(\"http://x\"),\"y\"\nz";
  log.back().case_ref = "+44 1234";
  log.back().query = "a=1,b=\"2\"";
  log.back().details["note"] = "with, comma";
  return log;
}

store_options write_log(const temp_dir& dir, const std::vector<entry>& log) {
  auto opts = options_in(dir);
  std::string error;
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  for (const entry& e : log) {
    REQUIRE(append_sync(*s, e).ok);
  }
  return opts;
}

// The request ids of a JSON Lines answer, in order.
std::vector<std::string> request_ids(const std::string& jsonl) {
  std::vector<std::string> ids;
  std::istringstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') {
      continue;
    }
    ids.emplace_back(boost::json::parse(line).as_object().at("request_id").as_string());
  }
  return ids;
}

// An RFC 4180 parser: records of fields, quoted fields may hold commas, quotes and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      field_started = false;
      ++i;
    } else {
      field += c;
      field_started = true;
    }
  }
  return rows;
}

boost::json::value json_of(const std::string& output) {
  const std::size_t start = output.find('{');
  REQUIRE(start != std::string::npos);
  return boost::json::parse(output.substr(start));
}

std::uint64_t decision_count(const boost::json::object& group, const char* decision) {
  const boost::json::object& d = group.at("by_decision").as_object();
  const boost::json::value* n = d.if_contains(decision);
  return n == nullptr ? 0 : n->to_number<std::uint64_t>();
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("query: several values per filter, by commas or repeated options, and --request-id",
          "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const std::string db = "--db " + q(opts.db_path) + " --format json";

  auto both = run("query " + db + " --requester police,fire");
  INFO(both.output);
  REQUIRE(both.status == 0);
  CHECK(request_ids(both.output) == std::vector<std::string>{"req-0", "req-1", "req-2", "req-3",
                                                             "req-4", "req-6", "req-7", "req-8"});
  auto repeated = run("query " + db + " --requester council --requester fire --decision deny");
  REQUIRE(repeated.status == 0);
  CHECK(request_ids(repeated.output) == std::vector<std::string>{"req-4"});
  auto reasons =
      run("query " + db + " --reason volume_cap_exceeded,purpose_not_permitted --requester police");
  REQUIRE(reasons.status == 0);
  CHECK(request_ids(reasons.output) == std::vector<std::string>{"req-2", "req-6"});

  auto by_id = run("query " + db + " --request-id req-5,req-7 --request-id req-404");
  REQUIRE(by_id.status == 0);
  CHECK(request_ids(by_id.output) == std::vector<std::string>{"req-5", "req-7"});
  auto none = run("query " + db + " --request-id req-404");
  CHECK(none.status == 0);
  CHECK(request_ids(none.output).empty());
}

TEST_CASE("query: an unknown decision, kind or reason is a usage error listing the valid ones",
          "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const std::string db = "--db " + q(opts.db_path);

  auto reason = run("query " + db + " --reason purpose_not_permited");
  INFO(reason.output);
  CHECK(reason.status == 2);
  CHECK(reason.output.find("unknown reason \"purpose_not_permited\"; did you mean "
                           "'purpose_not_permitted'?") != std::string::npos);
  CHECK(reason.output.find("valid: unknown_requester, ") != std::string::npos);
  CHECK(reason.output.find("volume_cap_exceeded") != std::string::npos);
  CHECK(reason.output.find("0 entries") == std::string::npos);

  auto second = run("query " + db + " --reason bad_request,volume_cap");
  CHECK(second.status == 2);
  CHECK(second.output.find("unknown reason \"volume_cap\"") != std::string::npos);

  auto decision = run("query " + db + " --decision alow");
  CHECK(decision.status == 2);
  CHECK(
      decision.output.find("did you mean 'allow'?; valid: allow, deny, withheld, reject, error") !=
      std::string::npos);
  auto kind = run("query " + db + " --kind requst");
  CHECK(kind.status == 2);
  CHECK(kind.output.find("unknown kind \"requst\"; did you mean 'request'?") != std::string::npos);
  auto stats = run("stats " + db + " --reason nope --by requester");
  CHECK(stats.status == 2);
  CHECK(stats.output.find("unknown reason \"nope\"") != std::string::npos);
  auto zone = run("query " + db + " --tz Europe/Londn");
  CHECK(zone.status == 2);
  CHECK(zone.output.find("unknown time zone \"Europe/Londn\"; did you mean 'Europe/London'?") !=
        std::string::npos);
  auto by = run("stats " + db + " --by requester,reasn");
  CHECK(by.status == 2);
  CHECK(by.output.find("unknown key \"reasn\"; did you mean 'reason'?") != std::string::npos);

  // A kind this build does not know, written by a newer gateway, is data: it filters.
  temp_dir newer;
  std::vector<entry> log = desk_log();
  entry review = request(9, utc(30, 12, 0), "", "", entry_decision::none, "");
  review.kind = entry_kind::unknown;
  review.unknown_kind = "review";
  review.request_id = "req-8";
  log.push_back(review);
  auto newer_opts = write_log(newer, log);
  auto reviews = run("query --db " + q(newer_opts.db_path) + " --kind review --format json");
  INFO(reviews.output);
  CHECK(reviews.status == 0);
  CHECK(request_ids(reviews.output) == std::vector<std::string>{"req-8"});
  auto typo = run("query --db " + q(newer_opts.db_path) + " --kind reviw");
  CHECK(typo.status == 2);
}

TEST_CASE("query and stats: a bare date is local midnight in --tz, across a clock change",
          "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const std::string db = "--db " + q(opts.db_path);

  // The 29th in London is 00:00 GMT (00:00Z) to 00:00 BST (23:00Z): 23 hours.
  auto london = run("query " + db + " --format json --since 2026-03-29 --until 2026-03-30");
  INFO(london.output);
  REQUIRE(london.status == 0);
  CHECK(request_ids(london.output) == std::vector<std::string>{"req-4", "req-5"});
  auto in_utc =
      run("query " + db + " --format json --since 2026-03-29 --until 2026-03-30 --tz UTC");
  REQUIRE(in_utc.status == 0);
  CHECK(request_ids(in_utc.output) == std::vector<std::string>{"req-4", "req-5", "req-6"});
  auto new_york = run("query " + db +
                      " --format json --since 2026-03-29 --until 2026-03-30 --tz America/New_York");
  REQUIRE(new_york.status == 0);
  // 04:00Z on the 29th to 04:00Z on the 30th (EDT, -04:00).
  CHECK(request_ids(new_york.output) == std::vector<std::string>{"req-5", "req-6"});
  auto rfc3339 =
      run("query " + db +
          " --format json --since 2026-03-29T23:30:00+01:00 --until 2026-03-30T00:00:00Z");
  REQUIRE(rfc3339.status == 0);
  CHECK(request_ids(rfc3339.output) == std::vector<std::string>{"req-5", "req-6"});

  // Times are shown in the zone, with its offset on each side of the change.
  auto table = run("query " + db + " --since 2026-03-28 --until 2026-03-30");
  REQUIRE(table.status == 0);
  CHECK(table.output.find("TIME (Europe/London)") != std::string::npos);
  CHECK(table.output.find("2026-03-28T23:30:00.000+00:00") != std::string::npos);
  CHECK(table.output.find("2026-03-29T23:30:00.000+01:00") != std::string::npos);

  // Days in the zone: req-6 (23:30Z on the 29th) is on the 30th in London.
  auto days = run("stats " + db + " --by day --format json");
  REQUIRE(days.status == 0);
  std::map<std::string, std::uint64_t> per_day;
  const boost::json::value days_doc = json_of(days.output);
  for (const auto& g : days_doc.at("groups").as_array()) {
    per_day[std::string(g.at("day").as_string())] = g.at("total").to_number<std::uint64_t>();
  }
  CHECK(per_day == std::map<std::string, std::uint64_t>{
                       {"2026-03-27", 2}, {"2026-03-28", 2}, {"2026-03-29", 2}, {"2026-03-30", 3}});
  auto utc_days = run("stats " + db + " --by day --tz UTC --format json");
  per_day.clear();
  const boost::json::value utc_days_doc = json_of(utc_days.output);
  for (const auto& g : utc_days_doc.at("groups").as_array()) {
    per_day[std::string(g.at("day").as_string())] = g.at("total").to_number<std::uint64_t>();
  }
  CHECK(per_day == std::map<std::string, std::uint64_t>{
                       {"2026-03-27", 2}, {"2026-03-28", 2}, {"2026-03-29", 3}, {"2026-03-30", 2}});
}

TEST_CASE("query --format csv: every column, parses back, formula cells guarded", "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  auto csv = run("query --db " + q(opts.db_path) + " --format csv 2>/dev/null");
  INFO(csv.output);
  REQUIRE(csv.status == 0);
  const auto rows = parse_csv(csv.output);
  REQUIRE(rows.size() == 10);  // the header and nine entries
  const std::vector<std::string>& head = rows[0];
  for (const char* column : {"seq",
                             "time",
                             "time_us",
                             "kind",
                             "request_id",
                             "decision",
                             "reason",
                             "status",
                             "requester",
                             "requester_subject",
                             "requester_cert_sha256",
                             "requester_trust_anchor",
                             "agreement",
                             "agreement_version",
                             "permission",
                             "endpoint",
                             "purpose",
                             "case_ref",
                             "acting_user",
                             "method",
                             "path",
                             "query",
                             "upstream",
                             "upstream_status",
                             "upstream_latency_us",
                             "bytes",
                             "items",
                             "fields_removed",
                             "body_sha256",
                             "counted",
                             "details",
                             "outcome"}) {
    CHECK(std::find(head.begin(), head.end(), column) != head.end());
  }
  auto col = [&](const std::string& name) {
    const auto it = std::find(head.begin(), head.end(), name);
    REQUIRE(it != head.end());
    return static_cast<std::size_t>(it - head.begin());
  };
  for (const auto& row : rows) {
    CHECK(row.size() == head.size());
  }
  const std::vector<std::string>& last = rows[9];
  CHECK(last[col("request_id")] == "req-8");
  CHECK(last[col("acting_user")] == "'=HYPERLINK(\"http://x\"),\"y\"\nz");
  CHECK(last[col("case_ref")] == "'+44 1234");
  CHECK(last[col("query")] == "a=1,b=\"2\"");
  CHECK(last[col("details")] == "{\"note\":\"with, comma\"}");
  CHECK(last[col("requester_subject")] == "CN=case-system,O=Northshire Police,C=GB");
  CHECK(last[col("requester_cert_sha256")] == std::string(64, 'a'));
  CHECK(last[col("time")] == "2026-03-30T10:00:00.000+01:00");
  CHECK(last[col("time_us")] == std::to_string(utc(30, 9, 0)));
  CHECK(last[col("counted")] == "true");
  CHECK(rows[4][col("time")] == "2026-03-28T23:30:00.000+00:00");
  CHECK(rows[5][col("reason")] == "volume_cap_exceeded");
  // In UTC the offset is +00:00.
  auto utc_csv = run("query --db " + q(opts.db_path) + " --format csv --tz UTC --request-id req-8");
  const auto utc_rows = parse_csv(utc_csv.output);
  REQUIRE(utc_rows.size() == 2);
  CHECK(utc_rows[1][col("time")] == "2026-03-30T09:00:00.000+00:00");
}

TEST_CASE("stats --by two keys: counts per pair, and csv and json agree", "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const std::string db = "--db " + q(opts.db_path);

  auto json = run("stats " + db + " --by requester,reason --format json");
  INFO(json.output);
  REQUIRE(json.status == 0);
  std::map<std::pair<std::string, std::string>, std::pair<std::uint64_t, std::uint64_t>> got;
  const boost::json::value json_doc = json_of(json.output);
  for (const auto& g : json_doc.at("groups").as_array()) {
    const auto& o = g.as_object();
    got[{std::string(o.at("requester").as_string()), std::string(o.at("reason").as_string())}] = {
        o.at("total").to_number<std::uint64_t>(), decision_count(o, "allow")};
  }
  using pair = std::pair<std::string, std::string>;
  using counts = std::pair<std::uint64_t, std::uint64_t>;
  CHECK(got == std::map<pair, counts>{{{"council", ""}, {1, 1}},
                                      {{"fire", ""}, {1, 1}},
                                      {{"fire", "bad_request"}, {1, 0}},
                                      {{"fire", "volume_cap_exceeded"}, {1, 0}},
                                      {{"police", ""}, {3, 3}},
                                      {{"police", "purpose_not_permitted"}, {1, 0}},
                                      {{"police", "volume_cap_exceeded"}, {1, 0}}});

  auto sums = run("stats " + db + " --by agreement,endpoint --format json");
  REQUIRE(sums.status == 0);
  std::int64_t removed = 0;
  const boost::json::value sums_doc = json_of(sums.output);
  for (const auto& g : sums_doc.at("groups").as_array()) {
    if (g.at("agreement") == "asb-sharing" && g.at("endpoint") == "get-case") {
      removed = g.at("fields_removed").as_int64();
    }
  }
  CHECK(removed == 5);

  auto csv = run("stats " + db + " --by agreement,day --format csv");
  REQUIRE(csv.status == 0);
  const auto rows = parse_csv(csv.output);
  REQUIRE(!rows.empty());
  CHECK(rows[0][0] == "agreement");
  CHECK(rows[0][1] == "day");
  CHECK(rows[0][2] == "total");
  bool found = false;
  for (const auto& row : rows) {
    if (row[0] == "asb-sharing" && row[1] == "2026-03-30") {
      found = true;
      CHECK(row[2] == "2");  // req-6 (00:30 BST) and req-8
    }
  }
  CHECK(found);

  auto table = run("stats " + db + " --by requester,reason");
  REQUIRE(table.status == 0);
  CHECK(table.output.find("requester  reason") != std::string::npos);
  const std::size_t at = table.output.find("police     volume_cap_exceeded");
  CHECK(at != std::string::npos);

  auto filtered = run("stats " + db + " --by requester --decision deny,reject --format json");
  REQUIRE(filtered.status == 0);
  std::map<std::string, std::uint64_t> refused;
  const boost::json::value filtered_doc = json_of(filtered.output);
  for (const auto& g : filtered_doc.at("groups").as_array()) {
    refused[std::string(g.at("requester").as_string())] = g.at("total").to_number<std::uint64_t>();
  }
  CHECK(refused == std::map<std::string, std::uint64_t>{{"fire", 2}, {"police", 2}});
}

TEST_CASE("report: the JSON figures equal dsa audit stats over the same range", "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const std::string db = "--db " + q(opts.db_path);
  const std::string range =
      " --since 2026-03-27 --until 2026-03-30 --kind request,disclosure_started";
  const auto out = dir / "report.json";

  auto report =
      run("report " + db + " --since 2026-03-27 --until 2026-03-30 --format json --out " + q(out));
  INFO(report.output);
  REQUIRE(report.status == 0);
  const boost::json::value doc = boost::json::parse(slurp(out));
  const boost::json::object& fig = doc.at("figures").as_object();
  CHECK(doc.at("verification").at("intact").as_bool());
  CHECK(doc.at("since").as_string() == "2026-03-27T00:00:00.000+00:00");
  CHECK(doc.at("until").as_string() == "2026-03-30T00:00:00.000+01:00");

  // Disclosures per day per agreement = the allow column of stats --by agreement,day.
  auto per_day = run("stats " + db + range + " --by agreement,day --format json");
  REQUIRE(per_day.status == 0);
  std::map<std::pair<std::string, std::string>, std::uint64_t> stats_days, report_days;
  const boost::json::value per_day_doc = json_of(per_day.output);
  for (const auto& g : per_day_doc.at("groups").as_array()) {
    const std::uint64_t n = decision_count(g.as_object(), "allow");
    if (n > 0) {
      stats_days[{std::string(g.at("agreement").as_string()),
                  std::string(g.at("day").as_string())}] = n;
    }
  }
  for (const auto& d : fig.at("disclosures_per_day").as_array()) {
    report_days[{std::string(d.at("agreement").as_string()),
                 std::string(d.at("day").as_string())}] =
        d.at("disclosures").to_number<std::uint64_t>();
  }
  CHECK(report_days == stats_days);
  CHECK(report_days.size() == 4);  // asb 27th, fire 27th, asb 28th, youth 29th
  CHECK(fig.at("disclosures_total").to_number<std::uint64_t>() == 4);

  // Refusals by reason per partner = stats --by requester,reason, every decision but allow.
  auto refusals = run("stats " + db + range + " --by requester,reason --format json");
  std::map<std::pair<std::string, std::string>, std::uint64_t> stats_refused, report_refused;
  const boost::json::value refusals_doc = json_of(refusals.output);
  for (const auto& g : refusals_doc.at("groups").as_array()) {
    const auto& o = g.as_object();
    const std::uint64_t n = decision_count(o, "deny") + decision_count(o, "withheld") +
                            decision_count(o, "reject") + decision_count(o, "error");
    if (n > 0) {
      stats_refused[{std::string(o.at("requester").as_string()),
                     std::string(o.at("reason").as_string())}] = n;
    }
  }
  for (const auto& r : fig.at("refusals").as_array()) {
    report_refused[{std::string(r.at("requester").as_string()),
                    std::string(r.at("reason").as_string())}] =
        r.at("refusals").to_number<std::uint64_t>();
  }
  CHECK(report_refused == stats_refused);
  CHECK(report_refused.size() == 2);  // police purpose_not_permitted, fire volume_cap_exceeded

  // Fields removed = the sums of stats --by agreement,endpoint.
  auto removed = run("stats " + db + range + " --by agreement,endpoint --format json");
  std::map<std::pair<std::string, std::string>, std::int64_t> stats_removed, report_removed;
  const boost::json::value removed_doc = json_of(removed.output);
  for (const auto& g : removed_doc.at("groups").as_array()) {
    if (g.at("fields_removed").as_int64() > 0) {
      stats_removed[{std::string(g.at("agreement").as_string()),
                     std::string(g.at("endpoint").as_string())}] =
          g.at("fields_removed").as_int64();
    }
  }
  for (const auto& r : fig.at("fields_removed").as_array()) {
    report_removed[{std::string(r.at("agreement").as_string()),
                    std::string(r.at("endpoint").as_string())}] = r.at("fields_removed").as_int64();
  }
  CHECK(report_removed == stats_removed);
  CHECK(report_removed.at({"asb-sharing", "get-case"}) == 5);

  // Volume-cap hits = stats --reason volume_cap_exceeded --by agreement,requester.
  auto capped = run("stats " + db + range +
                    " --reason volume_cap_exceeded --by agreement,requester --format json");
  const boost::json::value capped_doc = json_of(capped.output);
  const auto& cap_groups = capped_doc.at("groups").as_array();
  const auto& hits = fig.at("volume_cap_hits").as_array();
  REQUIRE(hits.size() == cap_groups.size());
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].at("requester") == cap_groups[0].at("requester"));
  CHECK(hits[0].at("hits") == cap_groups[0].at("total"));

  // Top purposes = the allow column of stats --by purpose, most first.
  auto purposes = run("stats " + db + range + " --by purpose --format json");
  std::map<std::string, std::uint64_t> stats_purposes, report_purposes;
  const boost::json::value purposes_doc = json_of(purposes.output);
  for (const auto& g : purposes_doc.at("groups").as_array()) {
    if (const std::uint64_t n = decision_count(g.as_object(), "allow"); n > 0) {
      stats_purposes[std::string(g.at("purpose").as_string())] = n;
    }
  }
  for (const auto& p : fig.at("top_purposes").as_array()) {
    report_purposes[std::string(p.at("purpose").as_string())] =
        p.at("disclosures").to_number<std::uint64_t>();
  }
  CHECK(report_purposes == stats_purposes);
  CHECK(fig.at("top_purposes").as_array()[0].at("purpose") == "asb-casework");
  CHECK(fig.at("emergency_disclosures").as_array().empty());
}

TEST_CASE("report: emergency disclosures with their reviews, overdue ones marked", "[cli][desk]") {
  temp_dir dir;
  std::vector<entry> log;
  // An emergency disclosure whose review fell due long ago and was never recorded.
  log.push_back(request(0, utc(28, 10, 0), "police", "cctv", entry_decision::allow, ""));
  log.back().incident_ref = "NP-20260328-0001";
  log.back().justification = "Child missing, last seen near the bus station";
  log.back().review_due_us = utc(31, 10, 0);
  // One that was reviewed (the review entry comes after the report's range).
  log.push_back(request(1, utc(28, 11, 0), "police", "cctv", entry_decision::allow, ""));
  log.back().incident_ref = "NP-20260328-0002";
  log.back().justification = "Fire, two people unaccounted for";
  log.back().review_due_us = utc(31, 11, 0);
  // A refused emergency request: nothing left, so no review is owed.
  log.push_back(request(2, utc(28, 12, 0), "police", "cctv", entry_decision::deny,
                        "justification_too_short"));
  log.back().incident_ref = "NP-20260328-0003";
  log.back().justification = "urgent";
  // An ordinary disclosure is not in the section.
  log.push_back(request(3, utc(28, 13, 0), "police", "cctv", entry_decision::allow, ""));
  entry review = make_entry(4);
  review.kind = entry_kind::review;
  review.time_us = utc(30, 9, 0);
  review.request_id = "req-1";
  review.details["seq"] = 1;
  review.details["outcome"] = "justified";
  review.details["reviewer"] = "J. Smith, IG lead";
  review.details["note"] = "Life at risk; footage limited to the hour";
  log.push_back(review);
  auto opts = write_log(dir, log);
  const std::string db = "--db " + q(opts.db_path);

  const auto json_out = dir / "report.json";
  auto report = run("report " + db + " --since 2026-03-28 --until 2026-03-29 --format json --out " +
                    q(json_out));
  INFO(report.output);
  REQUIRE(report.status == 0);
  const boost::json::value doc = boost::json::parse(slurp(json_out));
  const auto& em = doc.at("figures").at("emergency_disclosures").as_array();
  REQUIRE(em.size() == 3);
  std::map<std::string, std::string> status;
  for (const auto& e : em) {
    status[std::string(e.at("entry").at("request_id").as_string())] =
        std::string(e.at("review_status").as_string());
  }
  CHECK(status == std::map<std::string, std::string>{
                      {"req-0", "overdue"}, {"req-1", "reviewed"}, {"req-2", "none_owed"}});
  for (const auto& e : em) {
    if (e.at("entry").at("request_id") == "req-1") {
      REQUIRE(e.at("reviews").as_array().size() == 1);
      CHECK(e.at("reviews").as_array()[0].at("details").at("outcome") == "justified");
    }
  }

  const auto html_out = dir / "report.html";
  auto page = run("report " + db + " --since 2026-03-28 --until 2026-03-29 --out " + q(html_out));
  REQUIRE(page.status == 0);
  const std::string html = slurp(html_out);
  CHECK(html.find("OVERDUE: review was due") != std::string::npos);
  CHECK(html.find("justified by J. Smith, IG lead") != std::string::npos);
  CHECK(html.find("refused: nothing disclosed, no review owed") != std::string::npos);
  CHECK(html.find("Child missing, last seen near the bus station") != std::string::npos);
}

TEST_CASE("report: one self-contained, escaped HTML page; a failing store is said so, exit 1",
          "[cli][desk]") {
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const std::string db = "--db " + q(opts.db_path);
  const auto out = dir / "report.html";
  auto report = run("report " + db + " --since 2026-03-27 --until 2026-03-31 --out " + q(out));
  INFO(report.output);
  REQUIRE(report.status == 0);
  const std::string html = slurp(out);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("default-src 'none'") != std::string::npos);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("fire-inspection&lt;i&gt;") != std::string::npos);
  CHECK(html.find("fire-inspection<i>") == std::string::npos);
  for (const char* section :
       {"id=\"verification\"", "Latest signed checkpoint", "id=\"disclosures\"", "id=\"refusals\"",
        "id=\"purposes\"", "id=\"fields-removed\"", "id=\"volume-caps\"", "id=\"emergency\"",
        "None recorded in this period."}) {
    CHECK(html.find(section) != std::string::npos);
  }
  CHECK(html.find("<strong>Intact.</strong>") != std::string::npos);

  // The same store with one column altered fails verification: the page says so, no figures.
  {
    raw_db raw(opts.db_path);
    raw.drop_triggers();
    REQUIRE(raw.exec("UPDATE entries SET requester = 'fire' WHERE seq = 2") == SQLITE_OK);
  }
  const auto bad = dir / "bad.html";
  auto failed = run("report " + db + " --since 2026-03-27 --until 2026-03-31 --out " + q(bad));
  CHECK(failed.status == 1);
  CHECK(failed.output.find("fails verification") != std::string::npos);
  const std::string bad_html = slurp(bad);
  CHECK(bad_html.find("THE AUDIT LOG FAILS VERIFICATION") != std::string::npos);
  CHECK(bad_html.find("seq 2: column altered") != std::string::npos);
  CHECK(bad_html.find("id=\"disclosures\"") == std::string::npos);
  auto failed_json =
      run("report " + db + " --since 2026-03-27 --until 2026-03-31 --format json --out -");
  CHECK(failed_json.status == 1);
  const boost::json::value doc = json_of(failed_json.output);
  CHECK_FALSE(doc.at("verification").at("intact").as_bool());
  CHECK(doc.at("figures").is_null());
}

namespace {

// Renders `page` in headless Chromium to `png`; returns its exit status and every console
// message it logged (a Content-Security-Policy violation, a failed load, a script error).
struct rendered {
  int status = -1;
  std::vector<std::string> console;
  std::string log;
};

rendered render(const temp_dir& dir, const std::filesystem::path& page,
                const std::filesystem::path& png) {
  const auto log = dir / (png.filename().string() + ".log");
  // A profile of its own, so concurrent runs never share one.
  const std::string cmd =
      "timeout 120 chromium --headless --no-sandbox --disable-gpu "
      "--user-data-dir=" +
      q(dir / "chromium-profile") + " --screenshot=" + q(png) +
      " --window-size=1200,2000 --enable-logging=stderr --v=0 " + q("file://" + page.string()) +
      " >" + q(log) + " 2>&1";
  rendered r;
  const int raw = std::system(cmd.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.log = slurp(log);
  std::istringstream lines(r.log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(":CONSOLE") != std::string::npos) {
      r.console.push_back(line);
    }
  }
  return r;
}

// The number of distinct pixel colours of a PNG (tests/audit/png_colours.py), -1 on error.
long colours_of(const std::filesystem::path& png) {
  const std::string cmd = "python3 " +
                          q(std::filesystem::path(DSA_SOURCE_DIR) / "tests/audit/png_colours.py") +
                          " " + q(png) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[256] = {};
  std::string out;
  while (fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
  }
  const int raw = pclose(p);
  INFO(out);
  REQUIRE((WIFEXITED(raw) && WEXITSTATUS(raw) == 0));
  return std::stol(out);
}

}  // namespace

TEST_CASE("report: headless Chromium renders the page, with no console message", "[cli][desk]") {
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      FAIL("chromium is not installed, and CI=true: tools/install-deps.sh installs it");
    }
    WARN("chromium is not installed (tools/install-deps.sh installs it): the page is not rendered");
    return;
  }
  temp_dir dir;
  auto opts = write_log(dir, desk_log());
  const auto page = dir / "report.html";
  auto report = run("report --db " + q(opts.db_path) + " --since 2026-03-27 --until 2026-03-31 " +
                    "--out " + q(page));
  INFO(report.output);
  REQUIRE(report.status == 0);

  const auto png = dir / "report.png";
  const rendered shot = render(dir, page, png);
  INFO(shot.log);
  REQUIRE(shot.status == 0);
  REQUIRE(std::filesystem::exists(png));
  CHECK(shot.console.empty());
  CHECK(colours_of(png) > 1);

  // The two checks can fail: a blank page that tries to load an image gets one colour and a
  // console message (the Content-Security-Policy refusal).
  const auto control = dir / "control.html";
  {
    std::ofstream out(control);
    out << "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
           "content=\"default-src 'none'\"><title>control</title></head><body><img "
           "src=\"https://example.invalid/x.png\" alt=\"\"></body></html>";
  }
  const auto control_png = dir / "control.png";
  const rendered blank = render(dir, control, control_png);
  REQUIRE(blank.status == 0);
  CHECK(blank.console.size() == 1);
  CHECK(colours_of(control_png) == 1);
}
