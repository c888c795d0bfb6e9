// `dsa audit query` and `dsa audit stats`: report on a store after verifying it, from the entry
// texts only (audit/store.hpp, "READING").
#include <algorithm>
#include <boost/json/value.hpp>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

struct query_args {
  std::string db, key, format = "table", since, until;
  std::optional<std::string> agreement, requester, purpose, case_ref, acting_user, decision, reason;
  std::uint64_t limit = 0;
};

// The entry that ended a streamed disclosure, joined into its started entry's row.
struct disclosure_end {
  std::uint64_t seq = 0;
  std::int64_t time_us = 0;
  std::string outcome;  // completed | interrupted:<cause>
  std::int64_t bytes = 0;
  std::string body_sha256;
};

bool is_end(audit::entry_kind k) {
  return k == audit::entry_kind::disclosure_completed ||
         k == audit::entry_kind::disclosure_interrupted;
}

// Each streamed disclosure's end entry by the seq of the started entry it ends, paired in seq
// order by request id as `dsa audit verify` pairs them (docs/auditing.md, "Streamed
// disclosures"). `f` is the query's filter without its end time or limit: the end entry repeats
// the request's fields and is never earlier than its start.
result<std::map<std::uint64_t, disclosure_end>> disclosure_ends(const audit::reader& r,
                                                                audit::query_filter f) {
  f.until_us.reset();
  f.limit = 0;
  std::map<std::uint64_t, disclosure_end> ends;
  std::map<std::string, std::uint64_t> open;  // request id → seq of its started entry
  audit::entry_columns c;
  const std::string_view started = audit::to_string(audit::entry_kind::disclosure_started);
  const std::string_view completed = audit::to_string(audit::entry_kind::disclosure_completed);
  const std::string_view interrupted = audit::to_string(audit::entry_kind::disclosure_interrupted);
  auto read = r.query(f, [&](std::string_view text) {
    if (!audit::derive_columns(text, c) ||
        (c.kind != started && c.kind != completed && c.kind != interrupted)) {
      return true;
    }
    auto e = audit::entry_from_json(text);
    if (!e) {
      return true;
    }
    if (e->kind == audit::entry_kind::disclosure_started) {
      open[e->request_id] = e->seq;
      return true;
    }
    auto it = open.find(e->request_id);
    if (it == open.end()) {
      return true;
    }
    disclosure_end end;
    end.seq = e->seq;
    end.time_us = e->time_us;
    end.outcome = "completed";
    if (e->kind == audit::entry_kind::disclosure_interrupted) {
      const boost::json::value* cause = e->details.if_contains("cause");
      end.outcome = "interrupted:" + (cause != nullptr && cause->is_string()
                                          ? std::string(cause->get_string())
                                          : std::string("unknown"));
    }
    end.bytes = e->bytes;
    end.body_sha256 = e->body_sha256;
    ends.emplace(it->second, std::move(end));
    open.erase(it);
    return true;
  });
  if (!read) {
    return fail(read.error());
  }
  return ends;
}

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
  int status = 0;
  auto r = open_verified("query", a.db, a.key, status);
  if (!r) {
    return status;
  }
  // Table and CSV show a streamed disclosure as one row: its started entry with the outcome,
  // bytes and body SHA-256 of the entry that ended it. JSON Lines stays entry by entry, as hashed.
  std::map<std::uint64_t, disclosure_end> ends;
  if (a.format != "json") {
    auto found = disclosure_ends(*r, f);
    if (!found) {
      std::cerr << "dsa audit query: " << found.error() << "\n";
      return 2;
    }
    ends = std::move(found).value();
  }
  const std::uint64_t limit = f.limit;
  if (a.format != "json") {
    f.limit = 0;  // counted here in rows, not in entries
  }
  std::uint64_t emitted = 0, streamed = 0;
  std::vector<std::vector<std::string>> rows;
  static const std::vector<std::string> table_head = {
      "SEQ",      "TIME (UTC)", "DECISION", "REASON",  "REQUESTER", "AGREEMENT",   "PURPOSE",
      "CASE REF", "REQUEST",    "STATUS",   "OUTCOME", "BYTES",     "BODY SHA-256"};
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
                                                    "counted",
                                                    "outcome",
                                                    "declared_length",
                                                    "end_seq",
                                                    "end_time"};
  if (a.format == "csv") {
    std::string line;
    for (std::size_t i = 0; i < csv_head.size(); ++i) {
      line += (i ? "," : "") + csv_head[i];
    }
    std::cout << line << "\r\n";
  }
  auto queried = r->query(f, [&](std::string_view text) {
    if (a.format == "json") {
      std::cout << text << '\n';
      return true;
    }
    auto e = audit::entry_from_json(text);
    if (!e) {
      std::cerr << "dsa audit query: an entry is not valid JSON; run `dsa audit verify`\n";
      return true;
    }
    if (is_end(e->kind)) {
      return true;  // shown in its started entry's row
    }
    auto num = [](std::int64_t v) { return v == 0 ? std::string() : std::to_string(v); };
    // A streamed disclosure: the end's outcome, bytes and hash; open when nothing ended it.
    std::string outcome, declared;
    const disclosure_end* end = nullptr;
    if (e->kind == audit::entry_kind::disclosure_started) {
      ++streamed;
      auto it = ends.find(e->seq);
      end = it == ends.end() ? nullptr : &it->second;
      outcome = end != nullptr ? end->outcome : "open";
      if (const boost::json::value* d = e->details.if_contains("declared_length");
          d != nullptr && d->is_int64()) {
        declared = std::to_string(d->get_int64());
      }
      e->bytes = end != nullptr ? end->bytes : 0;
      e->body_sha256 = end != nullptr ? end->body_sha256 : std::string();
    }
    const bool last = limit > 0 && ++emitted >= limit;
    if (a.format == "csv") {
      const std::vector<std::string> fields = {
          std::to_string(e->seq),
          format_time(e->time_us),
          std::string(audit::kind_text(*e)),
          e->request_id,
          std::string(audit::decision_text(*e)),
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
          e->counted ? "true" : "false",
          outcome,
          declared,
          end != nullptr ? std::to_string(end->seq) : std::string(),
          end != nullptr ? format_time(end->time_us) : std::string()};
      std::string line;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        line += (i ? "," : "") + csv_field(fields[i]);
      }
      std::cout << line << "\r\n";
      return !last;
    }
    std::string agreement = e->agreement;
    if (!e->agreement_version.empty()) {
      agreement += "@" + e->agreement_version;
    }
    std::string request = e->method.empty() ? std::string() : e->method + " " + e->path;
    if (!e->query.empty()) {
      request += "?" + e->query;
    }
    std::string bytes = num(e->bytes);
    if (outcome == "open" && !declared.empty()) {
      bytes = "? (declared " + declared + ")";
    }
    const bool decided =
        e->kind == audit::entry_kind::request || e->kind == audit::entry_kind::disclosure_started;
    rows.push_back({std::to_string(e->seq), format_time(e->time_us),
                    std::string(decided ? audit::decision_text(*e) : audit::kind_text(*e)),
                    e->reason, e->requester.party, agreement, e->purpose, e->case_ref, request,
                    num(e->status), outcome, bytes, e->body_sha256});
    return !last;
  });
  if (!queried) {
    std::cerr << "dsa audit query: " << queried.error() << "\n";
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
    std::cout << rows.size() << (rows.size() == 1 ? " entry" : " entries");
    if (streamed > 0) {
      std::cout << " (" << streamed << " streamed disclosure" << (streamed == 1 ? "" : "s")
                << ", each one row: its started entry with the outcome of the entry that ended "
                   "it)";
    }
    std::cout << "\n";
  }
  return 0;
}

// "client_closed 1, over_max_bytes 2"
std::string by_cause(const std::map<std::string, std::uint64_t>& interrupted) {
  std::string out;
  for (const auto& [cause, n] : interrupted) {
    out += (out.empty() ? "" : ", ") + cause + " " + std::to_string(n);
  }
  return out;
}

std::uint64_t total_of(const std::map<std::string, std::uint64_t>& counts) {
  std::uint64_t n = 0;
  for (const auto& [key, count] : counts) {
    n += count;
  }
  return n;
}

int run_stats(const std::string& db, const std::string& by, const std::string& key_path) {
  int status = 0;
  auto r = open_verified("stats", db, key_path, status);
  if (!r) {
    return status;
  }
  auto grouped = r->stats(by);
  if (!grouped) {
    std::cerr << "dsa audit stats: " << grouped.error() << "\n";
    return 2;
  }
  const std::vector<audit::group_count>& groups = *grouped;
  // One column per decision, in the order entry.hpp lists them.
#define DSA_DECISION_NAME(name) std::string(audit::to_string(audit::entry_decision::name)),
  static const std::vector<std::string> decisions = {DSA_AUDIT_ENTRY_DECISIONS(DSA_DECISION_NAME)};
#undef DSA_DECISION_NAME
  if (by.empty()) {
    auto stored = r->checkpoints();
    if (!stored) {
      std::cerr << "dsa audit stats: " << stored.error() << "\n";
      return 2;
    }
    const std::vector<audit::stored_checkpoint>& checkpoints = *stored;
    std::optional<std::int64_t> first_time, last_time;
    audit::query_filter first_only;
    first_only.limit = 1;
    (void)r->query(first_only, [&](std::string_view t) {
      if (auto e = audit::entry_from_json(t)) {
        first_time = e->time_us;
      }
      return false;
    });
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
      const audit::group_count& g = groups.front();
      for (const auto& [d, n] : g.by_decision) {
        std::cout << "  " << d << std::string(d.size() < 19 ? 19 - d.size() : 1, ' ') << n << "\n";
      }
      if (g.streamed > 0) {
        const std::uint64_t interrupted = total_of(g.interrupted);
        std::cout << "streamed     " << g.streamed
                  << " disclosures, each counted once above (its end entry is not a request)\n"
                  << "  completed          " << g.completed << "\n"
                  << "  interrupted        " << interrupted;
        if (interrupted > 0) {
          std::cout << " (" << by_cause(g.interrupted) << ")";
        }
        std::cout << "\n"
                  << "  open               " << g.open;
        if (g.open > 0) {
          std::cout << " (a crash or a stop mid-stream; the bytes sent are unknown beyond the "
                       "declared length; `dsa audit verify --verbose` lists them)";
        }
        std::cout << "\n";
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
  // Streamed disclosures' outcomes, when the log holds any (docs/auditing.md).
  const bool any_streamed = std::any_of(groups.begin(), groups.end(),
                                        [](const audit::group_count& g) { return g.streamed > 0; });
  if (any_streamed) {
    head.insert(head.end(), {"streamed", "completed", "interrupted", "open"});
  }
  std::map<std::string, std::uint64_t> causes;
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
    if (any_streamed) {
      for (std::uint64_t n : {g.streamed, g.completed, total_of(g.interrupted), g.open}) {
        row.push_back(std::to_string(n));
      }
      for (const auto& [cause, n] : g.interrupted) {
        causes[cause] += n;
      }
    }
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
  if (any_streamed) {
    std::cout << "streamed disclosures count once (their end entries are not requests)";
    if (!causes.empty()) {
      std::cout << "; interrupted by cause: " << by_cause(causes);
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_audit_query_commands(CLI::App& parent, int& status) {
  // query
  auto q = std::make_shared<query_args>();
  CLI::App* query = parent.add_subcommand(
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
  query->add_option("--limit", q->limit,
                    "At most this many rows (table, csv: a streamed disclosure is one row) or "
                    "entries (json); 0 = all");
  query
      ->add_option("--format", q->format,
                   "table (for people), json (JSON Lines, every entry exactly as stored and "
                   "hashed) or csv (RFC 4180); table and csv show a streamed disclosure as one "
                   "row, its started entry with the outcome, bytes and hash of its end")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  query->callback([q, &status] { status = run_query(*q); });

  // stats
  auto s_db = std::make_shared<std::string>();
  auto s_by = std::make_shared<std::string>();
  auto s_key = std::make_shared<std::string>();
  CLI::App* stats = parent.add_subcommand(
      "stats",
      "Summarise the log, or count entries by decision per agreement, requester, "
      "reason or UTC day. A streamed disclosure counts once, with how many completed, were "
      "interrupted (by cause) or are open. The whole log is verified first; a log that fails "
      "verification is "
      "refused (exit 1).");
  stats->add_option("--db", *s_db, "Audit store (SQLite file)")->required();
  stats->add_option("--key", *s_key, "The checkpoint public key (PEM) you kept");
  stats->add_option("--by", *s_by, "agreement | requester | reason | day")
      ->check(CLI::IsMember({"agreement", "requester", "reason", "day"}));
  stats->callback([s_db, s_by, s_key, &status] { status = run_stats(*s_db, *s_by, *s_key); });
}

}  // namespace dsa::cli
