// `dsa audit query` and `dsa audit stats`: report on a store after verifying it, from the entry
// texts only (audit/store.hpp, "READING").
#include <date/tz.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "policy/suggest.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

struct query_args {
  std::string db, key, format = "table";
  filter_args filter;
  std::uint64_t limit = 0;
};

struct stats_args {
  std::string db, key, format = "table";
  std::vector<std::string> by;
  filter_args filter;
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

// One CSV row's sources: the entry as stored and, for a streamed disclosure's started entry, the
// entry that ended it.
struct csv_source {
  const boost::json::object& entry;
  bool started = false;  // a disclosure_started entry: a row of its own
  const disclosure_end* end = nullptr;
  const date::time_zone& zone;
};

// A stored value as one cell: strings as they are, numbers and booleans as JSON writes them,
// objects and arrays as compact JSON text; absent is empty.
std::string cell_text(const boost::json::value* v) {
  if (v == nullptr || v->is_null()) {
    return {};
  }
  if (v->is_string()) {
    return std::string(v->get_string());
  }
  return boost::json::serialize(*v);
}

using csv_getter = std::function<std::string(const csv_source&)>;

csv_getter member(const char* name) {
  return [name](const csv_source& s) { return cell_text(s.entry.if_contains(name)); };
}

csv_getter requester_member(const char* name) {
  return [name](const csv_source& s) {
    const boost::json::value* r = s.entry.if_contains("requester");
    return r != nullptr && r->is_object() ? cell_text(r->get_object().if_contains(name))
                                          : std::string();
  };
}

std::string time_member(const csv_source& s, const char* name) {
  const boost::json::value* v = s.entry.if_contains(name);
  return v != nullptr && v->is_int64() ? format_time_in(v->get_int64(), s.zone) : std::string();
}

// Every column of `dsa audit query --format csv`, in order (docs/auditing.md, "CSV"): each
// member of the stored entry in the order entry.hpp writes them, then what the row joins from a
// streamed disclosure's end. Adding a member to the entry is one line here.
const std::vector<std::pair<std::string, csv_getter>>& csv_columns() {
  static const std::vector<std::pair<std::string, csv_getter>> columns = {
      {"seq", member("seq")},
      {"time", [](const csv_source& s) { return time_member(s, "time_us"); }},
      {"time_us", member("time_us")},
      {"kind", member("kind")},
      {"request_id", member("request_id")},
      {"decision", member("decision")},
      {"reason", member("reason")},
      {"status", member("status")},
      {"requester", requester_member("party")},
      {"requester_subject", requester_member("subject")},
      {"requester_cert_sha256", requester_member("cert_sha256")},
      {"requester_trust_anchor", requester_member("trust_anchor")},
      {"agreement", member("agreement")},
      {"agreement_version", member("agreement_version")},
      {"agreement_sha256", member("agreement_sha256")},
      {"permission", member("permission")},
      {"endpoint", member("endpoint")},
      {"purpose", member("purpose")},
      {"case_ref", member("case_ref")},
      {"acting_user", member("acting_user")},
      {"method", member("method")},
      {"path", member("path")},
      {"query", member("query")},
      {"upstream", member("upstream")},
      {"upstream_status", member("upstream_status")},
      {"upstream_latency_us", member("upstream_latency_us")},
      // A streamed disclosure's row: the bytes and hash of what its end entry says left.
      {"bytes",
       [](const csv_source& s) {
         if (s.started) {
           return s.end != nullptr && s.end->bytes != 0 ? std::to_string(s.end->bytes)
                                                        : std::string();
         }
         return cell_text(s.entry.if_contains("bytes"));
       }},
      {"items", member("items")},
      {"fields_removed", member("fields_removed")},
      {"body_sha256",
       [](const csv_source& s) {
         return s.started ? (s.end != nullptr ? s.end->body_sha256 : std::string())
                          : cell_text(s.entry.if_contains("body_sha256"));
       }},
      {"counted",
       [](const csv_source& s) {
         const boost::json::value* v = s.entry.if_contains("counted");
         return std::string(v != nullptr && v->is_bool() && v->get_bool() ? "true" : "false");
       }},
      {"details", member("details")},
      {"client", member("client")},
      {"lawful_basis", member("lawful_basis")},
      {"legal_gateway", member("legal_gateway")},
      {"released_fields", member("released_fields")},
      {"subjects", member("subjects")},
      {"incident_ref", member("incident_ref")},
      {"justification", member("justification")},
      {"review_due_us", member("review_due_us")},
      {"review_due", [](const csv_source& s) { return time_member(s, "review_due_us"); }},
      // Joined from a streamed disclosure's end entry (docs/auditing.md, "Streamed disclosures").
      {"outcome",
       [](const csv_source& s) {
         return s.started ? (s.end != nullptr ? s.end->outcome : std::string("open"))
                          : std::string();
       }},
      {"declared_length",
       [](const csv_source& s) {
         const boost::json::value* d = s.entry.if_contains("details");
         const boost::json::value* n = d != nullptr && d->is_object() && s.started
                                           ? d->get_object().if_contains("declared_length")
                                           : nullptr;
         return n != nullptr && n->is_int64() ? std::to_string(n->get_int64()) : std::string();
       }},
      {"end_seq",
       [](const csv_source& s) {
         return s.end != nullptr ? std::to_string(s.end->seq) : std::string();
       }},
      {"end_time",
       [](const csv_source& s) {
         return s.end != nullptr ? format_time_in(s.end->time_us, s.zone) : std::string();
       }},
      {"end_time_us",
       [](const csv_source& s) {
         return s.end != nullptr ? std::to_string(s.end->time_us) : std::string();
       }},
  };
  return columns;
}

int run_query(const query_args& a) {
  const date::time_zone* zone = nullptr;
  std::optional<audit::query_filter> filter = make_filter("query", a.filter, zone);
  if (!filter) {
    return 2;
  }
  audit::query_filter& f = *filter;
  f.limit = a.limit;
  int status = 0;
  auto r = open_verified("query", a.db, a.key, status);
  if (!r) {
    return status;
  }
  if (!values_exist("query", a.filter, *r)) {
    return 2;
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
  const std::vector<std::string> table_head = {"SEQ",         "TIME (" + a.filter.tz + ")",
                                               "DECISION",    "REASON",
                                               "REQUESTER",   "AGREEMENT",
                                               "PURPOSE",     "CASE REF",
                                               "REQUEST",     "STATUS",
                                               "OUTCOME",     "BYTES",
                                               "BODY SHA-256"};
  if (a.format == "csv") {
    std::string line;
    for (const auto& [name, get] : csv_columns()) {
      line += (line.empty() ? "" : ",") + name;
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
      boost::system::error_code ec;
      boost::json::value parsed = boost::json::parse(text, ec);
      if (ec || !parsed.is_object()) {
        std::cerr << "dsa audit query: entry " << e->seq
                  << " is not a JSON object; run `dsa audit verify`\n";
        return true;
      }
      const csv_source source{parsed.get_object(), e->kind == audit::entry_kind::disclosure_started,
                              end, *zone};
      std::string line;
      bool first = true;
      for (const auto& [name, get] : csv_columns()) {
        line += (first ? "" : ",") + csv_cell(get(source));
        first = false;
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
    rows.push_back({std::to_string(e->seq), format_time_in(e->time_us, *zone),
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
    print_table(table_head, rows);
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

// One group as JSON: its keys by name, its counts, its sums (docs/auditing.md, "Statistics").
boost::json::object group_json(const audit::group_count& g, const std::vector<std::string>& by) {
  boost::json::object o;
  for (std::size_t i = 0; i < by.size() && i < g.keys.size(); ++i) {
    o[by[i]] = g.keys[i];
  }
  o["total"] = g.total;
  boost::json::object decided;
  for (const auto& [d, n] : g.by_decision) {
    decided[d] = n;
  }
  o["by_decision"] = std::move(decided);
  o["streamed"] = g.streamed;
  o["completed"] = g.completed;
  boost::json::object interrupted;
  for (const auto& [cause, n] : g.interrupted) {
    interrupted[cause] = n;
  }
  o["interrupted"] = std::move(interrupted);
  o["open"] = g.open;
  o["bytes"] = g.bytes;
  o["items"] = g.items;
  o["fields_removed"] = g.fields_removed;
  return o;
}

int run_stats(const stats_args& a) {
  const date::time_zone* zone = nullptr;
  std::optional<audit::query_filter> filter = make_filter("stats", a.filter, zone);
  if (!filter) {
    return 2;
  }
  std::vector<std::string> by;
  for (const std::string& k : a.by) {
    if (std::find(audit::stats_keys.begin(), audit::stats_keys.end(), k) ==
        audit::stats_keys.end()) {
      std::vector<std::string> known(audit::stats_keys.begin(), audit::stats_keys.end());
      std::string list;
      for (const std::string& name : known) {
        list += (list.empty() ? "" : ", ") + name;
      }
      std::cerr << "dsa audit stats: --by: unknown key \"" << k << "\""
                << policy::did_you_mean_suffix(k, known) << "; valid: " << list << "\n";
      return 2;
    }
    if (std::find(by.begin(), by.end(), k) != by.end()) {
      std::cerr << "dsa audit stats: --by names \"" << k << "\" twice\n";
      return 2;
    }
    by.push_back(k);
  }
  if (by.size() > 2) {
    std::cerr << "dsa audit stats: --by takes one or two keys, not " << by.size() << "\n";
    return 2;
  }
  int status = 0;
  auto r = open_verified("stats", a.db, a.key, status);
  if (!r) {
    return status;
  }
  if (!values_exist("stats", a.filter, *r)) {
    return 2;
  }
  audit::stats_options options;
  options.by = by;
  options.day_of = [zone](std::int64_t us) { return day_in(us, *zone); };
  options.sums = a.format != "table";
  auto grouped = r->stats(*filter, options);
  if (!grouped) {
    std::cerr << "dsa audit stats: " << grouped.error() << "\n";
    return 2;
  }
  const std::vector<audit::group_count>& groups = *grouped;
  // One column per decision, in the order entry.hpp lists them.
#define DSA_DECISION_NAME(name) std::string(audit::to_string(audit::entry_decision::name)),
  static const std::vector<std::string> decisions = {DSA_AUDIT_ENTRY_DECISIONS(DSA_DECISION_NAME)};
#undef DSA_DECISION_NAME
  if (a.format == "json") {
    boost::json::object out;
    boost::json::array keys;
    for (const std::string& k : by) {
      keys.emplace_back(k);
    }
    out["by"] = std::move(keys);
    out["tz"] = a.filter.tz;
    out["since"] = filter->since_us ? boost::json::value(format_time_in(*filter->since_us, *zone))
                                    : boost::json::value(nullptr);
    out["until"] = filter->until_us ? boost::json::value(format_time_in(*filter->until_us, *zone))
                                    : boost::json::value(nullptr);
    boost::json::array rows;
    for (const auto& g : groups) {
      rows.emplace_back(group_json(g, by));
    }
    out["groups"] = std::move(rows);
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  if (a.format == "csv") {
    std::vector<std::string> head = by;
    head.insert(head.end(), {"total"});
    head.insert(head.end(), decisions.begin(), decisions.end());
    head.insert(head.end(), {"other", "streamed", "completed", "interrupted", "open", "bytes",
                             "items", "fields_removed"});
    std::string line;
    for (const std::string& h : head) {
      line += (line.empty() ? "" : ",") + h;
    }
    std::cout << line << "\r\n";
    for (const auto& g : groups) {
      std::vector<std::string> cells = g.keys;
      cells.push_back(std::to_string(g.total));
      std::uint64_t known = 0;
      for (const auto& d : decisions) {
        auto it = g.by_decision.find(d);
        const std::uint64_t n = it == g.by_decision.end() ? 0 : it->second;
        known += n;
        cells.push_back(std::to_string(n));
      }
      for (std::uint64_t n :
           {g.total - known, g.streamed, g.completed, total_of(g.interrupted), g.open}) {
        cells.push_back(std::to_string(n));
      }
      for (std::int64_t n : {g.bytes, g.items, g.fields_removed}) {
        cells.push_back(std::to_string(n));
      }
      line.clear();
      for (std::size_t i = 0; i < cells.size(); ++i) {
        line += (i ? "," : "") + csv_cell(cells[i]);
      }
      std::cout << line << "\r\n";
    }
    return 0;
  }
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
    std::cout << "store        " << a.db << "\n"
              << "origin       " << r->meta("origin").value_or("") << "\n"
              << "entries      " << count << "\n";
    if (first_time && last_time) {
      std::cout << "from         " << format_time_in(*first_time, *zone) << "\n"
                << "to           " << format_time_in(*last_time, *zone) << "\n";
    }
    if (filter->since_us || filter->until_us || filter->agreement || filter->requester ||
        filter->purpose || filter->case_ref || filter->acting_user || filter->decision ||
        filter->reason || filter->kind || filter->permission || filter->request_id) {
      std::cout << "selected     " << (groups.empty() ? 0 : groups.front().total)
                << " (the filters given; counts below are of these)\n";
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
        std::cout << ", signed " << format_time_in(*note->time_us, *zone);
      }
      std::cout << ")";
    }
    std::cout << "\n";
    return 0;
  }
  std::vector<std::string> head;
  for (const std::string& k : by) {
    head.push_back(k == "day" ? "DAY (" + a.filter.tz + ")" : k);
  }
  head.push_back("total");
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
    std::vector<std::string> row;
    for (const std::string& k : g.keys) {
      row.push_back(k.empty() ? "(none)" : k);
    }
    row.push_back(std::to_string(g.total));
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
      if (i < by.size()) {
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
      "List audit entries, oldest first, matching every filter given (a filter with several "
      "values matches any of them). Times are shown in --tz; --since is inclusive, --until "
      "exclusive. The whole log is verified first; a log that fails verification is refused "
      "(exit 1).");
  query->add_option("--db", q->db, "Audit store (SQLite file)")->required();
  query->add_option("--key", q->key,
                    "The checkpoint public key (PEM) you kept; the log is verified with it before "
                    "anything is listed (default: the key recorded in the store)");
  add_filter_options(*query, q->filter, true);
  query->add_option("--limit", q->limit,
                    "At most this many rows (table, csv: a streamed disclosure is one row) or "
                    "entries (json); 0 = all");
  query
      ->add_option("--format", q->format,
                   "table (for people), json (JSON Lines, every entry exactly as stored and "
                   "hashed) or csv (RFC 4180, every member, formula-guarded; docs/auditing.md); "
                   "table and csv show a streamed disclosure as one row, its started entry with "
                   "the outcome, bytes and hash of its end")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  query->callback([q, &status] { status = run_query(*q); });

  // stats
  auto s = std::make_shared<stats_args>();
  CLI::App* stats = parent.add_subcommand(
      "stats",
      "Summarise the log, or count the entries the filters select by decision, grouped by one "
      "or two keys (--by requester,reason). A streamed disclosure counts once, with how many "
      "completed, were interrupted (by cause) or are open. The whole log is verified first; a "
      "log that fails verification is refused (exit 1).");
  stats->add_option("--db", s->db, "Audit store (SQLite file)")->required();
  stats->add_option("--key", s->key, "The checkpoint public key (PEM) you kept");
  add_filter_options(*stats, s->filter, true);
  stats
      ->add_option("--by", s->by,
                   "One or two of agreement, requester, reason, decision, purpose, permission, "
                   "endpoint, day (in --tz), comma-separated")
      ->delimiter(',')
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  stats
      ->add_option("--format", s->format,
                   "table (for people), csv (RFC 4180) or json; csv and json add the bytes, "
                   "items and fields removed of each group")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  stats->callback([s, &status] { status = run_stats(*s); });
}

}  // namespace dsa::cli
