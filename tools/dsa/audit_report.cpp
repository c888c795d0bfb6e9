// `dsa audit report`: one self-contained page for a governance board over a date range of a
// verified store (docs/auditing.md, "The governance report"). Every figure comes from the same
// aggregation `dsa audit stats` prints (audit::reader::stats), over the entry texts of a store
// verified on the same snapshot first; the page has no scripts and loads nothing (inline CSS and
// SVG, and a Content-Security-Policy that forbids any load), so it can be mailed, archived and
// opened offline.
#include <date/tz.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/crypto.hpp"
#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "common/hex.hpp"
#include "policy/reason.hpp"
#include "render/render.hpp"
#include "tools/dsa/audit_cli.hpp"

namespace dsa::cli {
namespace {

using policy::html_escape;

struct report_args {
  std::string db, key, out, format = "html";
  filter_args filter;
};

// The decisions that disclosed nothing, in the order entry.hpp lists them: every decision but
// allow.
const std::vector<std::string>& refusal_decisions() {
#define DSA_DECISION_NAME(name) std::string(audit::to_string(audit::entry_decision::name)),
  static const std::vector<std::string> all = {DSA_AUDIT_ENTRY_DECISIONS(DSA_DECISION_NAME)};
#undef DSA_DECISION_NAME
  static const std::vector<std::string> refusals = [] {
    std::vector<std::string> out;
    for (const std::string& d : all) {
      if (d != "allow") {
        out.push_back(d);
      }
    }
    return out;
  }();
  return refusals;
}

std::uint64_t count_of(const audit::group_count& g, const std::string& decision) {
  auto it = g.by_decision.find(decision);
  return it == g.by_decision.end() ? 0 : it->second;
}

std::uint64_t disclosed(const audit::group_count& g) { return count_of(g, "allow"); }

std::uint64_t refused(const audit::group_count& g) {
  std::uint64_t n = 0;
  for (const std::string& d : refusal_decisions()) {
    n += count_of(g, d);
  }
  return n;
}

// The verification the report stands on, and the latest signed checkpoint it ended with.
struct verification {
  audit::verify_result result;
  bool key_given = false;
  std::string key_sha256;  // SHA-256 of the key's DER SubjectPublicKeyInfo, lowercase hex
  std::optional<audit::checkpoint> latest;
};

// The figures of the report, each one `dsa audit stats` call over the same range
// (docs/auditing.md, "The governance report", names the matching command for each).
struct figures {
  std::vector<audit::group_count> agreement_day, requester_reason, purpose, agreement_endpoint,
      volume_cap;
  std::vector<boost::json::object> emergencies;  // stored entries with an incident_ref
  std::map<std::string, std::vector<boost::json::object>> reviews;  // by reviewed request id
  std::int64_t made_us = 0;  // when the report was made: what "overdue" is measured against
};

// SHA-256 over the DER bytes a PEM block carries: what `openssl pkey -pubin -outform DER |
// sha256sum` prints for the key.
std::string pem_fingerprint(const std::string& pem) {
  std::string body;
  bool inside = false;
  std::size_t pos = 0;
  while (pos < pem.size()) {
    std::size_t eol = pem.find('\n', pos);
    if (eol == std::string::npos) {
      eol = pem.size();
    }
    std::string line = pem.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.rfind("-----BEGIN", 0) == 0) {
      inside = true;
    } else if (line.rfind("-----END", 0) == 0) {
      break;
    } else if (inside) {
      body += line;
    }
    pos = eol + 1;
  }
  auto der = audit::from_base64(body);
  return der ? common::sha256_hex(*der) : std::string();
}

std::optional<std::string> string_member(const boost::json::object& o, const char* name) {
  const boost::json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<std::int64_t> int_member(const boost::json::object& o, const char* name) {
  const boost::json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_int64()) {
    return std::nullopt;
  }
  return v->get_int64();
}

std::string requester_of(const boost::json::object& o) {
  const boost::json::value* r = o.if_contains("requester");
  if (r == nullptr || !r->is_object()) {
    return {};
  }
  return string_member(r->get_object(), "party").value_or("");
}

std::string details_member(const boost::json::object& o, const char* name) {
  const boost::json::value* d = o.if_contains("details");
  if (d == nullptr || !d->is_object()) {
    return {};
  }
  const boost::json::value* v = d->get_object().if_contains(name);
  if (v == nullptr) {
    return {};
  }
  return v->is_string() ? std::string(v->get_string()) : boost::json::serialize(*v);
}

// Every day from `since` to the last instant before `until`, in `zone`.
std::vector<std::string> days_between(std::int64_t since_us, std::int64_t until_us,
                                      const date::time_zone& zone) {
  using namespace std::chrono;
  std::vector<std::string> out;
  const std::string first = day_in(since_us, zone), last = day_in(until_us - 1, zone);
  auto parsed = parse_time(first);  // the UTC midnight of that date: only its date is used
  if (!parsed) {
    return out;
  }
  for (sys_days d = floor<days>(sys_time<microseconds>(microseconds(*parsed)));; d += days(1)) {
    const year_month_day ymd{d};
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    out.emplace_back(text);
    if (out.back() >= last || out.size() > 100'000) {
      break;
    }
  }
  return out;
}

// Where an emergency entry stands (docs/auditing.md, "The governance report"): "reviewed" when a
// review names its request id; else, for a disclosure (decision allow), "overdue" once its
// review_due_us has passed and "awaiting" before; "none_owed" for a refused emergency request,
// which disclosed nothing.
std::string review_status(const figures& f, const boost::json::object& e) {
  auto it = f.reviews.find(string_member(e, "request_id").value_or(""));
  if (it != f.reviews.end() && !it->second.empty()) {
    return "reviewed";
  }
  if (string_member(e, "decision").value_or("") != "allow") {
    return "none_owed";
  }
  const auto due = int_member(e, "review_due_us");
  return due && *due < f.made_us ? "overdue" : "awaiting";
}

result<figures> gather(const audit::reader& r, const audit::query_filter& range,
                       const date::time_zone& zone) {
  figures f;
  f.made_us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  auto run = [&](std::vector<std::string> by, const audit::query_filter& filter,
                 std::vector<audit::group_count>& out) -> result<void> {
    audit::stats_options options;
    options.by = std::move(by);
    options.day_of = [&zone](std::int64_t us) { return day_in(us, zone); };
    options.sums = true;
    auto grouped = r.stats(filter, options);
    if (!grouped) {
      return fail(grouped.error());
    }
    out = std::move(grouped).value();
    return {};
  };
  audit::query_filter requests = range;
  requests.kind = {std::string(audit::to_string(audit::entry_kind::request)),
                   std::string(audit::to_string(audit::entry_kind::disclosure_started))};
  audit::query_filter capped = requests;
  capped.reason = std::string(policy::to_string(policy::reason::volume_cap_exceeded));
  for (auto [by, filter, out] :
       {std::tuple{std::vector<std::string>{"agreement", "day"}, &requests, &f.agreement_day},
        std::tuple{std::vector<std::string>{"requester", "reason"}, &requests, &f.requester_reason},
        std::tuple{std::vector<std::string>{"purpose"}, &requests, &f.purpose},
        std::tuple{std::vector<std::string>{"agreement", "endpoint"}, &requests,
                   &f.agreement_endpoint},
        std::tuple{std::vector<std::string>{"agreement", "requester"}, &capped, &f.volume_cap}}) {
    if (auto done = run(by, *filter, *out); !done) {
      return fail(done.error());
    }
  }
  // Emergency disclosures: entries in the range with an incident reference. Their reviews are
  // looked for in the whole log: a review is written after the disclosure, often after the range.
  auto parse = [](std::string_view text) -> std::optional<boost::json::object> {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) {
      return std::nullopt;
    }
    return std::move(v.get_object());
  };
  auto emergencies = r.query(range, [&](std::string_view text) {
    if (text.find("\"incident_ref\"") == std::string_view::npos) {
      return true;
    }
    if (auto o = parse(text); o && string_member(*o, "incident_ref")) {
      f.emergencies.push_back(std::move(*o));
    }
    return true;
  });
  if (!emergencies) {
    return fail(emergencies.error());
  }
  audit::query_filter reviews;
  reviews.kind = "review";
  auto reviewed = r.query(reviews, [&](std::string_view text) {
    if (auto o = parse(text)) {
      f.reviews[string_member(*o, "request_id").value_or("")].push_back(std::move(*o));
    }
    return true;
  });
  if (!reviewed) {
    return fail(reviewed.error());
  }
  return f;
}

// --- JSON ----------------------------------------------------------------------------------

boost::json::object verification_json(const verification& v, const date::time_zone& zone) {
  boost::json::object o;
  o["intact"] = v.result.intact();
  o["entries"] = v.result.entries;
  o["covered"] = v.result.covered;
  o["checkpoints"] = v.result.checkpoints;
  o["key"] = v.key_given ? "given" : "recorded in the store";
  o["key_sha256"] = v.key_sha256;
  o["open_disclosures"] = v.result.open_disclosures.size();
  boost::json::array problems;
  for (const audit::problem& p : v.result.problems) {
    boost::json::object po;
    po["kind"] = audit::to_string(p.kind);
    if (p.seq) {
      po["seq"] = *p.seq;
    }
    po["detail"] = p.detail;
    problems.push_back(std::move(po));
  }
  o["problems"] = std::move(problems);
  if (v.latest) {
    boost::json::object c;
    c["size"] = v.latest->size;
    c["root_hash"] = audit::to_base64(v.latest->root);
    c["root_hash_hex"] = common::to_hex(std::span<const std::uint8_t>(v.latest->root));
    if (v.latest->time_us) {
      c["time"] = format_time_in(*v.latest->time_us, zone);
      c["time_us"] = *v.latest->time_us;
    }
    c["key_sha256"] = v.key_sha256;
    o["latest_checkpoint"] = std::move(c);
  } else {
    o["latest_checkpoint"] = nullptr;
  }
  return o;
}

boost::json::object figures_json(const figures& f, const date::time_zone& zone) {
  boost::json::object o;
  boost::json::array per_day;
  std::uint64_t total = 0;
  for (const audit::group_count& g : f.agreement_day) {
    if (disclosed(g) == 0) {
      continue;
    }
    per_day.push_back(
        {{"agreement", g.keys[0]}, {"day", g.keys[1]}, {"disclosures", disclosed(g)}});
    total += disclosed(g);
  }
  o["disclosures_per_day"] = std::move(per_day);
  o["disclosures_total"] = total;
  boost::json::array refusals;
  std::uint64_t refused_total = 0;
  for (const audit::group_count& g : f.requester_reason) {
    if (refused(g) == 0) {
      continue;
    }
    refusals.push_back({{"requester", g.keys[0]}, {"reason", g.keys[1]}, {"refusals", refused(g)}});
    refused_total += refused(g);
  }
  o["refusals"] = std::move(refusals);
  o["refusals_total"] = refused_total;
  std::vector<const audit::group_count*> purposes;
  for (const audit::group_count& g : f.purpose) {
    if (disclosed(g) > 0) {
      purposes.push_back(&g);
    }
  }
  std::stable_sort(purposes.begin(), purposes.end(),
                   [](const auto* a, const auto* b) { return disclosed(*a) > disclosed(*b); });
  boost::json::array top;
  for (const audit::group_count* g : purposes) {
    top.push_back({{"purpose", g->keys[0]}, {"disclosures", disclosed(*g)}});
  }
  o["top_purposes"] = std::move(top);
  boost::json::array removed;
  for (const audit::group_count& g : f.agreement_endpoint) {
    if (g.fields_removed == 0) {
      continue;
    }
    removed.push_back({{"agreement", g.keys[0]},
                       {"endpoint", g.keys[1]},
                       {"fields_removed", g.fields_removed},
                       {"disclosures", disclosed(g)}});
  }
  o["fields_removed"] = std::move(removed);
  boost::json::array capped;
  for (const audit::group_count& g : f.volume_cap) {
    capped.push_back({{"agreement", g.keys[0]}, {"requester", g.keys[1]}, {"hits", g.total}});
  }
  o["volume_cap_hits"] = std::move(capped);
  boost::json::array emergencies;
  for (const boost::json::object& e : f.emergencies) {
    boost::json::object item = e;
    boost::json::array reviews;
    auto it = f.reviews.find(string_member(e, "request_id").value_or(""));
    if (it != f.reviews.end()) {
      for (const boost::json::object& r : it->second) {
        reviews.push_back(r);
      }
    }
    boost::json::object out;
    out["entry"] = std::move(item);
    out["reviews"] = std::move(reviews);
    out["review_status"] = review_status(f, e);
    if (auto t = int_member(e, "time_us")) {
      out["time"] = format_time_in(*t, zone);
    }
    emergencies.push_back(std::move(out));
  }
  o["emergency_disclosures"] = std::move(emergencies);
  return o;
}

// --- HTML ----------------------------------------------------------------------------------

constexpr const char* k_palette[] = {"#1f5f99", "#c2571a", "#2e7d32", "#8e24aa",
                                     "#b8860b", "#00838f", "#ad1457", "#5d4037"};

std::string td(const std::string& text, bool number = false) {
  return std::string(number ? "<td class=\"n\">" : "<td>") + html_escape(text) + "</td>";
}

std::string th(const std::string& text, bool number = false) {
  return std::string(number ? "<th class=\"n\">" : "<th>") + html_escape(text) + "</th>";
}

std::string none_recorded(const std::string& what) {
  return "<p class=\"none\">" + html_escape(what) + "</p>\n";
}

// Stacked bars: one per day, one colour per agreement, with a legend.
std::string disclosures_chart(const std::vector<std::string>& days,
                              const std::vector<std::string>& agreements,
                              const std::map<std::pair<std::string, std::string>, std::uint64_t>&
                                  count /* (day, agreement) */) {
  std::uint64_t peak = 0;
  for (const std::string& d : days) {
    std::uint64_t sum = 0;
    for (const std::string& a : agreements) {
      auto it = count.find({d, a});
      sum += it == count.end() ? 0 : it->second;
    }
    peak = std::max(peak, sum);
  }
  const int left = 56, top = 16, height = 220, bottom = 56;
  const int bar = std::max(4, std::min(40, 960 / std::max<int>(1, static_cast<int>(days.size()))));
  // Wide enough for three legend columns however few the days.
  const int width = std::max(left + static_cast<int>(days.size()) * bar + 16, 780);
  const int legend = 22 * static_cast<int>((agreements.size() + 2) / 3);
  const int total_height = top + height + bottom + legend;
  // Inline SVG in HTML needs no namespace declaration (and the page names no URL at all).
  std::string svg = "<svg role=\"img\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(total_height) + "\" viewBox=\"0 0 " + std::to_string(width) +
                    " " + std::to_string(total_height) +
                    "\" aria-label=\"Disclosures per day per agreement\">\n";
  const double scale = peak == 0 ? 0.0 : static_cast<double>(height) / static_cast<double>(peak);
  // Axis and gridlines at 0, half and the peak.
  for (std::uint64_t mark : {std::uint64_t{0}, peak / 2, peak}) {
    const int y = top + height - static_cast<int>(static_cast<double>(mark) * scale);
    svg += "<line x1=\"" + std::to_string(left) + "\" x2=\"" + std::to_string(width - 8) +
           "\" y1=\"" + std::to_string(y) + "\" y2=\"" + std::to_string(y) +
           "\" stroke=\"#ccc\"/>\n<text x=\"" + std::to_string(left - 6) + "\" y=\"" +
           std::to_string(y + 4) + "\" text-anchor=\"end\">" + std::to_string(mark) + "</text>\n";
  }
  const std::size_t label_every = std::max<std::size_t>(1, days.size() / 12 + 1);
  for (std::size_t i = 0; i < days.size(); ++i) {
    const int x = left + static_cast<int>(i) * bar;
    double y = top + height;
    for (std::size_t a = 0; a < agreements.size(); ++a) {
      auto it = count.find({days[i], agreements[a]});
      if (it == count.end() || it->second == 0) {
        continue;
      }
      const double h = static_cast<double>(it->second) * scale;
      y -= h;
      char geometry[128];
      std::snprintf(geometry, sizeof geometry, "x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"",
                    x + 1, y, bar - 2, h);
      svg += "<rect " + std::string(geometry) + " fill=\"" + k_palette[a % std::size(k_palette)] +
             "\"><title>" +
             html_escape(days[i] + " " + agreements[a] + ": " + std::to_string(it->second)) +
             "</title></rect>\n";
    }
    if (i % label_every == 0) {
      svg += "<text x=\"" + std::to_string(x + bar / 2) + "\" y=\"" +
             std::to_string(top + height + 14) + "\" text-anchor=\"middle\">" +
             html_escape(days[i].substr(5)) + "</text>\n";
    }
  }
  for (std::size_t a = 0; a < agreements.size(); ++a) {
    const int x = left + static_cast<int>(a % 3) * 240;
    const int y = top + height + 34 + static_cast<int>(a / 3) * 22;
    svg += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y - 10) +
           "\" width=\"12\" height=\"12\" fill=\"" + k_palette[a % std::size(k_palette)] +
           "\"/><text x=\"" + std::to_string(x + 18) + "\" y=\"" + std::to_string(y) + "\">" +
           html_escape(agreements[a].empty() ? "(none)" : agreements[a]) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

std::string html_page(const report_args& a, const audit::reader& r, const verification& v,
                      const figures* f, std::int64_t since_us, std::int64_t until_us,
                      const date::time_zone& zone) {
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  std::string h;
  h += R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Audit report: )" +
       html_escape(r.meta("origin").value_or(a.db)) + R"(</title>
<style>
body { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1b1b1b; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 2px solid #1f5f99; padding-bottom: .2rem; margin-top: 2.2rem; }
p.lead, p.note { color: #444; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #bbb; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: "DejaVu Sans Mono", monospace; font-size: .88rem; word-break: break-all; }
.ok { background: #e6f4ea; border: 2px solid #2e7d32; padding: .8rem 1rem; }
.bad { background: #fde7e7; border: 4px solid #b00020; padding: 1rem; font-size: 1.15rem; }
.bad strong { color: #b00020; }
p.none { color: #555; font-style: italic; }
tr.sub td { font-weight: bold; background: #f6f6f6; }
svg text { font-size: 11px; fill: #333; font-family: inherit; }
.bar { display: inline-block; height: .8rem; background: #1f5f99; vertical-align: middle; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
</style>
</head>
<body>
)";
  h += "<h1>Data sharing audit report</h1>\n<p class=\"lead\">Store <code>" + html_escape(a.db) +
       "</code> (origin <code>" + html_escape(r.meta("origin").value_or("")) +
       "</code>), from <strong>" + html_escape(format_time_in(since_us, zone)) +
       "</strong> to <strong>" + html_escape(format_time_in(until_us, zone)) +
       "</strong> (end exclusive), times in " + html_escape(a.filter.tz) + ". Generated " +
       html_escape(format_time_in(now_us, zone)) + ".</p>\n";

  // Verification first: everything below stands on it.
  h += "<h2 id=\"verification\">Verification</h2>\n";
  if (!v.result.intact()) {
    h += "<div class=\"bad\"><strong>THE AUDIT LOG FAILS VERIFICATION.</strong> Its entries "
         "cannot be trusted, so this report shows no figures. " +
         std::to_string(v.result.problems.size()) + " problem" +
         (v.result.problems.size() == 1 ? "" : "s") + "; run <code>dsa audit verify --db " +
         html_escape(a.db) + "</code> and treat the store as evidence of tampering.<ul>\n";
    std::size_t shown = 0;
    for (const audit::problem& p : v.result.problems) {
      if (++shown > 20) {
        h += "<li>… " + std::to_string(v.result.problems.size() - 20) + " more</li>\n";
        break;
      }
      h += "<li>" +
           html_escape((p.seq ? "seq " + std::to_string(*p.seq) + ": " : std::string()) +
                       std::string(audit::to_string(p.kind)) + " — " + p.detail) +
           "</li>\n";
    }
    h += "</ul></div>\n";
  } else {
    h += "<div class=\"ok\"><strong>Intact.</strong> All " + std::to_string(v.result.entries) +
         " entries hash to their stored leaf hashes, and the " +
         std::to_string(v.result.checkpoints) + " signed checkpoint" +
         (v.result.checkpoints == 1 ? "" : "s") + " verify with the " +
         (v.key_given ? std::string("key given to this report")
                      : std::string("key recorded in the store (give the key you kept with "
                                    "--key to rule out a replaced key)")) +
         ". " + std::to_string(v.result.covered) + " entries are covered by a signed checkpoint";
    if (v.result.entries > v.result.covered) {
      h += "; the last " + std::to_string(v.result.entries - v.result.covered) + " are not yet";
    }
    h += ".";
    if (!v.result.open_disclosures.empty()) {
      h += " " + std::to_string(v.result.open_disclosures.size()) +
           " streamed disclosure(s) never ended (a crash or a stop mid-stream).";
    }
    h += "</div>\n";
  }
  h += "<h3>Latest signed checkpoint</h3>\n";
  if (v.latest) {
    h += "<table>\n<tr>" + th("Tree size") + td(std::to_string(v.latest->size), true) +
         "</tr>\n<tr>" + th("Root hash (base64)") + "<td class=\"mono\">" +
         html_escape(audit::to_base64(v.latest->root)) + "</td></tr>\n<tr>" +
         th("Root hash (hex)") + "<td class=\"mono\">" +
         html_escape(common::to_hex(std::span<const std::uint8_t>(v.latest->root))) +
         "</td></tr>\n<tr>" + th("Signed at") +
         td(v.latest->time_us ? format_time_in(*v.latest->time_us, zone)
                              : std::string("(not recorded: a dsa-audit/1 note)")) +
         "</tr>\n<tr>" + th("Key fingerprint (SHA-256 of the public key, DER)") +
         "<td class=\"mono\">" + html_escape(v.key_sha256) + "</td></tr>\n</table>\n";
  } else {
    h += none_recorded("No signed checkpoint is recorded.");
  }
  if (f == nullptr) {
    h += "</body>\n</html>\n";
    return h;
  }

  // Disclosures per day per agreement.
  std::vector<std::string> agreements;
  std::map<std::pair<std::string, std::string>, std::uint64_t> per_day;
  std::map<std::string, std::uint64_t> agreement_total;
  std::set<std::string> active_days;
  std::uint64_t total = 0;
  for (const audit::group_count& g : f->agreement_day) {
    if (disclosed(g) == 0) {
      continue;
    }
    if (agreement_total.find(g.keys[0]) == agreement_total.end()) {
      agreements.push_back(g.keys[0]);
    }
    agreement_total[g.keys[0]] += disclosed(g);
    per_day[{g.keys[1], g.keys[0]}] += disclosed(g);
    active_days.insert(g.keys[1]);
    total += disclosed(g);
  }
  h += "<h2 id=\"disclosures\">Disclosures per day per agreement</h2>\n<p class=\"note\">"
       "Requests the gateway allowed and answered with data (decision allow), by the agreement "
       "that allowed them and the day in " +
       html_escape(a.filter.tz) + ". Total: <strong>" + std::to_string(total) + "</strong>.</p>\n";
  if (total == 0) {
    h += none_recorded("No disclosures in this period.");
  } else {
    const std::vector<std::string> days = days_between(since_us, until_us, zone);
    if (days.size() <= 400) {
      h += disclosures_chart(days, agreements, per_day);
    } else {
      h += "<p class=\"note\">The period spans " + std::to_string(days.size()) +
           " days, too many for one chart; the table lists each day with a disclosure.</p>\n";
    }
    h += "<table>\n<tr>" + th("Day");
    for (const std::string& ag : agreements) {
      h += th(ag.empty() ? "(none)" : ag, true);
    }
    h += th("Total", true) + "</tr>\n";
    for (const std::string& d : active_days) {
      std::uint64_t sum = 0;
      h += "<tr>" + td(d);
      for (const std::string& ag : agreements) {
        auto it = per_day.find({d, ag});
        const std::uint64_t n = it == per_day.end() ? 0 : it->second;
        sum += n;
        h += td(std::to_string(n), true);
      }
      h += td(std::to_string(sum), true) + "</tr>\n";
    }
    h += "<tr>" + th("Total");
    for (const std::string& ag : agreements) {
      h += th(std::to_string(agreement_total[ag]), true);
    }
    h += th(std::to_string(total), true) + "</tr>\n</table>\n";
  }

  // Refusals by reason per partner.
  h += "<h2 id=\"refusals\">Refusals by reason per partner</h2>\n<p class=\"note\">Requests that "
       "disclosed nothing (decisions deny, withheld, reject and error), by requesting party and "
       "reason code (docs/design.md lists every code).</p>\n";
  {
    std::vector<std::string> partners, reasons;
    std::map<std::pair<std::string, std::string>, std::uint64_t> cell;
    for (const audit::group_count& g : f->requester_reason) {
      if (refused(g) == 0) {
        continue;
      }
      if (std::find(partners.begin(), partners.end(), g.keys[0]) == partners.end()) {
        partners.push_back(g.keys[0]);
      }
      if (std::find(reasons.begin(), reasons.end(), g.keys[1]) == reasons.end()) {
        reasons.push_back(g.keys[1]);
      }
      cell[{g.keys[0], g.keys[1]}] += refused(g);
    }
    std::sort(reasons.begin(), reasons.end());
    if (partners.empty()) {
      h += none_recorded("No refusals in this period.");
    } else {
      // One row per partner and reason (a matrix of every reason would not fit a page).
      h += "<table>\n<tr>" + th("Partner (requester)") + th("Reason") + th("Refusals", true) +
           "</tr>\n";
      for (const std::string& p : partners) {
        std::uint64_t sum = 0;
        for (const std::string& why : reasons) {
          auto it = cell.find({p, why});
          if (it == cell.end()) {
            continue;
          }
          sum += it->second;
          h += "<tr>" + td(p.empty() ? "(unidentified)" : p) +
               td(why.empty() ? "(no reason)" : why) + td(std::to_string(it->second), true) +
               "</tr>\n";
        }
        h += "<tr class=\"sub\">" + td(p.empty() ? "(unidentified)" : p) + td("all reasons") +
             td(std::to_string(sum), true) + "</tr>\n";
      }
      h += "</table>\n";
    }
  }

  // Top purposes.
  h += "<h2 id=\"purposes\">Top purposes</h2>\n<p class=\"note\">Disclosures by the purpose the "
       "requester declared, most first.</p>\n";
  {
    std::vector<const audit::group_count*> purposes;
    for (const audit::group_count& g : f->purpose) {
      if (disclosed(g) > 0) {
        purposes.push_back(&g);
      }
    }
    std::stable_sort(purposes.begin(), purposes.end(),
                     [](const auto* x, const auto* y) { return disclosed(*x) > disclosed(*y); });
    if (purposes.empty()) {
      h += none_recorded("No disclosures in this period.");
    } else {
      const std::uint64_t most = disclosed(*purposes.front());
      h += "<table>\n<tr>" + th("Purpose") + th("Disclosures", true) + th("") + "</tr>\n";
      for (const audit::group_count* g : purposes) {
        const std::uint64_t n = disclosed(*g);
        h += "<tr>" + td(g->keys[0].empty() ? "(none)" : g->keys[0]) + td(std::to_string(n), true) +
             "<td><svg width=\"200\" height=\"12\" role=\"img\" aria-hidden=\"true\"><rect "
             "width=\"" +
             std::to_string(most == 0 ? 0 : n * 200 / most) +
             "\" height=\"12\" fill=\"#1f5f99\"/></svg></td></tr>\n";
      }
      h += "</table>\n";
    }
  }

  // Fields removed.
  h += "<h2 id=\"fields-removed\">Fields removed</h2>\n<p class=\"note\">Response fields the "
       "agreements' rules removed before data left, summed per agreement and endpoint "
       "(the entries' <code>fields_removed</code>).</p>\n";
  {
    bool any = false;
    std::string rows;
    for (const audit::group_count& g : f->agreement_endpoint) {
      if (g.fields_removed == 0) {
        continue;
      }
      any = true;
      rows += "<tr>" + td(g.keys[0]) + td(g.keys[1]) + td(std::to_string(g.fields_removed), true) +
              td(std::to_string(disclosed(g)), true) + "</tr>\n";
    }
    if (any) {
      h += "<table>\n<tr>" + th("Agreement") + th("Endpoint") + th("Fields removed", true) +
           th("Disclosures", true) + "</tr>\n" + rows + "</table>\n";
    } else {
      h += none_recorded("No fields were removed in this period.");
    }
  }

  // Volume caps.
  const std::string cap_reason(policy::to_string(policy::reason::volume_cap_exceeded));
  h += "<h2 id=\"volume-caps\">Volume-cap hits</h2>\n<p class=\"note\">Requests refused because "
       "the agreement's volume cap was reached (reason <code>" +
       html_escape(cap_reason) + "</code>).</p>\n";
  if (f->volume_cap.empty()) {
    h += none_recorded("No volume cap was reached in this period.");
  } else {
    h += "<table>\n<tr>" + th("Agreement") + th("Requester") + th("Hits", true) + "</tr>\n";
    for (const audit::group_count& g : f->volume_cap) {
      h += "<tr>" + td(g.keys[0]) + td(g.keys[1]) + td(std::to_string(g.total), true) + "</tr>\n";
    }
    h += "</table>\n";
  }

  // Emergency disclosures and their reviews.
  h += "<h2 id=\"emergency\">Emergency disclosures and their reviews</h2>\n<p class=\"note\">"
       "Requests made under an emergency (an incident reference), each with the reviews "
       "recorded for it anywhere in the log.</p>\n";
  if (f->emergencies.empty()) {
    h += none_recorded("None recorded in this period.");
  } else {
    h += "<table>\n<tr>" + th("Time") + th("Request id") + th("Requester") + th("Agreement") +
         th("Decision") + th("Incident") + th("Justification") + th("Review") + "</tr>\n";
    for (const boost::json::object& e : f->emergencies) {
      const std::string id = string_member(e, "request_id").value_or("");
      std::string review;
      auto it = f->reviews.find(id);
      if (it != f->reviews.end() && !it->second.empty()) {
        for (const boost::json::object& rv : it->second) {
          const auto t = int_member(rv, "time_us");
          review += (review.empty() ? "" : "; ") + details_member(rv, "outcome") + " by " +
                    details_member(rv, "reviewer") +
                    (t ? " on " + format_time_in(*t, zone) : std::string());
          const std::string note = details_member(rv, "note");
          if (!note.empty()) {
            review += " (" + note + ")";
          }
        }
      } else {
        const std::string status = review_status(*f, e);
        const auto due = int_member(e, "review_due_us");
        const std::string due_text = due ? format_time_in(*due, zone) : std::string("not set");
        if (status == "overdue") {
          review = "OVERDUE: review was due " + due_text;
        } else if (status == "awaiting") {
          review = "awaiting review, due " + due_text;
        } else {
          review = "refused: nothing disclosed, no review owed";
        }
      }
      const auto t = int_member(e, "time_us");
      h += "<tr>" + td(t ? format_time_in(*t, zone) : std::string()) + td(id) +
           td(requester_of(e)) + td(string_member(e, "agreement").value_or("")) +
           td(string_member(e, "decision").value_or("")) +
           td(string_member(e, "incident_ref").value_or("")) +
           td(string_member(e, "justification").value_or("")) + td(review) + "</tr>\n";
    }
    h += "</table>\n";
  }
  h += "<p class=\"note\">Produced by <code>dsa audit report</code> from a store verified on the "
       "same snapshot; each figure equals <code>dsa audit stats</code> over the same range "
       "(docs/auditing.md, \"The governance report\").</p>\n</body>\n</html>\n";
  return h;
}

int run_report(const report_args& a) {
  if (a.filter.since.empty() || a.filter.until.empty()) {
    std::cerr << "dsa audit report: --since and --until are required (RFC 3339 times or "
                 "YYYY-MM-DD dates)\n";
    return 2;
  }
  const date::time_zone* zone = nullptr;
  std::optional<audit::query_filter> range = make_filter("report", a.filter, zone);
  if (!range) {
    return 2;
  }
  verification v;
  audit::verify_options options;
  std::string pem;
  if (!a.key.empty()) {
    auto text = read_file(a.key);
    if (!text) {
      std::cerr << "dsa audit report: " << text.error() << "\n";
      return 2;
    }
    pem = *text;
    options.public_key_pem = pem;
    v.key_given = true;
  }
  auto opened = audit::reader::open(a.db);
  if (!opened) {
    std::cerr << "dsa audit report: " << opened.error() << "\n";
    return 2;
  }
  std::unique_ptr<audit::reader> r = std::move(opened).value();
  if (pem.empty()) {
    pem = r->meta("public_key").value_or("");
  }
  auto verified = audit::verify_reader(*r, options);
  if (!verified) {
    std::cerr << "dsa audit report: " << verified.error() << "\n";
    return 2;
  }
  v.result = std::move(verified).value();
  v.key_sha256 = pem_fingerprint(pem);
  if (auto stored = r->checkpoints(); stored && !stored->empty()) {
    v.latest = audit::parse_checkpoint_note(stored->back().note);
  }
  const bool intact = v.result.intact();
  std::optional<figures> f;
  if (intact) {
    auto gathered = gather(*r, *range, *zone);
    if (!gathered) {
      std::cerr << "dsa audit report: " << gathered.error() << "\n";
      return 2;
    }
    f = std::move(gathered).value();
  } else {
    const audit::problem& p = v.result.problems.front();
    std::cerr << "dsa audit report: " << a.db << " fails verification: "
              << (p.seq ? "first bad seq " + std::to_string(*p.seq) + ": " : std::string())
              << audit::to_string(p.kind) << " — " << p.detail
              << "; the report says so and shows no figures\n";
  }
  std::string text;
  if (a.format == "json") {
    boost::json::object o;
    o["store"] = a.db;
    o["origin"] = r->meta("origin").value_or("");
    o["tz"] = a.filter.tz;
    o["since"] = format_time_in(*range->since_us, *zone);
    o["until"] = format_time_in(*range->until_us, *zone);
    o["since_us"] = *range->since_us;
    o["until_us"] = *range->until_us;
    o["verification"] = verification_json(v, *zone);
    o["figures"] = f ? boost::json::value(figures_json(*f, *zone)) : boost::json::value(nullptr);
    text = boost::json::serialize(o) + "\n";
  } else {
    text = html_page(a, *r, v, f ? &*f : nullptr, *range->since_us, *range->until_us, *zone);
  }
  if (auto written = write_file(a.out, text); !written) {
    std::cerr << "dsa audit report: " << written.error() << "\n";
    return 2;
  }
  return intact ? 0 : 1;
}

}  // namespace

void add_audit_report_commands(CLI::App& parent, int& status) {
  auto a = std::make_shared<report_args>();
  CLI::App* report = parent.add_subcommand(
      "report",
      "Write one self-contained HTML page (or JSON) for a governance board over --since … "
      "--until: disclosures per day per agreement, refusals by reason per partner, top "
      "purposes, fields removed, volume-cap hits, emergency disclosures and their reviews, the "
      "verification result and the latest signed checkpoint. The store is verified first; if "
      "it fails, the report says so, shows no figures and the exit status is 1.");
  report->add_option("--db", a->db, "Audit store (SQLite file)")->required();
  report->add_option("--key", a->key,
                     "The checkpoint public key (PEM) you kept (default: the key recorded in "
                     "the store)");
  add_filter_options(*report, a->filter, false);
  report->add_option("--out", a->out, "The file to write (- for standard output)")->required();
  report->add_option("--format", a->format, "html (default) or json (the same figures)")
      ->check(CLI::IsMember({"html", "json"}));
  report->callback([a, &status] { status = run_report(*a); });
}

}  // namespace dsa::cli
