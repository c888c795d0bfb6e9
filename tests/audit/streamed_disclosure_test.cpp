// Streamed disclosures (docs/auditing.md, "Streamed disclosures"): a disclosure_started entry
// and the disclosure_completed or disclosure_interrupted entry that ends it, joined by request
// id. Real stores written with audit::store; the real `dsa audit` binary reads them.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "audit/reader.hpp"
#include "tests/audit/cli_util.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

const std::string clip_sha(64, 'c');
const std::string partial_sha(64, 'p');

// A streamed request's started entry, as the gateway writes it (gateway/request_handler.cpp,
// start_stream): the request's fields, allow, counted, and the head's details.
entry started(std::uint64_t i, const std::string& request_id, const std::string& clip) {
  entry e = make_entry(i);
  e.kind = entry_kind::disclosure_started;
  e.request_id = request_id;
  e.decision = entry_decision::allow;
  e.reason.clear();
  e.status = 200;
  e.requester.party = "northshire-police";
  e.agreement = "cctv-sharing";
  e.permission = "police-read-footage";
  e.endpoint = "get-clip";
  e.purpose = "crime-investigation";
  e.path = "/cctv/v1/clips/" + clip;
  e.bytes = 0;
  e.counted = true;
  e.details["content_type"] = "video/mp4";
  e.details["declared_length"] = std::int64_t{2'147'483'648};
  e.details["max_bytes"] = std::int64_t{4'294'967'296};
  return e;
}

// The entry that ends it (end_stream): the same request fields, not counted, bytes and hash.
entry ended(entry start, std::uint64_t i, std::int64_t bytes, const std::string& sha,
            const std::string& cause = "") {
  entry e = std::move(start);
  e.time_us = make_entry(i).time_us;
  e.kind = cause.empty() ? entry_kind::disclosure_completed : entry_kind::disclosure_interrupted;
  e.counted = false;
  e.bytes = bytes;
  e.body_sha256 = sha;
  e.details = {};
  if (!cause.empty()) {
    e.details["cause"] = cause;
    e.details["error"] = "the client closed the connection";
  }
  return e;
}

void append_all(const store_options& opts, const std::vector<entry>& entries) {
  std::string error;
  auto s = take(store::open(opts), error);
  INFO(error);
  REQUIRE(s);
  for (const entry& e : entries) {
    REQUIRE(append_sync(*s, e).ok);
  }
}

// seq 0 deny, 1 started clip-x, 2 started clip-y, 3 completed clip-x, 4 interrupted clip-y,
// 5 started clip-z (never ended: a kill -9 mid-stream), 6 allow.
std::vector<entry> paired_log() {
  const entry x = started(1, "req-clip-x", "clip-x");
  const entry y = started(2, "req-clip-y", "clip-y");
  return {make_entry(0),
          x,
          y,
          ended(x, 3, 2'147'483'648, clip_sha),
          ended(y, 4, 65'536, partial_sha, "client_closed"),
          started(5, "req-clip-z", "clip-z"),
          make_entry(6)};
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("verify accepts paired streamed disclosures and counts a started one without an end",
          "[cli][streamed]") {
  temp_dir dir;
  auto opts = options_in(dir);
  append_all(opts, paired_log());

  const verify_result v = completed(verify_store(opts.db_path));
  CHECK(v.intact());
  REQUIRE(v.open_disclosures.size() == 1);
  CHECK(v.open_disclosures[0].seq == 5);
  CHECK(v.open_disclosures[0].request_id == "req-clip-z");

  const std::string db = "--db " + q(opts.db_path);
  auto plain = run("verify " + db);
  INFO(plain.output);
  CHECK(plain.status == 0);
  CHECK(plain.output.find("intact") != std::string::npos);
  CHECK(plain.output.find("open streamed disclosures: 1 (a crash or a stop mid-stream; the bytes "
                          "sent are unknown beyond the declared length)") != std::string::npos);
  CHECK(plain.output.find("seq 5 request_id req-clip-z") == std::string::npos);
  auto verbose = run("verify --verbose " + db);
  INFO(verbose.output);
  CHECK(verbose.status == 0);
  CHECK(verbose.output.find("seq 5 request_id req-clip-z") != std::string::npos);
}

TEST_CASE("verify names an end without its start, a second end and an end that differs",
          "[cli][streamed]") {
  temp_dir dir;
  auto opts = options_in(dir);
  std::vector<entry> log = paired_log();
  const entry x = log[1];
  entry w = started(7, "req-clip-w", "clip-w");
  entry other_requester = ended(w, 10, 100, clip_sha);
  other_requester.requester.party = "eastvale-council";
  entry orphan = ended(started(8, "req-nobody", "clip-q"), 8, 10, clip_sha);
  log.push_back(w);                            // 7
  log.push_back(orphan);                       // 8: no started entry has its request id
  log.push_back(ended(x, 9, 5, partial_sha));  // 9: clip-x already ended at seq 3
  log.push_back(other_requester);              // 10: clip-w's end names another requester
  append_all(opts, log);

  const verify_result v = completed(verify_store(opts.db_path));
  REQUIRE(v.problems.size() == 3);
  for (const problem& p : v.problems) {
    CHECK(p.kind == problem_kind::disclosure_unpaired);
  }
  CHECK(v.problems[0].seq == std::optional<std::uint64_t>(8));
  CHECK(v.problems[0].detail.find("no earlier disclosure_started entry") != std::string::npos);
  CHECK(v.problems[1].seq == std::optional<std::uint64_t>(9));
  CHECK(v.problems[1].detail.find("second end of the disclosure started at seq 1, which entry 3 "
                                  "already ended") != std::string::npos);
  CHECK(v.problems[2].seq == std::optional<std::uint64_t>(10));
  CHECK(v.problems[2].detail.find("differs from the disclosure_started entry 7 in requester") !=
        std::string::npos);
  REQUIRE(v.open_disclosures.size() == 1);  // clip-w's end still ends it
  CHECK(v.open_disclosures[0].seq == 5);

  const std::string db = "--db " + q(opts.db_path);
  auto cli = run("verify " + db);
  INFO(cli.output);
  CHECK(cli.status == 1);
  CHECK(cli.output.find("TAMPERED") != std::string::npos);
  CHECK(cli.output.find("first bad seq 8: unpaired disclosure end") != std::string::npos);
  CHECK(cli.output.find("seq 9: unpaired disclosure end") != std::string::npos);
  CHECK(cli.output.find("seq 10: unpaired disclosure end") != std::string::npos);
  CHECK(cli.output.find("open streamed disclosures: 1") != std::string::npos);
  auto query = run("query " + db);
  CHECK(query.status == 1);
  CHECK(query.output.find("refusing to report") != std::string::npos);
}

TEST_CASE("query shows a streamed disclosure as one row with its outcome, bytes and hash",
          "[cli][streamed]") {
  temp_dir dir;
  auto opts = options_in(dir);
  append_all(opts, paired_log());
  const std::string db = "--db " + q(opts.db_path);

  auto table = run("query " + db);
  INFO(table.output);
  REQUIRE(table.status == 0);
  CHECK(table.output.find("OUTCOME") != std::string::npos);
  CHECK(table.output.find("5 entries (3 streamed disclosures") != std::string::npos);
  // clip-x: one row holding the completed end's bytes and hash.
  CHECK(count_of(table.output, "/cctv/v1/clips/clip-x") == 1);
  const std::size_t x = table.output.find("/cctv/v1/clips/clip-x");
  const std::string x_row = table.output.substr(x, table.output.find('\n', x) - x);
  CHECK(x_row.find("completed") != std::string::npos);
  CHECK(x_row.find("2147483648") != std::string::npos);
  CHECK(x_row.find(clip_sha) != std::string::npos);
  const std::size_t y = table.output.find("/cctv/v1/clips/clip-y");
  const std::string y_row = table.output.substr(y, table.output.find('\n', y) - y);
  CHECK(count_of(table.output, "/cctv/v1/clips/clip-y") == 1);
  CHECK(y_row.find("interrupted:client_closed") != std::string::npos);
  CHECK(y_row.find("65536") != std::string::npos);
  CHECK(y_row.find(partial_sha) != std::string::npos);
  const std::size_t z = table.output.find("/cctv/v1/clips/clip-z");
  const std::string z_row = table.output.substr(z, table.output.find('\n', z) - z);
  CHECK(z_row.find("open") != std::string::npos);
  CHECK(z_row.find("? (declared 2147483648)") != std::string::npos);
  CHECK(table.output.find("disclosure_completed") == std::string::npos);
  CHECK(table.output.find("disclosure_interrupted") == std::string::npos);

  // The filter selects the disclosure; --limit counts rows.
  auto filtered = run("query " + db + " --agreement cctv-sharing --limit 2 --format csv");
  INFO(filtered.output);
  REQUIRE(filtered.status == 0);
  CHECK(count_of(filtered.output, "\r\n") == 3);  // header and two disclosures
  CHECK(filtered.output.find(",outcome,declared_length,end_seq,end_time,end_time_us\r\n") !=
        std::string::npos);
  // bytes, items, fields_removed, body_sha256, counted; then details; then the end's columns.
  CHECK(filtered.output.find(",2147483648,,," + clip_sha + ",true,") != std::string::npos);
  CHECK(filtered.output.find(",completed,2147483648,3,") != std::string::npos);
  CHECK(filtered.output.find(",65536,,," + partial_sha + ",true,") != std::string::npos);
  CHECK(filtered.output.find(",interrupted:client_closed,2147483648,4,") != std::string::npos);
  CHECK(filtered.output.find("disclosure_completed") == std::string::npos);

  // JSON Lines: every entry exactly as stored and hashed.
  auto json = run("query " + db + " --format json");
  REQUIRE(json.status == 0);
  CHECK(count_of(json.output, "\n") == 7);
  CHECK(count_of(json.output, "\"kind\":\"disclosure_completed\"") == 1);
  CHECK(count_of(json.output, "\"kind\":\"disclosure_interrupted\"") == 1);
  std::string error;
  auto r = take(reader::open(opts.db_path), error);
  INFO(error);
  REQUIRE(r);
  CHECK(json.output.find(r->entry_text(3).value_or("?") + "\n") != std::string::npos);
}

TEST_CASE("stats counts a streamed disclosure once and reports completed, interrupted and open",
          "[cli][streamed]") {
  temp_dir dir;
  auto opts = options_in(dir);
  append_all(opts, paired_log());

  std::string error;
  auto r = take(reader::open(opts.db_path), error);
  INFO(error);
  REQUIRE(r);
  const auto groups = take(r->stats(""), error);
  REQUIRE(groups);
  REQUIRE(groups->size() == 1);
  const group_count& g = groups->front();
  CHECK(g.total == 5);  // 7 entries: two of them end a disclosure
  CHECK(g.by_decision.at("allow") == 4);
  CHECK(g.by_decision.at("deny") == 1);
  CHECK(g.streamed == 3);
  CHECK(g.completed == 1);
  CHECK(g.interrupted.at("client_closed") == 1);
  CHECK(g.open == 1);

  const std::string db = "--db " + q(opts.db_path);
  auto summary = run("stats " + db);
  INFO(summary.output);
  REQUIRE(summary.status == 0);
  CHECK(summary.output.find("  allow              4\n") != std::string::npos);
  CHECK(summary.output.find("streamed     3 disclosures") != std::string::npos);
  CHECK(summary.output.find("  completed          1\n") != std::string::npos);
  CHECK(summary.output.find("  interrupted        1 (client_closed 1)\n") != std::string::npos);
  CHECK(summary.output.find("  open               1 (a crash") != std::string::npos);

  auto by = run("stats " + db + " --by agreement");
  INFO(by.output);
  REQUIRE(by.status == 0);
  const std::size_t at = by.output.find("cctv-sharing");
  REQUIRE(at != std::string::npos);
  const std::string row = by.output.substr(at, by.output.find('\n', at) - at);
  std::vector<std::string> cells;
  std::istringstream words(row);
  for (std::string w; words >> w;) {
    cells.push_back(w);
  }
  // agreement, total, allow, deny, withheld, reject, error, other, streamed, completed,
  // interrupted, open
  CHECK(cells == std::vector<std::string>{"cctv-sharing", "3", "3", "0", "0", "0", "0", "0", "3",
                                          "1", "1", "1"});
  CHECK(by.output.find("streamed  completed  interrupted  open\n") != std::string::npos);
  CHECK(by.output.find("interrupted by cause: client_closed 1") != std::string::npos);
}
