// `dsa audit …`: the auditor's commands over an audit store (audit/store.hpp). Every command that
// reads a store opens it read-only and never creates a file; exit status 0 success, 1 a negative
// finding (tampered log, invalid proof), 2 usage or input/output error.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/consistency.hpp"
#include "audit/entry.hpp"
#include "audit/merkle.hpp"
#include "audit/proof.hpp"
#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "commands.hpp"

namespace dsa::cli {
namespace {

namespace audit = dsa::audit;
using namespace std::chrono;

// Parses RFC 3339 ("2025-06-01T12:00:00Z", fractional seconds and ±hh:mm offsets allowed) or a
// bare date, which means 00:00 UTC: the log's own times are UTC, so a day boundary there is what
// an auditor comparing with the log expects.
std::optional<std::int64_t> parse_time(std::string_view s) {
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) {
      return false;
    }
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc() && p == s.data() + pos + len;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!num(0, 4, y) || s.size() < 10 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  std::int64_t us = duration_cast<microseconds>(sys_days{ymd}.time_since_epoch()).count();
  if (s.size() == 10) {
    return us;
  }
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, h) ||
      s[13] != ':' || !num(14, 2, mi) || s[16] != ':' || !num(17, 2, sec) || h > 23 || mi > 59 ||
      sec > 60) {
    return std::nullopt;
  }
  us += ((h * 60 + mi) * 60 + sec) * 1'000'000LL;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    std::int64_t frac = 0, scale = 1'000'000;
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
    us += frac;
  }
  std::string_view zone = s.substr(pos);
  if (zone == "Z" || zone == "z") {
    return us;
  }
  int oh = 0, om = 0;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':' ||
      !num(pos + 1, 2, oh) || !num(pos + 4, 2, om) || oh > 23 || om > 59) {
    return std::nullopt;
  }
  const std::int64_t offset = (oh * 60 + om) * 60'000'000LL;
  return zone[0] == '+' ? us - offset : us + offset;
}

std::string format_time(std::int64_t us) {
  const sys_time<microseconds> t{microseconds{us}};
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss<microseconds> tod{t - day_point};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(tod.hours().count()),
                static_cast<long long>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count() / 1000));
  return buf;
}

std::string csv_field(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(v);
  }
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') {
      out += "\"\"";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool write_file(const std::string& path, const std::string& text, std::string& error) {
  if (path == "-") {
    std::cout << text;
    return true;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !(out << text) || !out.flush()) {
    error = "cannot write " + path;
    return false;
  }
  return true;
}

// Opens the store and verifies it on the reader's snapshot before anything is reported from it:
// query and stats derive every value from the entry texts, and this proves those texts are the
// ones the signed checkpoints cover. Returns the reader, or nullptr with `status` set (2: cannot
// read; 1: the log fails verification, named on stderr).
std::unique_ptr<audit::reader> open_verified(const char* command, const std::string& db,
                                             const std::string& key_path, int& status) {
  std::string error;
  audit::verify_options options;
  if (!key_path.empty()) {
    auto pem = read_file(key_path, error);
    if (!pem) {
      std::cerr << "dsa audit " << command << ": " << error << "\n";
      status = 2;
      return nullptr;
    }
    options.public_key_pem = *pem;
  }
  auto r = audit::reader::open(db, error);
  if (!r) {
    std::cerr << "dsa audit " << command << ": " << error << "\n";
    status = 2;
    return nullptr;
  }
  auto result = audit::verify_reader(*r, options);
  if (!result.completed) {
    std::cerr << "dsa audit " << command << ": " << result.error << "\n";
    status = 2;
    return nullptr;
  }
  if (!result.intact()) {
    const audit::problem& p = result.problems.front();
    std::cerr << "dsa audit " << command << ": refusing to report from " << db
              << ", which fails verification: "
              << (p.seq ? "first bad seq " + std::to_string(*p.seq) + ": " : std::string())
              << audit::to_string(p.kind) << " — " << p.detail << "; run `dsa audit verify --db "
              << db << "` for every problem\n";
    status = 1;
    return nullptr;
  }
  if (result.entries > result.covered) {
    std::cerr << "dsa audit " << command << ": note: the last " << result.entries - result.covered
              << " entries are not yet covered by a signed checkpoint\n";
  }
  status = 0;
  return r;
}

struct query_args {
  std::string db, key, format = "table", since, until;
  std::optional<std::string> agreement, requester, purpose, case_ref, acting_user, decision, reason;
  std::uint64_t limit = 0;
};

int run_query(const query_args& a) {
  audit::query_filter f;
  f.agreement = a.agreement;
  f.requester = a.requester;
  f.purpose = a.purpose;
  f.case_ref = a.case_ref;
  f.acting_user = a.acting_user;
  f.decision = a.decision;
  f.reason = a.reason;
  f.limit = a.limit;
  for (auto [text, out] : {std::pair{&a.since, &f.since_us}, std::pair{&a.until, &f.until_us}}) {
    if (!text->empty()) {
      *out = parse_time(*text);
      if (!*out) {
        std::cerr << "dsa audit query: \"" << *text
                  << "\" is not an RFC 3339 time or a YYYY-MM-DD date\n";
        return 2;
      }
    }
  }
  std::string error;
  int status = 0;
  auto r = open_verified("query", a.db, a.key, status);
  if (!r) {
    return status;
  }
  std::vector<std::vector<std::string>> rows;
  static const std::vector<std::string> table_head = {
      "SEQ",       "TIME (UTC)", "DECISION", "REASON",  "REQUESTER",
      "AGREEMENT", "PURPOSE",    "CASE REF", "REQUEST", "STATUS"};
  static const std::vector<std::string> csv_head = {"seq",
                                                    "time",
                                                    "kind",
                                                    "request_id",
                                                    "decision",
                                                    "reason",
                                                    "status",
                                                    "requester",
                                                    "subject",
                                                    "trust_anchor",
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
                                                    "counted"};
  if (a.format == "csv") {
    std::string line;
    for (std::size_t i = 0; i < csv_head.size(); ++i) {
      line += (i ? "," : "") + csv_head[i];
    }
    std::cout << line << "\r\n";
  }
  bool ok = r->query(
      f,
      [&](std::string_view text) {
        if (a.format == "json") {
          std::cout << text << '\n';
          return true;
        }
        auto e = audit::entry_from_json(text);
        if (!e) {
          std::cerr << "dsa audit query: an entry is not valid JSON; run `dsa audit verify`\n";
          return true;
        }
        auto num = [](std::int64_t v) { return v == 0 ? std::string() : std::to_string(v); };
        if (a.format == "csv") {
          const std::vector<std::string> fields = {
              std::to_string(e->seq),
              format_time(e->time_us),
              e->kind,
              e->request_id,
              e->decision,
              e->reason,
              num(e->status),
              e->requester.party,
              e->requester.subject,
              e->requester.trust_anchor,
              e->agreement,
              e->agreement_version,
              e->permission,
              e->endpoint,
              e->purpose,
              e->case_ref,
              e->acting_user,
              e->method,
              e->path,
              e->query,
              e->upstream,
              num(e->upstream_status),
              e->upstream_latency_us < 0 ? std::string() : std::to_string(e->upstream_latency_us),
              num(e->bytes),
              num(e->items),
              num(e->fields_removed),
              e->body_sha256,
              e->counted ? "true" : "false"};
          std::string line;
          for (std::size_t i = 0; i < fields.size(); ++i) {
            line += (i ? "," : "") + csv_field(fields[i]);
          }
          std::cout << line << "\r\n";
          return true;
        }
        std::string agreement = e->agreement;
        if (!e->agreement_version.empty()) {
          agreement += "@" + e->agreement_version;
        }
        std::string request = e->method.empty() ? std::string() : e->method + " " + e->path;
        if (!e->query.empty()) {
          request += "?" + e->query;
        }
        rows.push_back({std::to_string(e->seq), format_time(e->time_us),
                        e->kind == "request" ? e->decision : e->kind, e->reason, e->requester.party,
                        agreement, e->purpose, e->case_ref, request, num(e->status)});
        return true;
      },
      error);
  if (!ok) {
    std::cerr << "dsa audit query: " << error << "\n";
    return 2;
  }
  if (a.format == "table") {
    std::vector<std::size_t> width(table_head.size());
    for (std::size_t i = 0; i < width.size(); ++i) {
      width[i] = table_head[i].size();
      for (const auto& row : rows) {
        width[i] = std::max(width[i], row[i].size());
      }
    }
    auto print = [&](const std::vector<std::string>& row) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) {
          line += std::string(width[i] - row[i].size() + 2, ' ');
        }
      }
      std::cout << line << '\n';
    };
    print(table_head);
    for (const auto& row : rows) {
      print(row);
    }
    std::cout << rows.size() << (rows.size() == 1 ? " entry\n" : " entries\n");
  }
  return 0;
}

int run_verify(const std::string& db, const std::string& key_path) {
  audit::verify_options options;
  if (!key_path.empty()) {
    std::string error;
    auto pem = read_file(key_path, error);
    if (!pem) {
      std::cerr << "dsa audit verify: " << error << "\n";
      return 2;
    }
    options.public_key_pem = *pem;
  }
  const auto start = steady_clock::now();
  auto result = audit::verify_store(db, options);
  const double seconds = duration<double>(steady_clock::now() - start).count();
  if (!result.completed) {
    std::cerr << "dsa audit verify: " << result.error << "\n";
    return 2;
  }
  const std::uint64_t uncovered = result.entries - std::min(result.entries, result.covered);
  if (result.intact()) {
    std::cout << "intact: " << db << "\n"
              << "  entries      " << result.entries << "\n"
              << "  checkpoints  " << result.checkpoints << " (the latest verified covers "
              << result.covered << " entries)\n"
              << "  root         " << audit::to_base64(result.root) << " (size " << result.entries
              << ")\n"
              << "  key          "
              << (result.key_from_store
                      ? "the key recorded in the store (pass --key with your own copy to rule "
                        "out a replaced key)"
                      : "the key given with --key")
              << "\n";
    if (result.format != "dsa-audit/2") {
      std::cout << "  format       " << result.format
                << " (its checkpoints carry no signed time; a gateway upgrades it in place when "
                   "it next opens it)\n";
    }
    if (uncovered > 0) {
      std::cout << "  note         the last " << uncovered
                << " entries are not yet covered by a checkpoint (a running gateway signs "
                   "within a second; after a crash, at its next start)\n";
    }
    std::cout << "  time         " << seconds << " s\n";
    return 0;
  }
  const audit::problem& first = result.problems.front();
  std::cout << "TAMPERED: " << db << "\n";
  if (first.seq) {
    std::cout << "  first bad seq " << *first.seq << ": " << audit::to_string(first.kind) << " — "
              << first.detail << "\n";
  } else {
    std::cout << "  " << audit::to_string(first.kind) << " — " << first.detail << "\n";
  }
  const std::size_t shown = std::min<std::size_t>(result.problems.size(), 20);
  if (result.problems.size() > 1) {
    std::cout << "  all problems (" << result.problems.size() << "):\n";
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& p = result.problems[i];
      std::cout << "    " << (p.seq ? "seq " + std::to_string(*p.seq) + ": " : std::string())
                << audit::to_string(p.kind) << " — " << p.detail << "\n";
    }
  }
  std::cout << "  entries " << result.entries << ", checkpoints " << result.checkpoints << "\n";
  return 1;
}

int run_prove(const std::string& db, std::uint64_t seq) {
  std::string error;
  auto p = audit::prove(db, seq, error);
  if (!p) {
    std::cerr << "dsa audit prove: " << error << "\n";
    return 2;
  }
  std::cout << audit::proof_to_json(*p);
  return 0;
}

int run_verify_proof(const std::string& key_path, const std::string& proof_path) {
  std::string error;
  auto pem = read_file(key_path, error);
  if (!pem) {
    std::cerr << "dsa audit verify-proof: " << error << "\n";
    return 2;
  }
  auto key = audit::public_key::from_pem(*pem, error);
  if (!key) {
    std::cerr << "dsa audit verify-proof: " << key_path << ": " << error << "\n";
    return 2;
  }
  auto text = read_file(proof_path, error);
  if (!text) {
    std::cerr << "dsa audit verify-proof: " << error << "\n";
    return 2;
  }
  auto proof = audit::proof_from_json(*text, error);
  if (!proof) {
    std::cout << "INVALID proof: " << error << "\n";
    return 1;
  }
  auto check = audit::verify_proof(*proof, *key);
  if (!check.ok) {
    std::cout << "INVALID proof: " << check.error << "\n";
    return 1;
  }
  std::cout << "valid: entry " << proof->leaf_index << " is in the log \"" << proof->origin
            << "\" of " << proof->size << " entries with root " << audit::to_base64(proof->root)
            << ", signed by this key\n";
  return 0;
}

int run_stats(const std::string& db, const std::string& by, const std::string& key_path) {
  std::string error;
  int status = 0;
  auto r = open_verified("stats", db, key_path, status);
  if (!r) {
    return status;
  }
  std::vector<audit::group_count> groups;
  if (!r->stats(by, groups, error)) {
    std::cerr << "dsa audit stats: " << error << "\n";
    return 2;
  }
  static const std::vector<std::string> decisions = {"allow", "deny", "withheld", "reject",
                                                     "error"};
  if (by.empty()) {
    std::vector<audit::stored_checkpoint> checkpoints;
    if (!r->checkpoints(checkpoints, error)) {
      std::cerr << "dsa audit stats: " << error << "\n";
      return 2;
    }
    std::optional<std::int64_t> first_time, last_time;
    audit::query_filter first_only;
    first_only.limit = 1;
    (void)r->query(
        first_only,
        [&](std::string_view t) {
          if (auto e = audit::entry_from_json(t)) {
            first_time = e->time_us;
          }
          return false;
        },
        error);
    const std::uint64_t count = r->entry_count();
    if (count > 0) {
      if (auto e = audit::entry_from_json(r->entry_text(count - 1).value_or(""))) {
        last_time = e->time_us;
      }
    }
    std::cout << "store        " << db << "\n"
              << "origin       " << r->meta("origin").value_or("") << "\n"
              << "entries      " << count << "\n";
    if (first_time && last_time) {
      std::cout << "from         " << format_time(*first_time) << "\n"
                << "to           " << format_time(*last_time) << "\n";
    }
    if (!groups.empty()) {
      for (const auto& [d, n] : groups.front().by_decision) {
        std::cout << "  " << d << std::string(d.size() < 19 ? 19 - d.size() : 1, ' ') << n << "\n";
      }
    }
    std::cout << "checkpoints  " << checkpoints.size();
    // Read from the signed note, not from the row's copies (the store verified above).
    auto note =
        checkpoints.empty() ? std::nullopt : audit::parse_checkpoint_note(checkpoints.back().note);
    if (note) {
      std::cout << " (latest: size " << note->size;
      if (note->time_us) {
        std::cout << ", signed " << format_time(*note->time_us);
      }
      std::cout << ")";
    }
    std::cout << "\n";
    return 0;
  }
  std::vector<std::string> head = {by == "day" ? "DAY (UTC)" : by, "total"};
  head.insert(head.end(), decisions.begin(), decisions.end());
  head.push_back("other");
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : groups) {
    std::vector<std::string> row = {g.key.empty() ? "(none)" : g.key, std::to_string(g.total)};
    std::uint64_t known = 0;
    for (const auto& d : decisions) {
      auto it = g.by_decision.find(d);
      const std::uint64_t n = it == g.by_decision.end() ? 0 : it->second;
      known += n;
      row.push_back(std::to_string(n));
    }
    row.push_back(std::to_string(g.total - known));  // lifecycle events
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (const auto& row : rows) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i == 0) {
        line += row[i] + std::string(width[i] - row[i].size() + 2, ' ');
      } else {
        line += std::string(width[i] - row[i].size(), ' ') + row[i] + "  ";
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    std::cout << line << '\n';
  };
  print(head);
  for (const auto& row : rows) {
    print(row);
  }
  return 0;
}

int run_export_key(const std::string& db) {
  std::string error;
  auto r = audit::reader::open(db, error);
  if (!r) {
    std::cerr << "dsa audit export-key: " << error << "\n";
    return 2;
  }
  auto pem = r->meta("public_key");
  if (!pem || pem->empty()) {
    std::cerr << "dsa audit export-key: " << db << " records no public key\n";
    return 2;
  }
  std::cout << *pem;
  return 0;
}

// The key to check signatures with: the auditor's copy, or the one recorded in the store.
std::unique_ptr<audit::public_key> load_key(const char* command, const std::string& key_path,
                                            const audit::reader* r, int& status) {
  std::string error;
  std::string pem;
  if (!key_path.empty()) {
    auto text = read_file(key_path, error);
    if (!text) {
      std::cerr << "dsa audit " << command << ": " << error << "\n";
      status = 2;
      return nullptr;
    }
    pem = *text;
  } else if (r != nullptr) {
    pem = r->meta("public_key").value_or("");
  }
  auto key = audit::public_key::from_pem(pem, error);
  if (!key) {
    std::cerr << "dsa audit " << command << ": "
              << (key_path.empty() ? std::string("the key recorded in the store") : key_path)
              << ": " << error << "\n";
    status = 2;
  }
  return key;
}

int run_checkpoint(const std::string& db, const std::string& key_path, const std::string& out) {
  std::string error;
  auto r = audit::reader::open(db, error);
  if (!r) {
    std::cerr << "dsa audit checkpoint: " << error << "\n";
    return 2;
  }
  int status = 0;
  auto key = load_key("checkpoint", key_path, r.get(), status);
  if (!key) {
    return status;
  }
  auto latest = audit::latest_valid_checkpoint(*r, *key, error);
  if (!latest) {
    if (!error.empty()) {
      std::cerr << "dsa audit checkpoint: " << error << "\n";
      return 2;
    }
    std::cerr << "dsa audit checkpoint: " << db << " holds no checkpoint signed by "
              << (key_path.empty() ? "its key" : key_path) << "\n";
    return 1;
  }
  // Only a checkpoint the entries still match is worth keeping.
  std::vector<audit::hash> leaves;
  if (!r->leaf_hashes(latest->c.size, leaves, error) ||
      audit::merkle_root(leaves) != latest->c.root) {
    std::cerr << "dsa audit checkpoint: the entries of " << db
              << " do not match its latest checkpoint (size " << latest->c.size
              << "); run `dsa audit verify`" << (error.empty() ? "" : ": " + error) << "\n";
    return 1;
  }
  if (!write_file(out, audit::signed_checkpoint_to_json(*latest), error)) {
    std::cerr << "dsa audit checkpoint: " << error << "\n";
    return 2;
  }
  if (out != "-") {
    std::cerr << "wrote the checkpoint of \"" << latest->c.origin << "\" at size " << latest->c.size
              << (latest->c.time_us ? ", signed " + audit::format_utc(*latest->c.time_us)
                                    : std::string())
              << " to " << out << "\n";
  }
  return 0;
}

struct consistency_args {
  std::string db, from, key, proof_out, checkpoint_out;
};

int run_consistency(const consistency_args& a) {
  std::string error;
  auto text = read_file(a.from, error);
  if (!text) {
    std::cerr << "dsa audit consistency: " << error << "\n";
    return 2;
  }
  auto saved = audit::signed_checkpoint_from_json(*text, error);
  if (!saved) {
    std::cerr << "dsa audit consistency: " << a.from << ": " << error << "\n";
    return 2;
  }
  std::string pem;
  if (!a.key.empty()) {
    auto k = read_file(a.key, error);
    if (!k) {
      std::cerr << "dsa audit consistency: " << error << "\n";
      return 2;
    }
    pem = *k;
  }
  auto res = audit::check_consistency(a.db, *saved, pem);
  if (!res.completed) {
    std::cerr << "dsa audit consistency: " << res.error << "\n";
    return 2;
  }
  if (!res.consistent()) {
    std::cout << "INCONSISTENT: " << a.db << " against " << a.from << "\n"
              << "  " << audit::to_string(res.finding) << " — " << res.detail << "\n";
    return 1;
  }
  std::cout << "consistent: " << a.db << " against " << a.from << "\n"
            << "  " << res.detail << "\n"
            << "  key          "
            << (res.key_from_store ? "the key recorded in the store (pass --key with your own "
                                     "copy to rule out a replaced key)"
                                   : "the key given with --key")
            << "\n";
  if (!a.proof_out.empty()) {
    audit::consistency_proof p{saved->c.origin, saved->c.size,     res.newest.c.size,
                               saved->c.root,   res.newest.c.root, res.proof};
    if (!write_file(a.proof_out, audit::consistency_proof_to_json(p), error)) {
      std::cerr << "dsa audit consistency: " << error << "\n";
      return 2;
    }
  }
  if (!a.checkpoint_out.empty() &&
      !write_file(a.checkpoint_out, audit::signed_checkpoint_to_json(res.newest), error)) {
    std::cerr << "dsa audit consistency: " << error << "\n";
    return 2;
  }
  return 0;
}

int run_verify_consistency(const std::string& key_path, const std::string& old_path,
                           const std::string& new_path, const std::string& proof_path) {
  int status = 0;
  auto key = load_key("verify-consistency", key_path, nullptr, status);
  if (!key) {
    return status;
  }
  std::string error;
  std::optional<audit::signed_checkpoint> cps[2];
  const std::string* paths[2] = {&old_path, &new_path};
  for (int i = 0; i < 2; ++i) {
    auto text = read_file(*paths[i], error);
    if (!text) {
      std::cerr << "dsa audit verify-consistency: " << error << "\n";
      return 2;
    }
    cps[i] = audit::signed_checkpoint_from_json(*text, error);
    if (!cps[i]) {
      std::cerr << "dsa audit verify-consistency: " << *paths[i] << ": " << error << "\n";
      return 2;
    }
  }
  auto text = read_file(proof_path, error);
  if (!text) {
    std::cerr << "dsa audit verify-consistency: " << error << "\n";
    return 2;
  }
  auto proof = audit::consistency_proof_from_json(*text, error);
  if (!proof) {
    std::cout << "INVALID proof: " << error << "\n";
    return 1;
  }
  auto check = audit::verify_consistency_offline(*cps[0], *cps[1], *proof, *key);
  if (!check.ok) {
    std::cout << "INVALID: " << check.detail << "\n";
    return 1;
  }
  std::cout << "valid: " << check.detail << "\n";
  return 0;
}

}  // namespace

void add_audit_commands(CLI::App& app, int& status) {
  CLI::App* audit_cmd = app.add_subcommand(
      "audit",
      "Query, verify and prove entries of a DSA Gateway audit store (read-only; never creates "
      "or changes a file).");
  audit_cmd->require_subcommand(1);

  // query
  auto q = std::make_shared<query_args>();
  CLI::App* query = audit_cmd->add_subcommand(
      "query",
      "List audit entries, oldest first, matching every filter given. Times are UTC; --since "
      "is inclusive, --until exclusive. The whole log is verified first; a log that fails "
      "verification is refused (exit 1).");
  query->add_option("--db", q->db, "Audit store (SQLite file)")->required();
  query->add_option("--key", q->key,
                    "The checkpoint public key (PEM) you kept; the log is verified with it before "
                    "anything is listed (default: the key recorded in the store)");
  query->add_option("--agreement", q->agreement, "Agreement id");
  query->add_option("--requester", q->requester, "Requesting party id");
  query->add_option("--purpose", q->purpose, "Purpose id");
  query->add_option("--case-ref", q->case_ref, "Case reference");
  query->add_option("--acting-user", q->acting_user, "Acting user");
  query->add_option("--decision", q->decision, "allow | deny | withheld | reject | error");
  query->add_option("--reason", q->reason, "Reason code, e.g. purpose_not_permitted");
  query->add_option("--since", q->since,
                    "From this RFC 3339 time or date (YYYY-MM-DD = 00:00 UTC)");
  query->add_option("--until", q->until, "Before this RFC 3339 time or date");
  query->add_option("--limit", q->limit, "At most this many entries (0 = all)");
  query
      ->add_option("--format", q->format,
                   "table (for people), json (JSON Lines, entries exactly as stored and hashed) "
                   "or csv (RFC 4180)")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  query->callback([q, &status] { status = run_query(*q); });

  // verify
  auto v_db = std::make_shared<std::string>();
  auto v_key = std::make_shared<std::string>();
  CLI::App* verify = audit_cmd->add_subcommand(
      "verify",
      "Check the whole log against its signed checkpoints: entry hashes, contiguous sequence "
      "numbers, Merkle roots, signatures.\nExit 0 intact; 1 tampered (names the first bad "
      "sequence number and what is wrong); 2 usage or I/O error.");
  verify->add_option("--db", *v_db, "Audit store (SQLite file)")->required();
  verify->add_option("--key", *v_key,
                     "The checkpoint public key (PEM) you exported and kept; without it the key "
                     "recorded in the store is used");
  verify->callback([v_db, v_key, &status] { status = run_verify(*v_db, *v_key); });

  // prove
  auto p_db = std::make_shared<std::string>();
  auto p_seq = std::make_shared<std::uint64_t>(0);
  CLI::App* prove = audit_cmd->add_subcommand(
      "prove",
      "Print an RFC 9162 inclusion proof (JSON) of one entry against the latest signed "
      "checkpoint; check it anywhere with `dsa audit verify-proof`.");
  prove->add_option("--db", *p_db, "Audit store (SQLite file)")->required();
  prove->add_option("--seq", *p_seq, "Sequence number of the entry")->required();
  prove->callback([p_db, p_seq, &status] { status = run_prove(*p_db, *p_seq); });

  // verify-proof
  auto vp_key = std::make_shared<std::string>();
  auto vp_file = std::make_shared<std::string>();
  CLI::App* verify_proof = audit_cmd->add_subcommand(
      "verify-proof",
      "Check an inclusion proof with only the public key (no database).\nExit 0 valid; 1 "
      "invalid; 2 usage or I/O error.");
  verify_proof->add_option("--key", *vp_key, "Checkpoint public key (PEM)")->required();
  verify_proof->add_option("proof", *vp_file, "Proof JSON file, or - for standard input")
      ->required();
  verify_proof->callback(
      [vp_key, vp_file, &status] { status = run_verify_proof(*vp_key, *vp_file); });

  // stats
  auto s_db = std::make_shared<std::string>();
  auto s_by = std::make_shared<std::string>();
  auto s_key = std::make_shared<std::string>();
  CLI::App* stats = audit_cmd->add_subcommand(
      "stats",
      "Summarise the log, or count entries by decision per agreement, requester, "
      "reason or UTC day. The whole log is verified first; a log that fails verification is "
      "refused (exit 1).");
  stats->add_option("--db", *s_db, "Audit store (SQLite file)")->required();
  stats->add_option("--key", *s_key, "The checkpoint public key (PEM) you kept");
  stats->add_option("--by", *s_by, "agreement | requester | reason | day")
      ->check(CLI::IsMember({"agreement", "requester", "reason", "day"}));
  stats->callback([s_db, s_by, s_key, &status] { status = run_stats(*s_db, *s_by, *s_key); });

  // export-key
  auto k_db = std::make_shared<std::string>();
  CLI::App* export_key = audit_cmd->add_subcommand(
      "export-key",
      "Print the checkpoint public key (PEM). Keep a copy outside the operator's control and "
      "pass it to `verify --key` and `verify-proof --key`.");
  export_key->add_option("--db", *k_db, "Audit store (SQLite file)")->required();
  export_key->callback([k_db, &status] { status = run_export_key(*k_db); });

  // checkpoint
  auto c_db = std::make_shared<std::string>();
  auto c_key = std::make_shared<std::string>();
  auto c_out = std::make_shared<std::string>("-");
  CLI::App* checkpoint_cmd = audit_cmd->add_subcommand(
      "checkpoint",
      "Export the latest signed checkpoint (size, root, signed time) as JSON. Keep it outside "
      "the operator's reach; next time, `dsa audit consistency --from` it proves the log only "
      "grew.\nExit 0 written; 1 no valid checkpoint or the entries do not match it; 2 usage or "
      "I/O error.");
  checkpoint_cmd->add_option("--db", *c_db, "Audit store (SQLite file)")->required();
  checkpoint_cmd->add_option("--key", *c_key,
                             "Export only a checkpoint signed by this public key (PEM)");
  checkpoint_cmd->add_option("-o,--output", *c_out, "File to write (default: standard output)");
  checkpoint_cmd->callback(
      [c_db, c_key, c_out, &status] { status = run_checkpoint(*c_db, *c_key, *c_out); });

  // consistency
  auto ca = std::make_shared<consistency_args>();
  CLI::App* consistency = audit_cmd->add_subcommand(
      "consistency",
      "Prove that the log extends a checkpoint saved earlier (RFC 9162 consistency proof): "
      "nothing it covered was removed or rewritten.\nExit 0 consistent; 1 truncated, rewritten "
      "or otherwise inconsistent (named); 2 usage or I/O error.");
  consistency->add_option("--db", ca->db, "Audit store (SQLite file)")->required();
  consistency->add_option("--from", ca->from, "Checkpoint JSON saved by `dsa audit checkpoint`")
      ->required();
  consistency->add_option("--key", ca->key,
                          "The checkpoint public key (PEM) you kept (default: the key recorded "
                          "in the store)");
  consistency->add_option("--proof-out", ca->proof_out,
                          "Also write the consistency proof (JSON) for `verify-consistency`");
  consistency->add_option("--checkpoint-out", ca->checkpoint_out,
                          "Also write the store's checkpoint the proof leads to (JSON)");
  consistency->callback([ca, &status] { status = run_consistency(*ca); });

  // verify-consistency
  auto vc_key = std::make_shared<std::string>();
  auto vc_old = std::make_shared<std::string>();
  auto vc_new = std::make_shared<std::string>();
  auto vc_proof = std::make_shared<std::string>();
  CLI::App* verify_consistency = audit_cmd->add_subcommand(
      "verify-consistency",
      "Check a consistency proof between two saved checkpoints with only the public key (no "
      "database).\nExit 0 valid; 1 invalid; 2 usage or I/O error.");
  verify_consistency->add_option("--key", *vc_key, "Checkpoint public key (PEM)")->required();
  verify_consistency->add_option("old", *vc_old, "The earlier checkpoint JSON")->required();
  verify_consistency->add_option("new", *vc_new, "The later checkpoint JSON")->required();
  verify_consistency->add_option("proof", *vc_proof, "The consistency proof JSON")->required();
  verify_consistency->callback([vc_key, vc_old, vc_new, vc_proof, &status] {
    status = run_verify_consistency(*vc_key, *vc_old, *vc_new, *vc_proof);
  });
}

}  // namespace dsa::cli
