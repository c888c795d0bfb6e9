// `dsa render`: the agreement as the document its signatories read (SPEC §8).
//
// The reader is an IG officer, a Caldicott Guardian or a SIRO, not an engineer, and what they
// sign must be exactly what the gateway enforces. So every fact comes from the loaded model
// (never from the YAML comments), identifiers are shown beside the plain-words text so the two
// can be matched, and anything that weakens protection (an unfiltered endpoint, a suspended
// status) is stated as a warning rather than left to be inferred. The file's SHA-256 appears in
// the sign-off statement and the footer so a signed copy can be matched to the deployed file.
//
// Both formats come from one document tree (`block`s of `span`s) built once per call, so the
// Markdown and the HTML say the same thing. Every value from the agreement passes through the
// format's escaping at the point it is written: Markdown escapes the characters that would
// change structure (`|` in tables, emphasis, links, HTML, leading `#`/`-`/`1.`), HTML escapes
// `& < > " '` and drops control characters.
//
// Output is deterministic (no clock, no locale): rendering the same file twice gives the same
// bytes, so a rendered copy can itself be diffed and hashed.

#include "render.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "loader.hpp"

namespace dsa::policy {
namespace {

using namespace std::chrono;

// ---------------------------------------------------------------------------------------------
// Document tree

struct span {
  enum class kind : std::uint8_t { text, code, strong, em };
  kind k = kind::text;
  std::string s;
};
using line = std::vector<span>;

span text(std::string s) { return {span::kind::text, std::move(s)}; }
span code(std::string s) { return {span::kind::code, std::move(s)}; }
span strong(std::string s) { return {span::kind::strong, std::move(s)}; }
span em(std::string s) { return {span::kind::em, std::move(s)}; }

struct block;
using blocks = std::vector<block>;

struct signatory {
  std::string name, role, recorded;  // recorded: an approval already noted in governance
};

struct block {
  enum class kind : std::uint8_t {
    heading,    // level, text, anchor
    paragraph,  // text
    warning,    // text: something that weakens protection or stops the agreement
    note,       // text: explanatory small print
    list,       // items
    table,      // header, rows
    fields,     // terms: a definition list
    signatures  // signatories
  };
  kind k = kind::paragraph;
  int level = 0;
  std::string anchor;
  line text;
  std::vector<blocks> items;
  std::vector<line> header;
  std::vector<std::vector<line>> rows;
  std::vector<std::pair<line, blocks>> terms;
  std::vector<signatory> signers;
};

block heading(int level, std::string title, std::string anchor = {}) {
  block b;
  b.k = block::kind::heading;
  b.level = level;
  b.text = {text(std::move(title))};
  b.anchor = std::move(anchor);
  return b;
}

block para(line l, block::kind k = block::kind::paragraph) {
  block b;
  b.k = k;
  b.text = std::move(l);
  return b;
}

block bullet_list(std::vector<line> lines) {
  block b;
  b.k = block::kind::list;
  for (line& l : lines) {
    b.items.push_back({para(std::move(l))});
  }
  return b;
}

block fields_block() {
  block b;
  b.k = block::kind::fields;
  return b;
}

void add_field(block& f, std::string term, line value) {
  f.terms.emplace_back(line{text(std::move(term))}, blocks{para(std::move(value))});
}

// ---------------------------------------------------------------------------------------------
// Plain-words helpers

// Newlines and runs of white space (YAML folded text) become one space; control characters go.
std::string squash(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (unsigned char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

// Like squash, but keeps one leading and one trailing space: used on spans, whose edges separate
// them from their neighbours.
std::string collapse(std::string_view s) {
  std::string out = squash(s);
  if (out.empty()) {
    return s.empty() ? std::string() : std::string(" ");
  }
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (blank(s.front())) {
    out.insert(out.begin(), ' ');
  }
  if (blank(s.back())) {
    out.push_back(' ');
  }
  return out;
}

std::string join_words(const std::vector<std::string>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      out += (i + 1 == words.size()) ? std::string(last_sep) : std::string(", ");
    }
    out += words[i];
  }
  return out;
}

std::string strip_period(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

std::string number(std::uint64_t n) { return std::to_string(n); }

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return number(n) + " " + std::string(n == 1 ? one : many);
}

constexpr std::array<std::string_view, 12> k_months{
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

std::string long_date(date::year_month_day d) {
  if (!d.ok()) {
    return date::format("%F", d);
  }
  return std::to_string(static_cast<unsigned>(d.day())) + " " +
         std::string(k_months[static_cast<unsigned>(d.month()) - 1]) + " " +
         std::to_string(static_cast<int>(d.year()));
}

std::string hhmm(int minute) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minute / 60, minute % 60);
  return buf;
}

const date::time_zone* london() {
  try {
    return date::locate_zone("Europe/London");
  } catch (const std::exception&) {
    return nullptr;
  }
}

// "00:00 on 1 April 2026 (UK time)", or the UTC instant when the tz database is unavailable.
std::string uk_time(time_point t) {
  if (const date::time_zone* z = london()) {
    try {
      auto local = z->to_local(floor<seconds>(t));
      auto day = floor<date::days>(local);
      auto minute = duration_cast<minutes>(local - day).count();
      return hhmm(static_cast<int>(minute)) + " on " + long_date(date::year_month_day{day}) +
             " (UK time)";
    } catch (const std::exception&) {
    }
  }
  return format_instant(t);
}

std::string status_words(agreement_status s) {
  switch (s) {
    case agreement_status::draft:
      return "Draft";
    case agreement_status::active:
      return "Active";
    case agreement_status::suspended:
      return "Suspended";
    case agreement_status::expired:
      return "Expired";
    case agreement_status::terminated:
      return "Terminated";
  }
  return "Unknown";
}

std::string status_effect(agreement_status s) {
  switch (s) {
    case agreement_status::draft:
      return "This agreement is a draft and is not in force: the gateways refuse every request "
             "under it until an active version is deployed.";
    case agreement_status::active:
      return "In force during the validity period below.";
    case agreement_status::suspended:
      return "This agreement is suspended: the gateways refuse every request under it until a "
             "version with status active is deployed.";
    case agreement_status::expired:
      return "This agreement has expired: the gateways refuse every request under it.";
    case agreement_status::terminated:
      return "This agreement has been terminated: the gateways refuse every request under it.";
  }
  return {};
}

std::string role_words(party_role r) {
  switch (r) {
    case party_role::controller:
      return "controller";
    case party_role::joint_controller:
      return "joint controller";
    case party_role::processor:
      return "processor";
  }
  return "controller";
}

std::string role_explained(party_role r) {
  switch (r) {
    case party_role::controller:
      return "Controller: decides why and how the personal data it holds is used";
    case party_role::joint_controller:
      return "Joint controller: decides jointly with the other joint controllers why and how "
             "the shared data is used";
    case party_role::processor:
      return "Processor: uses the data only on a controller's documented instructions";
  }
  return {};
}

std::string capitalise(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') {
    s[0] = static_cast<char>(s[0] - 'a' + 'A');
  }
  return s;
}

// What an HTTP method does, in words an IG officer recognises.
std::string method_words(std::string_view m) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> words{{
      {"GET", "Read"},
      {"HEAD", "Check the existence of"},
      {"POST", "Send (create)"},
      {"PUT", "Replace"},
      {"PATCH", "Amend"},
      {"DELETE", "Delete"},
  }};
  for (const auto& [method, word] : words) {
    if (m == method) {
      return std::string(word);
    }
  }
  return "Call";
}

std::string day_name(int i) {
  static constexpr std::array<std::string_view, 7> names{
      "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
  return std::string(names[static_cast<std::size_t>(i)]);
}

// Bit 0 Monday … bit 6 Sunday → "Monday to Friday", "Saturday and Sunday", "every day".
std::string days_words(std::uint8_t mask) {
  if ((mask & 0x7f) == 0x7f) {
    return "Every day";
  }
  std::vector<std::string> runs;
  for (int i = 0; i < 7;) {
    if ((mask & (1u << i)) == 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j + 1 < 7 && (mask & (1u << (j + 1))) != 0) {
      ++j;
    }
    if (j - i >= 2) {
      runs.push_back(day_name(i) + " to " + day_name(j));
    } else {
      for (int k = i; k <= j; ++k) {
        runs.push_back(day_name(k));
      }
    }
    i = j + 1;
  }
  if (runs.empty()) {
    return "No day";
  }
  return join_words(runs, " and ");
}

// An ISO 8601 duration as the unit of a rolling window: "day", "hour", "7 days", "90 minutes".
std::string window_words(const volume_cap& c) {
  const auto us = c.window.count();
  if (us <= 0) {
    return c.window_text;
  }
  constexpr std::int64_t s = 1'000'000, m = 60 * s, h = 60 * m, d = 24 * h, w = 7 * d;
  struct unit {
    std::int64_t size;
    std::string_view one, many;
  };
  for (const unit& u : {unit{w, "week", "weeks"}, unit{d, "day", "days"}, unit{h, "hour", "hours"},
                        unit{m, "minute", "minutes"}, unit{s, "second", "seconds"}}) {
    if (us % u.size == 0) {
      const auto n = static_cast<std::uint64_t>(us / u.size);
      return n == 1 ? std::string(u.one) : plural(n, u.one, u.many);
    }
  }
  return c.window_text;
}

// Describes a simple regular expression in words: "“ASB-” followed by 4 digits, “-” and
// 6 digits". Only literal text, common character classes with counts and a group of literal
// alternatives are described; anything else returns nullopt and the caller shows the pattern.
std::optional<std::string> describe_pattern(std::string_view re) {
  std::vector<std::string> parts;
  std::string literal;
  auto quote = [](std::string_view s) { return "“" + std::string(s) + "”"; };
  auto flush = [&] {
    if (!literal.empty()) {
      parts.push_back(quote(literal));
      literal.clear();
    }
  };
  auto is_plain = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == '/' || c == ':' || c == ',' || c == '@' || c == ' ' || c == '#' ||
           c == '=' || c == '~' || c == '%' || c == '!';
  };
  struct cls {
    std::string_view set, one, many;
  };
  static constexpr std::array<cls, 14> classes{{
      {"0-9", "digit", "digits"},
      {"A-Z", "capital letter", "capital letters"},
      {"a-z", "lower-case letter", "lower-case letters"},
      {"A-Za-z", "letter", "letters"},
      {"a-zA-Z", "letter", "letters"},
      {"A-Z0-9", "capital letter or digit", "capital letters or digits"},
      {"0-9A-Z", "capital letter or digit", "capital letters or digits"},
      {"a-z0-9", "lower-case letter or digit", "lower-case letters or digits"},
      {"0-9a-z", "lower-case letter or digit", "lower-case letters or digits"},
      {"A-Za-z0-9", "letter or digit", "letters or digits"},
      {"a-zA-Z0-9", "letter or digit", "letters or digits"},
      {"0-9a-f", "hexadecimal digit", "hexadecimal digits"},
      {"0-9a-fA-F", "hexadecimal digit", "hexadecimal digits"},
      {"0-9A-Fa-f", "hexadecimal digit", "hexadecimal digits"},
  }};

  std::size_t i = 0;
  while (i < re.size()) {
    const char c = re[i];
    std::string one, many;
    if (c == '[' || (c == '\\' && i + 1 < re.size() && re[i + 1] == 'd')) {
      std::string_view set = "0-9";
      if (c == '[') {
        const auto close = re.find(']', i + 1);
        if (close == std::string_view::npos) {
          return std::nullopt;
        }
        set = re.substr(i + 1, close - i - 1);
        i = close + 1;
      } else {
        i += 2;
      }
      for (const cls& k : classes) {
        if (k.set == set) {
          one = k.one;
          many = k.many;
        }
      }
      if (one.empty() && set.size() == 3 && set[1] == '-' && set[0] >= '0' && set[0] <= '9' &&
          set[2] > set[0] && set[2] <= '9') {
        one = std::string("digit from ") + set[0] + " to " + set[2];
        many = std::string("digits from ") + set[0] + " to " + set[2];
      }
      if (one.empty()) {
        return std::nullopt;
      }
      // Quantifier.
      std::string item;
      if (i < re.size() && re[i] == '{') {
        const auto close = re.find('}', i);
        if (close == std::string_view::npos) {
          return std::nullopt;
        }
        std::string_view q = re.substr(i + 1, close - i - 1);
        i = close + 1;
        const auto comma = q.find(',');
        std::uint64_t lo = 0, hi = 0;
        auto num = [](std::string_view s, std::uint64_t& out) {
          auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
          return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
        };
        if (comma == std::string_view::npos) {
          if (!num(q, lo)) {
            return std::nullopt;
          }
          item = lo == 1 ? "1 " + one : number(lo) + " " + many;
        } else if (comma + 1 == q.size()) {
          if (!num(q.substr(0, comma), lo)) {
            return std::nullopt;
          }
          item = number(lo) + " or more " + many;
        } else {
          if (!num(q.substr(0, comma), lo) || !num(q.substr(comma + 1), hi)) {
            return std::nullopt;
          }
          item = number(lo) + " to " + number(hi) + " " + many;
        }
      } else if (i < re.size() && re[i] == '+') {
        ++i;
        item = "one or more " + many;
      } else if (i < re.size() && re[i] == '*') {
        ++i;
        item = "any number of " + many;
      } else if (i < re.size() && re[i] == '?') {
        ++i;
        item = "an optional " + one;
      } else {
        item = "1 " + one;
      }
      flush();
      parts.push_back(std::move(item));
    } else if (c == '(') {
      const auto close = re.find(')', i + 1);
      if (close == std::string_view::npos) {
        return std::nullopt;
      }
      std::string_view body = re.substr(i + 1, close - i - 1);
      if (body.substr(0, 2) == "?:") {
        body.remove_prefix(2);
      }
      i = close + 1;
      std::vector<std::string> alts;
      std::size_t start = 0;
      for (std::size_t k = 0; k <= body.size(); ++k) {
        if (k == body.size() || body[k] == '|') {
          std::string_view alt = body.substr(start, k - start);
          if (alt.empty() ||
              !std::all_of(alt.begin(), alt.end(), [&](char a) { return is_plain(a); })) {
            return std::nullopt;
          }
          alts.push_back(quote(alt));
          start = k + 1;
        }
      }
      bool optional = false;
      if (i < re.size() && re[i] == '?') {
        optional = true;
        ++i;
      }
      flush();
      parts.push_back((optional ? "optionally " : "") + join_words(alts, " or "));
    } else if (c == '\\' && i + 1 < re.size() &&
               std::string_view(".-/\\()[]{}+*?|^$").find(re[i + 1]) != std::string_view::npos) {
      literal.push_back(re[i + 1]);
      i += 2;
    } else if (is_plain(c)) {
      if (i + 1 < re.size() && std::string_view("?*+{").find(re[i + 1]) != std::string_view::npos) {
        return std::nullopt;  // a quantified literal: show the pattern instead
      }
      literal.push_back(c);
      ++i;
    } else {
      return std::nullopt;
    }
  }
  flush();
  if (parts.empty()) {
    return std::nullopt;
  }
  if (parts.size() == 1) {
    return parts[0];
  }
  std::vector<std::string> rest(parts.begin() + 1, parts.end());
  return parts[0] + " followed by " + join_words(rest, " and ");
}

// "in the form “ASB-” followed by 4 digits … (pattern `…`)" as a line fragment.
void append_pattern(line& l, const std::string& re) {
  if (auto words = describe_pattern(re)) {
    l.push_back(text("in the form " + *words + " (pattern "));
  } else {
    l.push_back(text("matching the pattern "));
    l.push_back(code(re));
    return;
  }
  l.push_back(code(re));
  l.push_back(text(")"));
}

// A JSON Pointer read aloud: "/subjects/*/name" → `subjects` › every item › `name`.
void append_pointer(line& l, const json_pointer& p) {
  if (p.segments.empty()) {
    l.push_back(text("the whole response body"));
    return;
  }
  for (std::size_t i = 0; i < p.segments.size(); ++i) {
    if (i > 0) {
      l.push_back(text(" › "));
    }
    if (p.segments[i] == "*") {
      l.push_back(text("every item"));
    } else {
      l.push_back(code(p.segments[i]));
    }
  }
}

// A withhold_if value (compact JSON) in words.
std::string json_value_words(const std::string& j) {
  if (j == "true" || j == "false") {
    return j;
  }
  if (j == "null") {
    return "empty (null)";
  }
  if (j.size() >= 2 && j.front() == '"' && j.back() == '"') {
    return "“" + j.substr(1, j.size() - 2) + "”";
  }
  return j;
}

// snake_case or kebab-case key → "Snake case"; a few acronyms stay upper case.
std::string humanise(std::string_view key) {
  static const std::set<std::string, std::less<>> acronyms{
      "dpia", "dpo",  "ico", "sar", "spoc", "siro", "nhs", "ig",  "it",   "id",
      "uk",   "gdpr", "dpa", "ssl", "tls",  "url",  "api", "csp", "mash", "cctv"};
  std::string out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) {
      return;
    }
    std::string lower = word;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (acronyms.count(lower) != 0) {
      std::transform(word.begin(), word.end(), word.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    }
    if (!out.empty()) {
      out.push_back(' ');
    }
    out += word;
    word.clear();
  };
  for (char c : key) {
    if (c == '_' || c == '-' || c == ' ') {
      flush();
    } else {
      word.push_back(c);
    }
  }
  flush();
  return capitalise(out);
}

std::string file_name(const agreement& a) {
  if (a.file.empty()) {
    return "(not loaded from a file)";
  }
  return std::filesystem::path(a.file).filename().string();
}

// ---------------------------------------------------------------------------------------------
// Building the document

class builder {
 public:
  explicit builder(const agreement& a) : a_(a) {}

  blocks build() {
    header();
    parties();
    legal();
    purposes();
    data_categories();
    permissions();
    endpoints();
    prohibitions();
    governance();
    sign_off();
    appendix();
    return std::move(doc_);
  }

 private:
  const agreement& a_;
  blocks doc_;

  void add(block b) { doc_.push_back(std::move(b)); }

  std::string party_name(std::string_view id) const {
    if (const party* p = a_.find_party(id)) {
      return squash(p->name);
    }
    return std::string(id);
  }

  const citation* find_citation(const std::vector<citation>& list, std::string_view id) const {
    for (const citation& c : list) {
      if (c.id == id) {
        return &c;
      }
    }
    return nullptr;
  }

  const data_category* find_category(std::string_view id) const {
    for (const data_category& c : a_.data_categories) {
      if (c.id == id) {
        return &c;
      }
    }
    return nullptr;
  }

  // "Read (GET) /asb/v1/cases/{case_id}"
  void append_endpoint(line& l, const endpoint& e) const {
    l.push_back(strong(method_words(e.method)));
    l.push_back(text(" ("));
    l.push_back(code(e.method));
    l.push_back(text(") "));
    l.push_back(code(e.path));
  }

  void header() {
    add(heading(1, squash(a_.title)));
    if (a_.status != agreement_status::active) {
      line l{strong("Status: " + status_words(a_.status) + ".")};
      l.push_back(text(" " + status_effect(a_.status)));
      if (!a_.status_reason.empty()) {
        l.push_back(text(" Reason: "));
        l.push_back(strong(squash(a_.status_reason)));
      }
      add(para(std::move(l), block::kind::warning));
    }
    block f = fields_block();
    f.terms.emplace_back(line{text("Agreement id")}, blocks{para({code(a_.id)})});
    add_field(f, "Version", {text(squash(a_.version))});
    {
      line l{strong(status_words(a_.status))};
      l.push_back(text(" — " + status_effect(a_.status)));
      if (!a_.status_reason.empty()) {
        l.push_back(text(" Reason: " + squash(a_.status_reason)));
      }
      add_field(f, "Status", std::move(l));
    }
    {
      line l;
      if (a_.valid_from_text.empty() && a_.valid_until_text.empty() &&
          a_.valid_from == time_point{} && a_.valid_until == time_point{}) {
        l.push_back(text("Not stated."));
      } else {
        l.push_back(text("From " + uk_time(a_.valid_from) + " until " + uk_time(a_.valid_until) +
                         "; the agreement ends at that moment. Written in the file as from "));
        l.push_back(code(a_.valid_from_text));
        l.push_back(text(" until "));
        l.push_back(code(a_.valid_until_text));
        l.push_back(text(" (UTC " + format_instant(a_.valid_from) + " to " +
                         format_instant(a_.valid_until) + ")."));
      }
      add_field(f, "In force", std::move(l));
    }
    {
      line l;
      if (!a_.review_due) {
        l.push_back(text("No review date is set."));
      } else {
        l.push_back(text("Due by " + long_date(*a_.review_due) + ". "));
        if (a_.review_overdue_denies) {
          const auto next = date::year_month_day{date::sys_days{*a_.review_due} + date::days{1}};
          l.push_back(strong("If the review is overdue, requests are refused:"));
          l.push_back(text(" from " + long_date(next) +
                           " (UK date) the gateways refuse every request under this agreement "
                           "until a reviewed version is deployed."));
        } else {
          l.push_back(
              text("If the review is overdue, requests are still permitted, but the "
                   "agreement is reported as overdue for review (warning only)."));
        }
      }
      add_field(f, "Review", std::move(l));
    }
    add_field(f, "File", {code(file_name(a_)), text(", SHA-256 "), code(a_.sha256)});
    add(std::move(f));
  }

  void parties() {
    add(heading(2, "Parties", "parties"));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Party")}, {text("Role")}};
    for (const party& p : a_.parties) {
      t.rows.push_back({{strong(squash(p.name))}, {text(role_explained(p.role))}});
    }
    add(std::move(t));
    add(para({text("Each party's gateway certificate identities are listed in the technical "
                   "appendix.")},
             block::kind::note));
  }

  void legal() {
    add(heading(2, "Legal basis", "legal-basis"));
    add(heading(3, "Legal gateways (the powers that allow the sharing)"));
    add(citations(a_.legal_gateways));
    add(heading(3, "Lawful bases for processing"));
    add(citations(a_.lawful_bases));
  }

  static block citations(const std::vector<citation>& list) {
    std::vector<line> lines;
    for (const citation& c : list) {
      lines.push_back({text(squash(c.cite) + " "), em("(ref. " + c.id + ")")});
    }
    if (lines.empty()) {
      return para({text("None stated.")});
    }
    return bullet_list(std::move(lines));
  }

  void purposes() {
    add(heading(2, "Purposes", "purposes"));
    add(
        para({text("Data may be shared under this agreement only for these purposes. Every "
                   "request must name one of them (in its DSA-Purpose header).")}));
    std::vector<line> lines;
    for (const purpose& p : a_.purposes) {
      lines.push_back({text(squash(p.description) + " "), em("(ref. " + p.id + ")")});
    }
    add(bullet_list(std::move(lines)));
  }

  void data_categories() {
    add(heading(2, "Data categories", "data-categories"));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Category")},
                {text("Personal data")},
                {text("Special category")},
                {text("Criminal offence data")},
                {text("Retention")}};
    auto yn = [](bool b) { return line{text(b ? "Yes" : "No")}; };
    for (const data_category& c : a_.data_categories) {
      t.rows.push_back({{text(squash(c.description) + " "), em("(ref. " + c.id + ")")},
                        yn(c.personal_data),
                        yn(c.special_category),
                        yn(c.criminal_offence_data),
                        {text(squash(c.retention))}});
    }
    add(std::move(t));
  }

  std::vector<const prohibition*> prohibitions_for(const permission& p) const {
    std::vector<const prohibition*> out;
    for (const prohibition& x : a_.prohibitions) {
      if (x.assignee != "any" && x.assignee != p.assignee) {
        continue;
      }
      bool endpoint = std::any_of(x.endpoints.begin(), x.endpoints.end(), [&](const auto& e) {
        return std::find(p.endpoints.begin(), p.endpoints.end(), e) != p.endpoints.end();
      });
      bool purpose =
          x.purposes.empty() ||
          std::any_of(x.purposes.begin(), x.purposes.end(), [&](const auto& u) {
            return std::find(p.purposes.begin(), p.purposes.end(), u) != p.purposes.end();
          });
      if (endpoint && purpose) {
        out.push_back(&x);
      }
    }
    return out;
  }

  std::string purpose_text(std::string_view id) const {
    if (const purpose* u = a_.find_purpose(id)) {
      return squash(u->description);
    }
    return std::string(id);
  }

  void permission_section(const permission& p) {
    add(heading(4, "Permission " + p.id, "permission-" + p.id));
    block f = fields_block();
    add_field(f, "Who may ask", {strong(party_name(p.assignee))});

    {
      block what;
      what.k = block::kind::list;
      for (const std::string& id : p.endpoints) {
        line l;
        if (const endpoint* e = a_.find_endpoint(id)) {
          append_endpoint(l, *e);
          l.push_back(text(" at " + party_name(e->provider)));
          std::vector<std::string> cats;
          for (const std::string& c : e->data_categories) {
            const data_category* dc = find_category(c);
            cats.push_back(dc != nullptr ? squash(dc->description) : c);
          }
          if (!cats.empty()) {
            l.push_back(text(" — " + join_words(cats, "; ")));
          }
          l.push_back(text(" "));
          l.push_back(em("(endpoint " + e->id + "; what leaves is set out below)"));
        } else {
          l.push_back(code(id));
        }
        what.items.push_back({para(std::move(l))});
      }
      f.terms.emplace_back(line{text("What")}, blocks{std::move(what)});
    }

    {
      std::vector<line> lines;
      for (const std::string& id : p.purposes) {
        lines.push_back({text(purpose_text(id))});
      }
      f.terms.emplace_back(line{text("For these purposes only")},
                           blocks{bullet_list(std::move(lines))});
    }

    auto cites = [&](const std::vector<std::string>& ids, const std::vector<citation>& list) {
      std::vector<line> lines;
      for (const std::string& id : ids) {
        const citation* c = find_citation(list, id);
        lines.push_back({text(c != nullptr ? squash(c->cite) : id)});
      }
      return bullet_list(std::move(lines));
    };
    f.terms.emplace_back(line{text("Lawful basis")},
                         blocks{cites(p.lawful_basis, a_.lawful_bases)});
    f.terms.emplace_back(line{text("Legal gateway")},
                         blocks{cites(p.legal_gateway, a_.legal_gateways)});

    {
      std::vector<line> conds;
      const requirements& r = p.require;
      if (r.case_ref_required()) {
        line l{text("A case reference is required on every request (DSA-Case-Ref header)")};
        if (r.case_ref) {
          l.push_back(text(", "));
          append_pattern(l, r.case_ref->text);
        }
        l.push_back(text("."));
        conds.push_back(std::move(l));
      }
      if (!r.case_ref_param.empty()) {
        conds.push_back({text("The case reference must be the same as the "),
                         code("{" + r.case_ref_param + "}"),
                         text(" in the address requested, so a request can only reach the "
                              "record of the case it names.")});
      }
      if (r.acting_user) {
        line l{
            text("A named user is required: every request must identify the member of "
                 "staff making it (DSA-Acting-User header), ")};
        append_pattern(l, r.acting_user->text);
        l.push_back(text(". The name is recorded in the audit log."));
        conds.push_back(std::move(l));
      }
      if (p.windows) {
        std::vector<std::string> spans;
        for (const time_window& w : p.windows->allow) {
          spans.push_back(days_words(w.days) + ", " + hhmm(w.from_minute) + "–" +
                          hhmm(w.to_minute));
        }
        conds.push_back(
            {text("Only at these times: " + join_words(spans, "; and ") + " (" +
                  p.windows->timezone + " local time). Requests at any other time are refused.")});
      }
      for (const volume_cap& c : p.volume_caps) {
        std::string scope;
        switch (c.scope) {
          case cap_scope::assignee:
            scope = "in total for " + party_name(p.assignee);
            break;
          case cap_scope::case_ref:
            scope = "per case reference";
            break;
          case cap_scope::acting_user:
            scope = "per named user";
            break;
        }
        conds.push_back({text("At most " + plural(c.max, "request", "requests") + " per " +
                              window_words(c) + " " + scope + "; further requests are refused.")});
      }
      if (conds.empty()) {
        conds.push_back({text("No further conditions.")});
      }
      f.terms.emplace_back(line{text("Conditions")}, blocks{bullet_list(std::move(conds))});
    }

    auto prohibited = prohibitions_for(p);
    if (!prohibited.empty()) {
      std::vector<line> lines;
      for (const prohibition* x : prohibited) {
        line l{strong("Not permitted:"), text(" ")};
        bool first = true;
        for (const std::string& id : x->endpoints) {
          const endpoint* e = a_.find_endpoint(id);
          if (e == nullptr ||
              std::find(p.endpoints.begin(), p.endpoints.end(), id) == p.endpoints.end()) {
            continue;
          }
          if (!first) {
            l.push_back(text("; "));
          }
          first = false;
          append_endpoint(l, *e);
        }
        std::vector<std::string> purposes;
        for (const std::string& u : x->purposes) {
          purposes.push_back("“" + strip_period(purpose_text(u)) + "”");
        }
        l.push_back(text(purposes.empty() ? std::string(" for any purpose")
                                          : " for " + join_words(purposes, " or ")));
        l.push_back(text(". "));
        l.push_back(em("(prohibition " + x->id + ", which always wins; see Prohibitions)"));
        lines.push_back(std::move(l));
      }
      f.terms.emplace_back(line{text("Exceptions")}, blocks{bullet_list(std::move(lines))});
    }
    add(std::move(f));
  }

  void permissions() {
    add(heading(2, "What each partner may request", "permissions"));
    add(
        para({text("Anything not listed here is refused. Each request must come from the named "
                   "partner's gateway, during the agreement's validity period, and meet every "
                   "condition listed.")}));
    for (const party& who : a_.parties) {
      std::vector<const permission*> mine;
      for (const permission& p : a_.permissions) {
        if (p.assignee == who.id) {
          mine.push_back(&p);
        }
      }
      if (mine.empty()) {
        continue;
      }
      add(heading(3, squash(who.name) + " may request"));
      for (const permission* p : mine) {
        permission_section(*p);
      }
    }
    // Permissions whose assignee is not a listed party (the loader refuses these; kept for
    // hand-built models so nothing the engine would allow is left out of the document).
    for (const permission& p : a_.permissions) {
      if (a_.find_party(p.assignee) == nullptr) {
        add(heading(3, p.assignee + " may request"));
        permission_section(p);
      }
    }
    bool rolling = std::any_of(a_.permissions.begin(), a_.permissions.end(),
                               [](const permission& p) { return !p.volume_caps.empty(); });
    if (rolling) {
      add(para({text("Request limits are rolling: they count the requests allowed under the same "
                     "permission in the period immediately before each request (“per day” means "
                     "the previous 24 hours, not the calendar day; “per hour” the previous 60 "
                     "minutes).")},
               block::kind::note));
    }
  }

  void endpoint_section(const endpoint& e) {
    add(heading(3, method_words(e.method) + " (" + e.method + ") " + e.path, "endpoint-" + e.id));
    block f = fields_block();
    add_field(f, "Provided by",
              {strong(party_name(e.provider)), text(" "), em("(endpoint " + e.id + ")")});
    {
      std::vector<std::string> cats;
      for (const std::string& c : e.data_categories) {
        const data_category* dc = find_category(c);
        cats.push_back(dc != nullptr ? squash(dc->description) : c);
      }
      add_field(f, "Data",
                {text(cats.empty() ? std::string("None stated.") : join_words(cats, "; "))});
    }
    {
      std::vector<line> ids;
      for (const path_param& pp : e.path_params) {
        line l{code("{" + pp.name + "}"), text(": ")};
        if (pp.re) {
          append_pattern(l, pp.re->text);
        } else {
          l.push_back(text("any value"));
        }
        ids.push_back(std::move(l));
      }
      if (!e.query_allowed) {
        ids.push_back({text("No query string is allowed.")});
      } else {
        for (const query_param& q : e.query_params) {
          line l{code(q.name), text(q.required ? " (required): " : " (optional): ")};
          append_pattern(l, q.re.text);
          ids.push_back(std::move(l));
        }
        ids.push_back({text("Any other query parameter is refused.")});
      }
      if (!ids.empty()) {
        f.terms.emplace_back(line{text("Address")}, blocks{bullet_list(std::move(ids))});
      }
    }
    {
      std::vector<line> who;
      for (const permission& p : a_.permissions) {
        if (std::find(p.endpoints.begin(), p.endpoints.end(), e.id) != p.endpoints.end()) {
          who.push_back({text(party_name(p.assignee) + " "), em("(permission " + p.id + ")")});
        }
      }
      if (who.empty()) {
        who.push_back({text("No partner has a permission for it.")});
      }
      f.terms.emplace_back(line{text("Who may request it")}, blocks{bullet_list(std::move(who))});
    }
    add(std::move(f));

    const response_rules& r = e.response;
    if (!e.has_response || !r.filters()) {
      add(para({strong("Warning: no response rules."),
                text(" The whole response is disclosed unfiltered: whatever the provider's "
                     "system returns for this request leaves as it is.")},
               block::kind::warning));
    }
    if (r.has_allow_fields) {
      if (r.allow_fields.empty()) {
        add(para({strong("Fields released: none."),
                  text(" Nothing from the response body is released.")}));
      } else {
        add(para({strong("Fields released"),
                  text(" (everything else is removed; a field that contains further fields is "
                       "released with everything inside it):")}));
        std::vector<line> lines;
        for (const json_pointer& p : r.allow_fields) {
          line l;
          append_pointer(l, p);
          lines.push_back(std::move(l));
        }
        add(bullet_list(std::move(lines)));
      }
    } else if (e.has_response && r.filters()) {
      add(para({strong("Fields released: all."),
                text(" No list of fields is set, so every field of the response is released "
                     "unless a rule below withholds it.")},
               block::kind::warning));
    }
    std::vector<line> rules;
    if (r.max_items) {
      line l{text("At most " + number(r.max_items->max) + " items in ")};
      append_pointer(l, r.max_items->pointer);
      l.push_back(text("; a longer list withholds the whole response (it is not cut short)."));
      rules.push_back(std::move(l));
    }
    for (const withhold_rule& w : r.withhold_if) {
      line l{text("The whole response is withheld when ")};
      append_pointer(l, w.pointer);
      l.push_back(text(" is " + json_value_words(w.equals_json) + "."));
      rules.push_back(std::move(l));
    }
    for (const auto& [name, value] : r.add_headers) {
      rules.push_back({text("Every response released carries the header "),
                       code(name + ": " + value), text(".")});
    }
    if (!rules.empty()) {
      add(bullet_list(std::move(rules)));
    }
  }

  void endpoints() {
    add(heading(2, "What leaves each system", "responses"));
    add(
        para({text("For each service a partner may call: the fields of the response that are "
                   "released and the rules that withhold a response entirely. The gateway applies "
                   "these rules before anything leaves, and records every disclosure in its "
                   "audit log.")}));
    for (const endpoint& e : a_.endpoints) {
      endpoint_section(e);
    }
  }

  void prohibitions() {
    add(heading(2, "Prohibitions", "prohibitions"));
    if (a_.prohibitions.empty()) {
      add(para({text("None.")}));
      return;
    }
    add(para({text("A prohibition always overrides a permission.")}));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Who")}, {text("May not request")}, {text("For")}, {text("Why")}};
    for (const prohibition& x : a_.prohibitions) {
      line who{text(x.assignee == "any" ? std::string("Every party") : party_name(x.assignee))};
      line what;
      for (const std::string& id : x.endpoints) {
        if (!what.empty()) {
          what.push_back(text("; "));
        }
        if (const endpoint* e = a_.find_endpoint(id)) {
          append_endpoint(what, *e);
        } else {
          what.push_back(code(id));
        }
      }
      std::vector<std::string> purposes;
      for (const std::string& u : x.purposes) {
        purposes.push_back(purpose_text(u));
      }
      line purposes_line{
          text(purposes.empty() ? std::string("Any purpose") : join_words(purposes, "; "))};
      t.rows.push_back({std::move(who),
                        std::move(what),
                        std::move(purposes_line),
                        {text(squash(x.reason) + " "), em("(ref. " + x.id + ")")}});
    }
    add(std::move(t));
  }

  // --- governance: a free YAML mapping, rendered by shape ---

  std::string scalar_words(const YAML::Node& n) const {
    if (!n.IsDefined() || n.IsNull()) {
      return "—";
    }
    const std::string& s = n.Scalar();
    if (a_.find_party(s) != nullptr) {
      return party_name(s);
    }
    return squash(s);
  }

  std::string key_words(const YAML::Node& k) const {
    const std::string s = k.IsScalar() ? k.Scalar() : std::string("(key)");
    if (a_.find_party(s) != nullptr) {
      return party_name(s);
    }
    return humanise(s);
  }

  static bool all_scalar_values(const YAML::Node& m) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (!(it->second.IsScalar() || it->second.IsNull())) {
        return false;
      }
    }
    return true;
  }

  static std::string flow(const YAML::Node& n) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.good() ? std::string(e.c_str()) : std::string("…");
  }

  // A node as blocks; headings only where `level` is still a heading level.
  blocks gov_node(const YAML::Node& n, int level, int depth) const {
    if (depth > 12) {
      return {para({code(flow(n))})};
    }
    if (!n.IsDefined() || n.IsNull() || n.IsScalar()) {
      return {para({text(scalar_words(n))})};
    }
    if (n.IsSequence()) {
      // A list of flat mappings with the same shape (e.g. approvals) reads best as a table.
      bool tabular = n.size() > 0;
      std::vector<std::string> keys;
      for (const YAML::Node& item : n) {
        if (!item.IsMap() || !all_scalar_values(item)) {
          tabular = false;
          break;
        }
        for (auto it = item.begin(); it != item.end(); ++it) {
          std::string k = it->first.IsScalar() ? it->first.Scalar() : std::string();
          if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
            keys.push_back(k);
          }
        }
      }
      if (tabular && keys.size() <= 6) {
        block t;
        t.k = block::kind::table;
        for (const std::string& k : keys) {
          t.header.push_back({text(humanise(k))});
        }
        for (const YAML::Node& item : n) {
          std::vector<line> row;
          for (const std::string& k : keys) {
            row.push_back({text(scalar_words(item[k]))});
          }
          t.rows.push_back(std::move(row));
        }
        return {std::move(t)};
      }
      block l;
      l.k = block::kind::list;
      for (const YAML::Node& item : n) {
        l.items.push_back(gov_node(item, 7, depth + 1));
      }
      return {std::move(l)};
    }
    // A mapping.
    blocks out;
    if (level <= 6 && !all_scalar_values(n)) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        out.push_back(heading(level, key_words(it->first)));
        blocks inner = gov_node(it->second, level + 1, depth + 1);
        std::move(inner.begin(), inner.end(), std::back_inserter(out));
      }
      return out;
    }
    block f = fields_block();
    for (auto it = n.begin(); it != n.end(); ++it) {
      f.terms.emplace_back(line{text(key_words(it->first))}, gov_node(it->second, 7, depth + 1));
    }
    out.push_back(std::move(f));
    return out;
  }

  void governance() {
    add(heading(2, "Governance", "governance"));
    const YAML::Node& g = a_.governance;
    if (!g.IsDefined() || g.IsNull() || (g.IsMap() && g.size() == 0)) {
      add(para({text("No governance arrangements are recorded in this agreement.")},
               block::kind::warning));
      return;
    }
    if (!g.IsMap()) {
      blocks b = gov_node(g, 7, 0);
      std::move(b.begin(), b.end(), std::back_inserter(doc_));
      return;
    }
    // Each top-level section gets a heading; its contents take the shape of the YAML.
    for (auto it = g.begin(); it != g.end(); ++it) {
      add(heading(3, key_words(it->first)));
      blocks b = gov_node(it->second, 4, 1);
      std::move(b.begin(), b.end(), std::back_inserter(doc_));
    }
  }

  void sign_off() {
    add(heading(2, "Sign-off", "sign-off"));
    add(para({text("By signing, each party agrees to share data as set out above. This document "
                   "describes agreement "),
              code(a_.id), text(" version " + squash(a_.version) + ", file "), code(file_name(a_)),
              text(" with SHA-256 "), code(a_.sha256),
              text("; a signed copy applies only to a deployed file with the same SHA-256.")}));
    block s;
    s.k = block::kind::signatures;
    const YAML::Node approvals = a_.governance.IsMap() ? a_.governance["approvals"] : YAML::Node();
    for (const party& p : a_.parties) {
      signatory who{squash(p.name), capitalise(role_words(p.role)), {}};
      if (approvals.IsSequence()) {
        for (const YAML::Node& item : approvals) {
          if (item.IsMap() && item["party"].IsScalar() && item["party"].Scalar() == p.id) {
            std::string by =
                item["signed_by"].IsScalar() ? squash(item["signed_by"].Scalar()) : std::string();
            std::string on =
                item["date"].IsScalar() ? squash(item["date"].Scalar()) : std::string();
            who.recorded = "Approval recorded in the file: " + (by.empty() ? "—" : by) +
                           (on.empty() ? "" : ", " + on);
          }
        }
      }
      s.signers.push_back(std::move(who));
    }
    add(std::move(s));
  }

  void appendix() {
    add(heading(2, "Technical appendix", "appendix"));
    add(heading(3, "Gateway certificate identities"));
    add(para({text("A request is treated as coming from a party only when the client "
                   "certificate matches one of these identities.")},
             block::kind::note));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Party")},
                {text("Trust anchor")},
                {text("Identity")},
                {text("Key pin (SPKI SHA-256)")},
                {text("Valid until")}};
    for (const party& p : a_.parties) {
      for (const identity_rule& r : p.identities) {
        std::string kind = r.kind == identity_kind::uri_san   ? "URI SAN "
                           : r.kind == identity_kind::dns_san ? "DNS SAN "
                                                              : "Subject ";
        t.rows.push_back({{text(squash(p.name) + " "), em("(" + p.id + ")")},
                          {code(r.trust_anchor)},
                          {text(kind), code(r.value)},
                          {r.spki_sha256.empty() ? text("—") : code(r.spki_sha256)},
                          {text(r.not_after ? format_instant(*r.not_after) : "—")}});
      }
    }
    add(std::move(t));
    add(heading(3, "Endpoints"));
    block e;
    e.k = block::kind::table;
    e.header = {{text("Endpoint")}, {text("Provider")}, {text("Upstream")}, {text("Request")}};
    for (const endpoint& x : a_.endpoints) {
      e.rows.push_back(
          {{code(x.id)}, {code(x.provider)}, {code(x.upstream)}, {code(x.method + " " + x.path)}});
    }
    add(std::move(e));
  }
};

// ---------------------------------------------------------------------------------------------
// Markdown

// `|` is escaped everywhere, not only in tables: a paragraph line holding a `|` can otherwise
// be read as a table row when it follows another.
std::string md_escape(std::string_view raw) {
  const std::string s = collapse(raw);
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const char next = i + 1 < s.size() ? s[i + 1] : '\0';
    const bool entity = c == '&' && (next == '#' || std::isalnum(static_cast<unsigned char>(next)));
    if (entity || std::string_view("\\`*_[]<>~|").find(c) != std::string_view::npos) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

std::string md_code(std::string_view raw, bool in_table) {
  std::string s = squash(raw);
  if (s.empty()) {
    return "(empty)";
  }
  std::size_t longest = 0, run = 0;
  for (char c : s) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  if (in_table) {
    std::string t;
    for (char c : s) {
      if (c == '|') {
        t += "\\|";
      } else {
        t.push_back(c);
      }
    }
    s = std::move(t);
  }
  const std::string fence(longest + 1, '`');
  const bool pad = s.front() == '`' || s.back() == '`';
  return fence + (pad ? " " : "") + s + (pad ? " " : "") + fence;
}

std::string md_line(const line& l, bool in_table) {
  std::string out;
  for (const span& sp : l) {
    switch (sp.k) {
      case span::kind::text:
        out += md_escape(sp.s);
        break;
      case span::kind::code:
        out += md_code(sp.s, in_table);
        break;
      case span::kind::strong:
      case span::kind::em: {
        // Emphasis markers must touch the text, so edge spaces move outside them.
        std::string inner = md_escape(sp.s);
        const bool lead = !inner.empty() && inner.front() == ' ';
        const bool trail = inner.size() > 1 && inner.back() == ' ';
        inner = squash(inner);
        const std::string mark = sp.k == span::kind::strong ? "**" : "*";
        out += (lead ? " " : "") + (inner.empty() ? std::string() : mark + inner + mark) +
               (trail ? " " : "");
        break;
      }
    }
  }
  // Text that would start a heading, list, block quote or setext underline is escaped.
  if (!out.empty() && (out[0] == '#' || out[0] == '-' || out[0] == '+' || out[0] == '=')) {
    out.insert(out.begin(), '\\');
  } else if (!out.empty() && out[0] >= '0' && out[0] <= '9') {
    std::size_t i = 0;
    while (i < out.size() && out[i] >= '0' && out[i] <= '9') {
      ++i;
    }
    if (i < out.size() && (out[i] == '.' || out[i] == ')')) {
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), '\\');
    }
  }
  return out;
}

std::string indent(const std::string& s, std::string_view first, std::string_view rest) {
  std::string out;
  bool at_start = true, first_line = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (at_start) {
      if (s[i] != '\n') {
        out += first_line ? first : rest;
      }
      first_line = false;
      at_start = false;
    }
    out.push_back(s[i]);
    if (s[i] == '\n') {
      at_start = true;
    }
  }
  return out;
}

void md_blocks(std::string& out, const blocks& bs);

std::string md_item(const blocks& item) {
  std::string s;
  md_blocks(s, item);
  while (s.size() > 1 && s[s.size() - 1] == '\n' && s[s.size() - 2] == '\n') {
    s.pop_back();
  }
  return s;
}

void md_list(std::string& out, const std::vector<blocks>& items) {
  for (const blocks& item : items) {
    out += indent(md_item(item), "- ", "  ");
  }
  out += "\n";
}

void md_table(std::string& out, const std::vector<line>& header,
              const std::vector<std::vector<line>>& rows) {
  auto row = [&](const std::vector<line>& cells) {
    out += "|";
    for (const line& c : cells) {
      std::string s = md_line(c, true);
      out += " " + (s.empty() ? std::string(" ") : s) + " |";
    }
    out += "\n";
  };
  row(header);
  out += "|";
  for (std::size_t i = 0; i < header.size(); ++i) {
    out += "---|";
  }
  out += "\n";
  for (const auto& r : rows) {
    row(r);
  }
  out += "\n";
}

void md_blocks(std::string& out, const blocks& bs) {
  for (const block& b : bs) {
    switch (b.k) {
      case block::kind::heading:
        out += std::string(static_cast<std::size_t>(std::clamp(b.level, 1, 6)), '#') + " " +
               md_line(b.text, false) + "\n\n";
        break;
      case block::kind::paragraph:
        out += md_line(b.text, false) + "\n\n";
        break;
      case block::kind::warning:
        out += "> **⚠** " + md_line(b.text, false) + "\n\n";
        break;
      case block::kind::note:
        out += "*" + md_line(b.text, false) + "*\n\n";
        break;
      case block::kind::list:
        md_list(out, b.items);
        break;
      case block::kind::table:
        md_table(out, b.header, b.rows);
        break;
      case block::kind::fields: {
        std::vector<blocks> items;
        for (const auto& [term, value] : b.terms) {
          blocks item;
          std::string t;
          for (const span& sp : term) {
            t += sp.s;
          }
          if (value.size() == 1 && value[0].k == block::kind::paragraph) {
            line l{strong(t + ":"), text(" ")};
            l.insert(l.end(), value[0].text.begin(), value[0].text.end());
            item.push_back(para(std::move(l)));
          } else {
            item.push_back(para({strong(t + ":")}));
            item.insert(item.end(), value.begin(), value.end());
          }
          items.push_back(std::move(item));
        }
        md_list(out, items);
        break;
      }
      case block::kind::signatures:
        for (const signatory& s : b.signers) {
          out += "**Signed for " + md_escape(s.name) + "** (" + md_escape(s.role) + ")\n\n";
          out += "| | |\n|---|---|\n| Signature | |\n| Name | |\n| Position | |\n| Date | |\n\n";
          if (!s.recorded.empty()) {
            out += "*" + md_escape(s.recorded) + "*\n\n";
          }
        }
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTML

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
          break;  // control characters have no place in the document
        }
        out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

// Anchors are built from ids (already restricted by the loader); anything else becomes '-'.
std::string html_anchor(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '-');
  }
  return out;
}

std::string html_line(const line& l) {
  std::string out;
  for (const span& sp : l) {
    const std::string s = html_escape(collapse(sp.s));
    switch (sp.k) {
      case span::kind::text:
        out += s;
        break;
      case span::kind::code:
        out += "<code>" + s + "</code>";
        break;
      case span::kind::strong:
        out += "<strong>" + s + "</strong>";
        break;
      case span::kind::em:
        out += "<em>" + s + "</em>";
        break;
    }
  }
  return out;
}

void html_blocks(std::string& out, const blocks& bs) {
  for (const block& b : bs) {
    switch (b.k) {
      case block::kind::heading: {
        const std::string h = "h" + std::to_string(std::clamp(b.level, 1, 6));
        out += "<" + h;
        if (!b.anchor.empty()) {
          out += " id=\"" + html_anchor(b.anchor) + "\"";
        }
        out += ">" + html_line(b.text) + "</" + h + ">\n";
        break;
      }
      case block::kind::paragraph:
        out += "<p>" + html_line(b.text) + "</p>\n";
        break;
      case block::kind::warning:
        out += "<div class=\"warning\" role=\"note\"><p>" + html_line(b.text) + "</p></div>\n";
        break;
      case block::kind::note:
        out += "<p class=\"note\">" + html_line(b.text) + "</p>\n";
        break;
      case block::kind::list:
        out += "<ul>\n";
        for (const blocks& item : b.items) {
          if (item.size() == 1 && item[0].k == block::kind::paragraph) {
            out += "<li>" + html_line(item[0].text) + "</li>\n";
          } else {
            out += "<li>";
            html_blocks(out, item);
            out += "</li>\n";
          }
        }
        out += "</ul>\n";
        break;
      case block::kind::table:
        out += "<table>\n<thead><tr>";
        for (const line& c : b.header) {
          out += "<th scope=\"col\">" + html_line(c) + "</th>";
        }
        out += "</tr></thead>\n<tbody>\n";
        for (const auto& r : b.rows) {
          out += "<tr>";
          for (const line& c : r) {
            out += "<td>" + html_line(c) + "</td>";
          }
          out += "</tr>\n";
        }
        out += "</tbody>\n</table>\n";
        break;
      case block::kind::fields:
        out += "<dl>\n";
        for (const auto& [term, value] : b.terms) {
          out += "<dt>" + html_line(term) + "</dt>\n<dd>";
          if (value.size() == 1 && value[0].k == block::kind::paragraph) {
            out += html_line(value[0].text);
          } else {
            html_blocks(out, value);
          }
          out += "</dd>\n";
        }
        out += "</dl>\n";
        break;
      case block::kind::signatures:
        out += "<div class=\"signatures\">\n";
        for (const signatory& s : b.signers) {
          out += "<section class=\"signature\">\n<h3>Signed for " + html_escape(s.name) +
                 "</h3>\n<p class=\"role\">" + html_escape(s.role) + "</p>\n";
          for (const char* f : {"Signature", "Name", "Position", "Date"}) {
            out += "<div class=\"sigline\"><span>" + std::string(f) + "</span></div>\n";
          }
          if (!s.recorded.empty()) {
            out += "<p class=\"note\">" + html_escape(s.recorded) + "</p>\n";
          }
          out += "</section>\n";
        }
        out += "</div>\n";
        break;
    }
  }
}

constexpr std::string_view k_css = R"css(
@page { size: A4; margin: 18mm 16mm 20mm 16mm; }
:root { color-scheme: light; }
body { font-family: "Segoe UI", Arial, Helvetica, sans-serif; font-size: 10.5pt;
  line-height: 1.45; color: #1b1b1b; max-width: 48em; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 19pt; margin: 0 0 .6em; border-bottom: 2px solid #1d3557; padding-bottom: .3em; }
h2 { font-size: 14pt; margin: 1.6em 0 .5em; color: #1d3557; border-bottom: 1px solid #c9d1dc;
  padding-bottom: .15em; break-after: avoid; }
h3 { font-size: 12pt; margin: 1.2em 0 .4em; break-after: avoid; }
h4, h5, h6 { font-size: 10.5pt; margin: 1em 0 .3em; break-after: avoid; }
p { margin: .4em 0; }
code { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: 9pt;
  background: #f2f4f7; padding: 0 .2em; border-radius: 2px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: 9.5pt;
  break-inside: auto; }
th, td { border: 1px solid #b8c2cc; padding: .3em .45em; text-align: left; vertical-align: top; }
th { background: #e8edf3; }
tr { break-inside: avoid; }
dl { margin: .4em 0 1em; }
dt { font-weight: 600; margin-top: .45em; }
dd { margin: .1em 0 0 1.2em; }
dd ul, li ul { margin: .2em 0; }
ul { padding-left: 1.3em; margin: .3em 0 .8em; }
.warning { border: 2px solid #b3261e; background: #fdecea; padding: .4em .8em; margin: .8em 0;
  break-inside: avoid; }
.warning p { margin: .2em 0; }
.note { color: #4a5561; font-size: 9pt; }
.signatures { display: grid; grid-template-columns: 1fr 1fr; gap: 1em 2em; }
.signature { border: 1px solid #b8c2cc; padding: .6em .9em; break-inside: avoid; }
.signature h3 { margin: 0; font-size: 11pt; }
.signature .role { margin: 0 0 .6em; color: #4a5561; }
.sigline { border-bottom: 1px solid #1b1b1b; height: 2.2em; position: relative; }
.sigline span { position: absolute; bottom: .2em; left: 0; font-size: 8.5pt; color: #4a5561; }
footer { margin-top: 2.5em; border-top: 1px solid #c9d1dc; padding-top: .5em; font-size: 8.5pt;
  color: #4a5561; }
@media print {
  body { margin: 0; max-width: none; padding: 0; }
  a { color: inherit; text-decoration: none; }
}
)css";

}  // namespace

std::string render_markdown(const agreement& a) {
  const blocks doc = builder(a).build();
  std::string out;
  md_blocks(out, doc);
  out += "---\n\n";
  out += "*Agreement " + md_code(a.id, false) + " version " + md_escape(a.version) + " · file " +
         md_code(file_name(a), false) + " · SHA-256 " +
         md_code(a.sha256.empty() ? std::string("(unknown)") : a.sha256, false) +
         " · rendered by dsa render*\n";
  return out;
}

std::string render_html(const agreement& a) {
  const blocks doc = builder(a).build();
  std::string out;
  out.reserve(std::size_t{64} * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(squash(a.title)) + " — version " + html_escape(squash(a.version)) +
         "</title>\n";
  out += "<style>" + std::string(k_css) + "</style>\n</head>\n<body>\n<main>\n";
  html_blocks(out, doc);
  out += "</main>\n<footer>\n<p>Agreement <code>" + html_escape(a.id) + "</code> version " +
         html_escape(squash(a.version)) + " · file <code>" + html_escape(file_name(a)) +
         "</code></p>\n<p>SHA-256 <code>" +
         html_escape(a.sha256.empty() ? std::string("(unknown)") : a.sha256) +
         "</code> · rendered by dsa render</p>\n</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace dsa::policy
