// `dsa register` (docs/design.md §8, docs/agreements.md "The register of data sharing"): the
// organisation's record of every data sharing agreement it is party to, as the ICO data sharing
// code's accountability section asks for: who shares what with whom, why, under which law, for
// how long, and when each agreement is next reviewed. Every fact comes from the loaded model, the
// same one the gateway enforces, so the register cannot drift from what is deployed.

#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "policy/time.hpp"
#include "render/render.hpp"
#include "render/words.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
using policy::agreement;
using policy::time_point;

namespace {

struct register_args {
  std::vector<std::string> paths;
  std::string format = "md";
  std::string output;  // a file; empty: standard output
  std::string time;    // RFC 3339; empty: now
  int warn_days = 30;
};

// One agreement's line in the register, with what the IG officer must act on.
struct entry {
  const agreement* a = nullptr;
  std::vector<std::string> warnings;
};

struct register_doc {
  std::string as_at;  // the UK date the warnings are relative to, YYYY-MM-DD
  int warn_days = 30;
  std::vector<entry> entries;
  std::vector<std::string> not_loaded;  // files that failed to load (diagnostics on stderr)
};

date::year_month_day uk_date(time_point t) {
  if (const date::time_zone* z = policy::london_zone()) {
    return date::year_month_day{
        date::floor<date::days>(z->to_local(std::chrono::floor<std::chrono::seconds>(t)))};
  }
  return date::year_month_day{date::floor<date::days>(t)};
}

// Expired and terminated agreements are kept in the register (it is a record), but nothing in
// them needs reviewing or renewing any more.
std::vector<std::string> warnings_for(const agreement& a, time_point now, int warn_days) {
  std::vector<std::string> out;
  if (a.status == policy::agreement_status::expired ||
      a.status == policy::agreement_status::terminated) {
    return out;
  }
  const date::year_month_day today = uk_date(now);
  if (!a.review_due) {
    out.push_back("no review date is set");
  } else if (today > *a.review_due) {
    out.push_back(
        "review overdue: it was due on " + date::format("%F", *a.review_due) +
        (a.review_overdue_denies ? " and the gateway now refuses every request under it" : ""));
  }
  if (now >= a.valid_until) {
    out.push_back("validity ended on " + a.valid_until_text);
  } else if (a.valid_until - now <= std::chrono::hours(24) * warn_days) {
    const auto left = std::chrono::ceil<std::chrono::hours>(a.valid_until - now).count();
    const long days = static_cast<long>((left + 23) / 24);
    out.push_back("expires on " + a.valid_until_text + ", in " +
                  policy::doc::plural(static_cast<std::uint64_t>(days), "day", "days") +
                  " (inside the " + std::to_string(warn_days) + "-day warning window)");
  }
  return out;
}

std::string one_line(std::string_view s) { return policy::doc::squash(s); }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    out += (out.empty() ? "" : "; ") + s;
  }
  return out;
}

std::vector<std::string> parties_of(const agreement& a) {
  std::vector<std::string> out;
  for (const policy::party& p : a.parties) {
    out.push_back(one_line(p.name) + " (" + p.id + "): " + policy::doc::role_words(p.role));
  }
  return out;
}

std::vector<std::string> purposes_of(const agreement& a) {
  std::vector<std::string> out;
  for (const policy::purpose& p : a.purposes) {
    out.push_back(p.id + ": " + one_line(p.description));
  }
  return out;
}

// Emergency permissions (docs/agreements.md §3.10): sharing that happens on a declaration and is
// reviewed afterwards belongs in the record of what is shared, with its review period.
std::vector<std::string> emergency_permissions_of(const agreement& a) {
  std::vector<std::string> out;
  for (const policy::permission& p : a.permissions) {
    if (p.emergency) {
      out.push_back(
          p.id + ": " + p.assignee + " for " + policy::doc::join_words(p.purposes, " and ") +
          "; reviewed within " +
          policy::doc::duration_words(p.emergency->review_within, p.emergency->review_within_text));
    }
  }
  return out;
}

std::string flags_of(const policy::data_category& c) {
  std::string f;
  if (c.special_category) {
    f += "special category";
  }
  if (c.criminal_offence_data) {
    f += (f.empty() ? "" : ", ") + std::string("criminal offence data");
  }
  if (f.empty()) {
    f = c.personal_data ? "personal data" : "not personal data";
  }
  return f;
}

std::vector<std::string> categories_of(const agreement& a) {
  std::vector<std::string> out;
  for (const policy::data_category& c : a.data_categories) {
    out.push_back(c.id + " [" + flags_of(c) + "]");
  }
  return out;
}

std::vector<std::string> retention_of(const agreement& a) {
  std::vector<std::string> out;
  for (const policy::data_category& c : a.data_categories) {
    out.push_back(c.id + ": " + (c.retention.empty() ? "(not stated)" : one_line(c.retention)));
  }
  return out;
}

std::vector<std::string> citations_of(const std::vector<policy::citation>& cs) {
  std::vector<std::string> out;
  for (const policy::citation& c : cs) {
    out.push_back(c.id + ": " + one_line(c.cite));
  }
  return out;
}

bool any_of_categories(const agreement& a, bool policy::data_category::*flag) {
  return std::any_of(a.data_categories.begin(), a.data_categories.end(),
                     [&](const policy::data_category& c) { return c.*flag; });
}

std::string status_text(const agreement& a) {
  std::string s = policy::doc::status_words(a.status);
  if (!a.status_reason.empty()) {
    s += " (" + one_line(a.status_reason) + ")";
  }
  return s;
}

std::string review_text(const agreement& a) {
  if (!a.review_due) {
    return "not set";
  }
  return date::format("%F", *a.review_due) +
         (a.review_overdue_denies ? " (overdue: deny)" : " (overdue: warn)");
}

// ---- CSV (RFC 4180) ----

// Quoted when it holds a comma, a quote or a line break, quotes doubled. A cell a spreadsheet
// would run as a formula (leading = + - @, tab or CR) gets a leading apostrophe so that opening
// the register never evaluates text an agreement's author wrote.
std::string csv_field(std::string_view raw) {
  std::string s(raw);
  if (!s.empty() && std::string_view("=+-@\t\r").find(s.front()) != std::string_view::npos) {
    s.insert(s.begin(), '\'');
  }
  if (s.find_first_of(",\"\r\n") == std::string::npos) {
    return s;
  }
  std::string out = "\"";
  for (char c : s) {
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return out + "\"";
}

std::string write_csv(const register_doc& d) {
  // emergency_permissions is last, so that the earlier columns keep their place.
  static const std::vector<std::string> header = {"id",
                                                  "version",
                                                  "title",
                                                  "status",
                                                  "status_reason",
                                                  "parties",
                                                  "purposes",
                                                  "data_categories",
                                                  "special_category",
                                                  "criminal_offence_data",
                                                  "retention",
                                                  "legal_gateways",
                                                  "lawful_bases",
                                                  "valid_from",
                                                  "valid_until",
                                                  "review_due",
                                                  "review_overdue",
                                                  "warnings",
                                                  "file",
                                                  "sha256",
                                                  "emergency_permissions"};
  std::string out;
  auto row = [&out](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += (i == 0 ? "" : ",") + csv_field(cells[i]);
    }
    out += "\r\n";
  };
  row(header);
  for (const entry& e : d.entries) {
    const agreement& a = *e.a;
    row({a.id,
         one_line(a.version),
         one_line(a.title),
         std::string(policy::to_string(a.status)),
         one_line(a.status_reason),
         join(parties_of(a)),
         join(purposes_of(a)),
         join(categories_of(a)),
         any_of_categories(a, &policy::data_category::special_category) ? "yes" : "no",
         any_of_categories(a, &policy::data_category::criminal_offence_data) ? "yes" : "no",
         join(retention_of(a)),
         join(citations_of(a.legal_gateways)),
         join(citations_of(a.lawful_bases)),
         a.valid_from_text,
         a.valid_until_text,
         a.review_due ? date::format("%F", *a.review_due) : std::string(),
         a.review_due ? (a.review_overdue_denies ? "deny" : "warn") : "",
         join(e.warnings),
         policy::doc::file_name(a),
         a.sha256,
         join(emergency_permissions_of(a))});
  }
  return out;
}

// ---- Markdown ----

// Ids are restricted by the loader; anything else becomes '-' so an anchor stays one token.
std::string anchor(std::string_view id) {
  std::string out;
  for (char c : id) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '-');
  }
  return out;
}

std::string md(std::string_view s) { return policy::md_escape(one_line(s)); }

std::string md_list(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    out += "  - " + md(s) + "\n";
  }
  return items.empty() ? "  - (none)\n" : out;
}

std::string write_markdown(const register_doc& d) {
  std::size_t flagged = 0;
  for (const entry& e : d.entries) {
    flagged += e.warnings.empty() ? 0 : 1;
  }
  std::ostringstream o;
  o << "# Register of data sharing agreements\n\n"
    << "As at " << d.as_at
    << " (UK date): " << policy::doc::plural(d.entries.size(), "agreement", "agreements") << ", "
    << flagged << " needing attention (warnings cover overdue reviews and agreements ending within "
    << d.warn_days << " days).\n\n";
  for (const std::string& f : d.not_loaded) {
    o << "> **Warning:** " << md(f) << " could not be loaded and is missing from this register "
      << "(`dsa lint` shows why).\n\n";
  }
  o << "| Agreement | Version | Status | Parties | Special category | Criminal offence | Valid "
       "until | Review due | Warnings |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const entry& e : d.entries) {
    const agreement& a = *e.a;
    o << "| [" << md(a.title) << "](#" << anchor(a.id) << ") (" << md(a.id) << ") | "
      << md(a.version) << " | " << md(policy::doc::status_words(a.status)) << " | "
      << a.parties.size() << " | "
      << (any_of_categories(a, &policy::data_category::special_category) ? "yes" : "no") << " | "
      << (any_of_categories(a, &policy::data_category::criminal_offence_data) ? "yes" : "no")
      << " | " << md(a.valid_until_text) << " | "
      << (a.review_due ? date::format("%F", *a.review_due) : std::string("not set")) << " | "
      << e.warnings.size() << " |\n";
  }
  for (const entry& e : d.entries) {
    const agreement& a = *e.a;
    o << "\n<a id=\"" << anchor(a.id) << "\"></a>\n\n## " << md(a.title) << "\n\n";
    for (const std::string& w : e.warnings) {
      o << "> **Warning:** " << md(w) << "\n\n";
    }
    o << "- **Agreement:** " << md(a.id) << ", version " << md(a.version) << "\n"
      << "- **Status:** " << md(status_text(a)) << "\n"
      << "- **Parties:**\n"
      << md_list(parties_of(a)) << "- **Purposes:**\n"
      << md_list(purposes_of(a)) << "- **Data categories:**\n"
      << md_list(categories_of(a)) << "- **Retention:**\n"
      << md_list(retention_of(a)) << "- **Legal gateways:**\n"
      << md_list(citations_of(a.legal_gateways)) << "- **Lawful bases:**\n"
      << md_list(citations_of(a.lawful_bases));
    if (auto emergency = emergency_permissions_of(a); !emergency.empty()) {
      o << "- **Emergency disclosures:**\n" << md_list(emergency);
    }
    o << "- **Valid:** from " << md(a.valid_from_text) << " until " << md(a.valid_until_text)
      << "\n"
      << "- **Review due:** " << md(review_text(a)) << "\n"
      << "- **File:** " << md(policy::doc::file_name(a)) << ", SHA-256 " << md(a.sha256) << "\n";
  }
  return o.str();
}

// ---- HTML ----

std::string h(std::string_view s) { return policy::html_escape(one_line(s)); }

std::string html_list(const std::vector<std::string>& items) {
  if (items.empty()) {
    return "<p>(none)</p>";
  }
  std::string out = "<ul>";
  for (const std::string& s : items) {
    out += "<li>" + h(s) + "</li>";
  }
  return out + "</ul>";
}

constexpr std::string_view k_css = R"css(
body { font-family: "Segoe UI", Arial, Helvetica, sans-serif; font-size: 10.5pt;
  line-height: 1.45; color: #1b1b1b; max-width: 70em; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 19pt; border-bottom: 2px solid #1d3557; padding-bottom: .3em; }
h2 { font-size: 14pt; margin-top: 1.6em; color: #1d3557; border-bottom: 1px solid #c9d1dc; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { border: 1px solid #b8c2cc; padding: .3em .45em; text-align: left; vertical-align: top; }
th { background: #e8edf3; }
dt { font-weight: 600; margin-top: .45em; }
dd { margin: .1em 0 0 1.2em; }
ul { margin: .2em 0; padding-left: 1.3em; }
.warning { border: 2px solid #b3261e; background: #fdecea; padding: .4em .8em; margin: .6em 0; }
)css";

std::string write_html(const register_doc& d) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<title>Register of data sharing agreements — " << h(d.as_at) << "</title>\n<style>" << k_css
    << "</style>\n</head>\n<body>\n<main>\n"
    << "<h1>Register of data sharing agreements</h1>\n<p>As at " << h(d.as_at)
    << " (UK date): " << h(policy::doc::plural(d.entries.size(), "agreement", "agreements"))
    << ". Warnings cover overdue reviews and agreements ending within " << d.warn_days
    << " days.</p>\n";
  for (const std::string& f : d.not_loaded) {
    o << "<div class=\"warning\"><p><strong>Warning:</strong> " << h(f)
      << " could not be loaded and is missing from this register.</p></div>\n";
  }
  o << "<table>\n<thead><tr><th>Agreement</th><th>Version</th><th>Status</th><th>Special "
       "category</th><th>Criminal offence</th><th>Valid until</th><th>Review due</th>"
       "<th>Warnings</th></tr></thead>\n<tbody>\n";
  for (const entry& e : d.entries) {
    const agreement& a = *e.a;
    o << "<tr><td><a href=\"#" << anchor(a.id) << "\">" << h(a.title) << "</a> (<code>" << h(a.id)
      << "</code>)</td><td>" << h(a.version) << "</td><td>"
      << h(policy::doc::status_words(a.status)) << "</td><td>"
      << (any_of_categories(a, &policy::data_category::special_category) ? "yes" : "no")
      << "</td><td>"
      << (any_of_categories(a, &policy::data_category::criminal_offence_data) ? "yes" : "no")
      << "</td><td>" << h(a.valid_until_text) << "</td><td>"
      << h(a.review_due ? date::format("%F", *a.review_due) : std::string("not set")) << "</td><td>"
      << e.warnings.size() << "</td></tr>\n";
  }
  o << "</tbody>\n</table>\n";
  for (const entry& e : d.entries) {
    const agreement& a = *e.a;
    o << "<section id=\"" << anchor(a.id) << "\">\n<h2>" << h(a.title) << "</h2>\n";
    for (const std::string& w : e.warnings) {
      o << "<div class=\"warning\"><p><strong>Warning:</strong> " << h(w) << "</p></div>\n";
    }
    o << "<dl>\n<dt>Agreement</dt><dd><code>" << h(a.id) << "</code>, version " << h(a.version)
      << "</dd>\n<dt>Status</dt><dd>" << h(status_text(a)) << "</dd>\n<dt>Parties</dt><dd>"
      << html_list(parties_of(a)) << "</dd>\n<dt>Purposes</dt><dd>" << html_list(purposes_of(a))
      << "</dd>\n<dt>Data categories</dt><dd>" << html_list(categories_of(a))
      << "</dd>\n<dt>Retention</dt><dd>" << html_list(retention_of(a))
      << "</dd>\n<dt>Legal gateways</dt><dd>" << html_list(citations_of(a.legal_gateways))
      << "</dd>\n<dt>Lawful bases</dt><dd>" << html_list(citations_of(a.lawful_bases)) << "</dd>\n";
    if (auto emergency = emergency_permissions_of(a); !emergency.empty()) {
      o << "<dt>Emergency disclosures</dt><dd>" << html_list(emergency) << "</dd>\n";
    }
    o << "<dt>Valid</dt><dd>from " << h(a.valid_from_text) << " until " << h(a.valid_until_text)
      << "</dd>\n<dt>Review due</dt><dd>" << h(review_text(a)) << "</dd>\n<dt>File</dt><dd><code>"
      << h(policy::doc::file_name(a)) << "</code>, SHA-256 <code>" << h(a.sha256)
      << "</code></dd>\n</dl>\n</section>\n";
  }
  o << "</main>\n</body>\n</html>\n";
  return o.str();
}

int run_register(const register_args& args) {
  time_point now = now_utc();
  if (!args.time.empty()) {
    auto t = policy::parse_instant(args.time);
    if (!t) {
      std::cerr << "dsa register: --time '" << args.time
                << "' is not an RFC 3339 instant (e.g. 2026-11-24T10:30:00Z)\n";
      return 2;
    }
    now = *t;
  }
  std::vector<fs::path> paths;
  for (const std::string& p : args.paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      std::cerr << "dsa register: " << p << ": no such file or directory\n";
      return 2;
    }
    paths.emplace_back(p);
  }
  policy::load_options opts;
  opts.now = now;
  // All together first, so the cross-file rules (one id per agreement, one name per party id)
  // apply as they do in the gateway; when anything fails, each file again on its own so the
  // register still lists every agreement that loads.
  policy::load_result all = policy::load_agreements(paths, opts);
  if (all.files.empty() && all.ok()) {
    std::cerr << "dsa register: no agreement files found\n";
    return 2;
  }
  register_doc doc;
  doc.as_at = date::format("%F", uk_date(now));
  doc.warn_days = args.warn_days;
  std::vector<std::shared_ptr<const policy::agreement_set>> sets;
  if (all.ok()) {
    sets.push_back(all.set);
  } else {
    print_diagnostics(all);
    for (const std::string& f : all.files) {
      policy::load_result one = policy::load_agreements({fs::path(f)}, opts);
      if (one.ok()) {
        sets.push_back(one.set);
      } else {
        doc.not_loaded.push_back(policy::doc::squash(f));
      }
    }
  }
  for (const auto& set : sets) {
    for (const auto& a : set->agreements) {
      doc.entries.push_back({a.get(), warnings_for(*a, now, args.warn_days)});
    }
  }
  std::stable_sort(doc.entries.begin(), doc.entries.end(),
                   [](const entry& x, const entry& y) { return x.a->id < y.a->id; });
  for (const std::string& f : doc.not_loaded) {
    std::cerr << "dsa register: warning: " << f << ": not loaded, missing from the register\n";
  }
  for (const entry& e : doc.entries) {
    for (const std::string& w : e.warnings) {
      std::cerr << "dsa register: warning: " << e.a->id << ": " << w << '\n';
    }
  }
  const std::string text = args.format == "csv"    ? write_csv(doc)
                           : args.format == "html" ? write_html(doc)
                                                   : write_markdown(doc);
  if (args.output.empty()) {
    std::cout << text;
  } else {
    std::ofstream f(args.output, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) {
      std::cerr << "dsa register: cannot write " << args.output << '\n';
      return 2;
    }
  }
  return all.ok() ? 0 : 1;
}

}  // namespace

void add_register_command(CLI::App& app, int& status) {
  auto args = std::make_shared<register_args>();
  CLI::App* cmd = app.add_subcommand(
      "register",
      "The register of data sharing agreements: one entry per agreement (parties and roles, "
      "purposes, data categories with special-category and criminal-offence flags, retention, "
      "legal gateways, lawful bases, validity, review), with warnings for overdue reviews and "
      "agreements ending soon (in the output and on stderr). Exit 1 when any agreement fails to "
      "load, 2 usage.");
  cmd->add_option("agreements", args->paths, "Agreement directories or files")->required();
  cmd->add_option("--format", args->format, "md (default), html or csv")
      ->check(CLI::IsMember({"md", "html", "csv"}));
  cmd->add_option("-o,--output", args->output, "Write the register to this file");
  cmd->add_option("--warn-days", args->warn_days,
                  "Warn about agreements ending within this many days (default 30)")
      ->check(CLI::Range(0, 36500));
  cmd->add_option("--time,--now", args->time,
                  "Warnings as at this RFC 3339 instant (default: now)");
  cmd->callback([args, &status] { status = run_register(*args); });
}

}  // namespace dsa::cli
