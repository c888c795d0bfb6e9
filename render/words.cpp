// Plain-words helpers of the rendered document; see words.hpp.

#include "render/words.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <set>

#include "policy/time.hpp"

namespace dsa::policy::doc {

using namespace std::chrono;

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

// "00:00 on 1 April 2026 (UK time)", or the UTC instant when the tz database is unavailable.
std::string uk_time(time_point t) {
  if (const date::time_zone* z = london_zone()) {
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
std::string duration_words(std::chrono::microseconds d, std::string_view as_written) {
  // Emergency reviews read as "reviewed within 1 day", never "within day".
  std::string words = window_words(volume_cap{cap_scope::assignee, std::string(as_written), d, 0});
  if (d.count() > 0 && words != as_written && words.find(' ') == std::string::npos) {
    words = "1 " + words;
  }
  return words;
}

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

std::string party_name(const agreement& a, std::string_view id) {
  if (const party* p = a.find_party(id)) {
    return squash(p->name);
  }
  return std::string(id);
}

}  // namespace dsa::policy::doc
