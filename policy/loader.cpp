// Loader for `dsa/v1` agreement files (SPEC §3).
//
// The loader is the boundary between what an IG officer typed and what the engine trusts, so it
// is strict: every key is known, every type is checked, every reference resolves, every regex,
// date, duration and time zone compiles. It keeps going after an error so that one run reports
// every problem in every file, each as file:line:column with the dotted path of the field, what
// was found and what was expected. yaml-cpp reports positions 0-based; diagnostics are 1-based.
//
// Nothing escapes as an exception: yaml-cpp and boost::regex throw, and both are caught here.

#include "loader.hpp"

#include <date/tz.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include "identity_name.hpp"
#include "pattern.hpp"
#include "text.hpp"

namespace dsa::policy {

namespace fs = std::filesystem;
using namespace std::chrono;

std::string diagnostic::format() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line) + ':' + std::to_string(column);
  }
  out += level == severity::error ? ": error: " : ": warning: ";
  out += message;
  if (!code.empty()) {
    out += " [" + code + ']';
  }
  return out;
}

std::size_t load_result::error_count() const {
  return static_cast<std::size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [](const diagnostic& d) { return d.level == severity::error; }));
}

// ---------------------------------------------------------------------------------------------
// Instants and durations.

namespace {

bool parse_fixed_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) {
    return false;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::optional<date::year_month_day> parse_date(std::string_view s) {
  int y = 0, m = 0, d = 0;
  if (s.size() < 10 || !parse_fixed_int(s, 0, 4, y) || s[4] != '-' ||
      !parse_fixed_int(s, 5, 2, m) || s[7] != '-' || !parse_fixed_int(s, 8, 2, d)) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return ymd;
}

const date::time_zone* london() {
  static const date::time_zone* zone = [] {
    try {
      return date::locate_zone("Europe/London");
    } catch (const std::exception&) {
      return static_cast<const date::time_zone*>(nullptr);
    }
  }();
  return zone;
}

}  // namespace

std::optional<time_point> parse_instant(std::string_view s) {
  auto ymd = parse_date(s);
  if (!ymd) {
    return std::nullopt;
  }
  if (s.size() == 10) {
    // A bare date means the start of that day in Europe/London (SPEC §3).
    const date::time_zone* zone = london();
    if (zone == nullptr) {
      return std::nullopt;
    }
    try {
      auto sys = zone->to_sys(date::local_days{*ymd}, date::choose::earliest);
      return time_point{duration_cast<microseconds>(sys.time_since_epoch())};
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  int hh = 0, mm = 0, ss = 0;
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't') || !parse_fixed_int(s, 11, 2, hh) ||
      s[13] != ':' || !parse_fixed_int(s, 14, 2, mm) || s[16] != ':' ||
      !parse_fixed_int(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (s[pos] - '0');
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) {
      return std::nullopt;
    }
    for (std::size_t i = digits; i < 6; ++i) {
      micros *= 10;
    }
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!parse_fixed_int(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !parse_fixed_int(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  auto t = date::sys_days{*ymd} + hours{hh} + minutes{mm} + seconds{std::min(ss, 59)} -
           minutes{offset_minutes};
  return time_point{duration_cast<microseconds>(t.time_since_epoch()) + microseconds{micros}};
}

std::optional<microseconds> parse_duration(std::string_view s) {
  if (s.size() < 3 || s[0] != 'P') {
    return std::nullopt;
  }
  std::int64_t total_seconds = 0;
  bool in_time = false;
  bool any = false;
  std::size_t i = 1;
  char last_unit = 0;
  static constexpr std::string_view date_units = "WD";
  static constexpr std::string_view time_units = "HMS";
  while (i < s.size()) {
    if (s[i] == 'T') {
      if (in_time) {
        return std::nullopt;
      }
      in_time = true;
      last_unit = 0;
      ++i;
      continue;
    }
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data() + i, s.data() + s.size(), n);
    if (ec != std::errc{} || end == s.data() + i || n < 0 || n > 100000) {
      return std::nullopt;
    }
    i = static_cast<std::size_t>(end - s.data());
    if (i >= s.size()) {
      return std::nullopt;
    }
    char unit = s[i++];
    std::string_view units = in_time ? time_units : date_units;
    auto at = units.find(unit);
    // Units must appear once each and in order (P1W2D, PT1H30M).
    if (at == std::string_view::npos || (last_unit != 0 && at <= units.find(last_unit))) {
      return std::nullopt;
    }
    last_unit = unit;
    std::int64_t factor = 0;
    switch (unit) {
      case 'W':
        factor = 7 * 86400;
        break;
      case 'D':
        factor = 86400;
        break;
      case 'H':
        factor = 3600;
        break;
      case 'M':
        factor = 60;
        break;
      case 'S':
        factor = 1;
        break;
      default:
        return std::nullopt;
    }
    total_seconds += n * factor;
    any = true;
  }
  if (!any || total_seconds <= 0) {
    return std::nullopt;
  }
  return microseconds{total_seconds * 1000000};
}

std::string format_instant(time_point t) {
  auto secs = floor<seconds>(t);
  auto micros = (t - secs).count();
  std::string out = date::format("%Y-%m-%dT%H:%M:%S", secs);
  if (micros != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(micros));
    out += buf;
  }
  out += 'Z';
  return out;
}

// ---------------------------------------------------------------------------------------------
// The per-file reader.

namespace {

const boost::regex& id_regex() {
  static const boost::regex re{"[a-z0-9][a-z0-9._-]{0,63}"};
  return re;
}

bool is_id(std::string_view s) { return boost::regex_match(s.begin(), s.end(), id_regex()); }

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

// A field position: its YAML node and its dotted path for messages.
struct field {
  YAML::Node node;
  std::string path;
};

class reader {
 public:
  reader(std::string file, std::vector<diagnostic>& out,
         std::map<std::string, pattern, std::less<>>& regex_cache)
      : file_(std::move(file)), out_(out), regex_cache_(&regex_cache) {}

  const std::string& file() const { return file_; }
  int errors() const { return errors_; }

  void error(const YAML::Node& at, std::string message, std::string code) {
    add(at, severity::error, std::move(message), std::move(code));
  }
  void warning(const YAML::Node& at, std::string message, std::string code) {
    add(at, severity::warning, std::move(message), std::move(code));
  }
  void error_at(int line, int column, std::string message, std::string code) {
    out_.push_back({file_, line, column, severity::error, std::move(message), std::move(code)});
    ++errors_;
  }

  // Checks that `f` is a mapping whose keys are all in required ∪ optional (no duplicates) and
  // that every required key is present. Returns false when `f` is not a mapping.
  bool mapping(const field& f, std::initializer_list<std::string_view> required,
               std::initializer_list<std::string_view> optional) {
    if (!f.node.IsMap()) {
      error(f.node, f.path + ": expected a mapping, found " + describe(f.node), "wrong-type");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = f.node.begin(); it != f.node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: `it->` is a temporary proxy
      if (!key.IsScalar()) {
        error(key, f.path + ": keys must be plain names", "wrong-type");
        continue;
      }
      const std::string& name = key.Scalar();
      if (!seen.insert(name).second) {
        error(key, join(f.path, name) + ": duplicate key", "duplicate-key");
        continue;
      }
      bool known = std::find(required.begin(), required.end(), name) != required.end() ||
                   std::find(optional.begin(), optional.end(), name) != optional.end();
      if (!known) {
        std::string expected;
        for (auto list : {required, optional}) {
          for (std::string_view k : list) {
            expected += expected.empty() ? "" : ", ";
            expected += k;
          }
        }
        error(
            key,
            join(f.path, name) + ": unknown key '" + name + "' (expected one of: " + expected + ")",
            "unknown-key");
      }
    }
    for (std::string_view k : required) {
      if (!seen.count(std::string(k))) {
        error(f.node, join(f.path, k) + ": required key '" + std::string(k) + "' is missing",
              "missing-key");
      }
    }
    return true;
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // The field `key` of the mapping `f`. A missing key yields a valid node of type Undefined:
  // yaml-cpp's own result for a missing key is an "invalid" node on which most calls throw.
  field child(const field& f, std::string_view key) const {
    if (f.node.IsDefined() && f.node.IsMap()) {
      const YAML::Node& map = f.node;
      YAML::Node n = map[std::string(key)];
      if (n.IsDefined()) {
        return {n, join(f.path, key)};
      }
    }
    return {YAML::Node(YAML::NodeType::Undefined), join(f.path, key)};
  }

  static bool present(const field& f) { return f.node.IsDefined() && !f.node.IsNull(); }

  std::optional<std::string> string(const field& f) {
    if (!f.node.IsDefined()) {
      return std::nullopt;
    }
    if (!f.node.IsScalar()) {
      error(f.node, f.path + ": expected a text value, found " + describe(f.node), "wrong-type");
      return std::nullopt;
    }
    return f.node.Scalar();
  }

  std::optional<std::string> nonempty(const field& f) {
    auto s = string(f);
    if (s && s->empty()) {
      error(f.node, f.path + ": must not be empty", "empty-value");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> id(const field& f) {
    auto s = string(f);
    if (s && !is_id(*s)) {
      error(f.node,
            f.path + ": '" + *s +
                "' is not a valid id (expected lowercase letters, digits, '.', '_' or '-', "
                "starting with a letter or digit, at most 64 characters)",
            "bad-id");
      return std::nullopt;
    }
    return s;
  }

  std::optional<bool> boolean(const field& f) {
    auto s = string(f);
    if (!s) {
      return std::nullopt;
    }
    if (*s == "true") {
      return true;
    }
    if (*s == "false") {
      return false;
    }
    error(f.node, f.path + ": expected true or false, found '" + *s + "'", "wrong-type");
    return std::nullopt;
  }

  std::optional<std::uint64_t> count(const field& f) {
    auto s = string(f);
    if (!s) {
      return std::nullopt;
    }
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || end != s->data() + s->size() || s->empty()) {
      error(f.node, f.path + ": expected a whole number, found '" + *s + "'", "wrong-type");
      return std::nullopt;
    }
    return v;
  }

  // A list; `each` is called with every element.
  template <typename Fn>
  void sequence(const field& f, bool nonempty_required, Fn&& each) {
    if (!f.node.IsDefined()) {
      return;
    }
    if (!f.node.IsSequence()) {
      error(f.node, f.path + ": expected a list, found " + describe(f.node), "wrong-type");
      return;
    }
    if (nonempty_required && f.node.size() == 0) {
      error(f.node, f.path + ": must list at least one entry", "empty-value");
    }
    for (std::size_t i = 0; i < f.node.size(); ++i) {
      each(field{f.node[i], f.path + "[" + std::to_string(i) + "]"});
    }
  }

  std::vector<std::string> id_list(const field& f, bool nonempty_required) {
    std::vector<std::string> out;
    sequence(f, nonempty_required, [&](const field& e) {
      if (auto v = id(e)) {
        out.push_back(*v);
      }
    });
    return out;
  }

  std::optional<pattern> regex(const field& f) {
    auto s = string(f);
    if (!s) {
      return std::nullopt;
    }
    // Agreements repeat the same patterns (case references, staff numbers); compiling each text
    // once keeps start-up fast. boost::regex copies share the compiled program.
    if (auto it = regex_cache_->find(*s); it != regex_cache_->end()) {
      return it->second;
    }
    result<pattern> p = compile_pattern(*s);
    if (!p) {
      error(f.node,
            f.path + ": invalid regular expression '" + escape_text(*s) + "': " + p.error() +
                " (patterns are the ECMAScript subset described in docs/agreements.md)",
            "bad-regex");
      return std::nullopt;
    }
    regex_cache_->emplace(*s, p.value());
    return std::move(p).value();
  }

  std::optional<time_point> instant(const field& f) {
    auto s = string(f);
    if (!s) {
      return std::nullopt;
    }
    auto t = parse_instant(*s);
    if (!t) {
      error(f.node,
            f.path + ": '" + *s +
                "' is not a valid date or instant (expected RFC 3339 like "
                "2026-04-01T00:00:00Z, or a date like 2026-04-01 meaning midnight in London)",
            "bad-date");
    }
    return t;
  }

 private:
  void add(const YAML::Node& at, severity level, std::string message, std::string code) {
    int line = 0, column = 0;
    if (at.IsDefined()) {
      YAML::Mark m = at.Mark();
      if (m.line >= 0) {
        line = m.line + 1;
        column = m.column + 1;
      }
    }
    out_.push_back({file_, line, column, level, std::move(message), std::move(code)});
    if (level == severity::error) {
      ++errors_;
    }
  }

  std::string file_;
  std::vector<diagnostic>& out_;
  std::map<std::string, pattern, std::less<>>* regex_cache_;
  int errors_ = 0;
};

// A YAML scalar as compact JSON: quoted scalars are strings; plain ones are true/false/null,
// numbers, or strings.
std::string scalar_json(const YAML::Node& n) {
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
    }
    return out + "\"";
  };
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") {
    return quote(s);
  }
  if (s == "true" || s == "false" || s == "null") {
    return s;
  }
  if (s == "~") {
    return "null";
  }
  static const boost::regex number{R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)"};
  if (boost::regex_match(s, number)) {
    return s;
  }
  return quote(s);
}

std::optional<json_pointer> parse_pointer(reader& r, const field& f) {
  auto s = r.string(f);
  if (!s) {
    return std::nullopt;
  }
  json_pointer p{*s, {}};
  if (s->empty()) {
    return p;  // the whole document
  }
  if ((*s)[0] != '/') {
    r.error(f.node, f.path + ": '" + *s + "' is not a JSON Pointer (expected it to start with '/')",
            "bad-pointer");
    return std::nullopt;
  }
  std::size_t start = 1;
  while (true) {
    std::size_t end = s->find('/', start);
    std::string raw = s->substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~') {
        if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
          seg.push_back(raw[i + 1] == '0' ? '~' : '/');
          ++i;
        } else {
          r.error(f.node,
                  f.path + ": '" + *s + "' has a '~' not followed by 0 or 1 (RFC 6901 escape)",
                  "bad-pointer");
          return std::nullopt;
        }
      } else {
        seg.push_back(raw[i]);
      }
    }
    p.segments.push_back(std::move(seg));
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return p;
}

bool is_token(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                 std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

bool parse_hhmm(std::string_view s, int& minute) {
  int h = 0, m = 0;
  if (s.size() != 5 || !parse_fixed_int(s, 0, 2, h) || s[2] != ':' ||
      !parse_fixed_int(s, 3, 2, m) || m > 59 || h > 24 || (h == 24 && m != 0)) {
    return false;
  }
  minute = h * 60 + m;
  return true;
}

// Fills rule.match_value, what the engine compares (identity_name.hpp). A subject that is not an
// RFC 4514 DN is an error; with lint warnings, a name written other than in its canonical form
// is shown as it will be matched, so the officer sees which certificates it names.
void set_match_value(reader& r, const field& idf, identity_rule& rule,
                     const load_options& options) {
  const char* key = rule.kind == identity_kind::subject   ? "subject"
                    : rule.kind == identity_kind::dns_san ? "dns_san"
                                                          : "uri_san";
  const YAML::Node at = idf.node[key];
  const std::string path = reader::join(idf.path, key);
  switch (rule.kind) {
    case identity_kind::uri_san:
      rule.match_value = rule.value;
      return;
    case identity_kind::dns_san:
      rule.match_value = canonical_dns_name(rule.value);
      if (options.lint_warnings && rule.match_value != rule.value) {
        r.warning(at,
                  path + ": '" + escape_text(rule.value) + "' is matched as '" +
                      escape_text(rule.match_value) +
                      "' (DNS names are compared without letter case or a trailing '.')",
                  "identity-normalised");
      }
      return;
    case identity_kind::subject: {
      result<std::string> folded = canonical_subject(rule.value, true);
      if (!folded) {
        r.error(at,
                path + ": '" + escape_text(rule.value) +
                    "' is not an RFC 4514 distinguished name: " + folded.error(),
                "bad-identity");
        return;
      }
      rule.match_value = std::move(folded).value();
      result<std::string> shown = canonical_subject(rule.value, false);
      if (options.lint_warnings && shown && shown.value() != rule.value) {
        r.warning(at,
                  path + ": '" + escape_text(rule.value) + "' is matched as '" +
                      escape_text(shown.value()) +
                      "' (RFC 4514: attribute types, spaces around ',' '+' '=', escapes and the "
                      "order inside a multi-valued RDN are normalised; values compare without "
                      "ASCII letter case)",
                  "identity-normalised");
      }
      return;
    }
  }
}

// Reads one file into an agreement. Returns null when the file has errors.
std::unique_ptr<agreement> read_agreement(reader& r, const YAML::Node& root,
                                          const load_options& options) {
  auto a = std::make_unique<agreement>();
  field top{root, ""};
  if (!root.IsMap()) {
    r.error(root,
            "the file must be a mapping starting with 'schema: dsa/v1', found " + describe(root),
            "wrong-type");
    return nullptr;
  }
  r.mapping(top,
            {"schema", "id", "version", "title", "status", "validity", "parties", "legal",
             "purposes", "data_categories", "endpoints", "permissions"},
            {"status_reason", "review", "prohibitions", "governance"});

  if (auto s = r.string(r.child(top, "schema")); s && *s != "dsa/v1") {
    r.error(root["schema"], "schema: '" + *s + "' is not supported (expected dsa/v1)",
            "bad-schema");
    return nullptr;
  }
  a->id = r.id(r.child(top, "id")).value_or("");
  if (auto v = r.nonempty(r.child(top, "version"))) {
    static const boost::regex semver{
        R"((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)"};
    if (!boost::regex_match(*v, semver)) {
      r.error(root["version"],
              "version: '" + *v + "' is not a semantic version (expected e.g. 1.2.0)",
              "bad-version");
    }
    a->version = *v;
  }
  a->title = r.nonempty(r.child(top, "title")).value_or("");

  if (auto s = r.string(r.child(top, "status"))) {
    static const std::map<std::string, agreement_status, std::less<>> statuses{
        {"draft", agreement_status::draft},
        {"active", agreement_status::active},
        {"suspended", agreement_status::suspended},
        {"expired", agreement_status::expired},
        {"terminated", agreement_status::terminated}};
    auto it = statuses.find(*s);
    if (it == statuses.end()) {
      r.error(root["status"],
              "status: '" + *s +
                  "' is not a status (expected draft, active, suspended, expired or terminated)",
              "bad-value");
    } else {
      a->status = it->second;
    }
  }
  a->status_reason = r.string(r.child(top, "status_reason")).value_or("");
  if ((a->status == agreement_status::suspended || a->status == agreement_status::terminated) &&
      a->status_reason.empty()) {
    r.error(root["status"],
            "status: a " + std::string(to_string(a->status)) +
                " agreement needs a status_reason (it is shown to callers and in the audit)",
            "missing-key");
  }

  // Validity and review.
  field validity = r.child(top, "validity");
  if (r.present(validity) && r.mapping(validity, {"from", "until"}, {})) {
    auto from = r.instant(r.child(validity, "from"));
    auto until = r.instant(r.child(validity, "until"));
    a->valid_from_text = r.string(r.child(validity, "from")).value_or("");
    a->valid_until_text = r.string(r.child(validity, "until")).value_or("");
    if (from && until) {
      a->valid_from = *from;
      a->valid_until = *until;
      if (*until <= *from) {
        r.error(validity.node["until"], "validity.until must be later than validity.from",
                "bad-date");
      }
    }
  }
  field review = r.child(top, "review");
  if (r.present(review) && r.mapping(review, {"due"}, {"overdue"})) {
    if (auto due = r.string(r.child(review, "due"))) {
      auto ymd = parse_date(*due);
      if (!ymd || due->size() != 10) {
        r.error(review.node["due"],
                "review.due: '" + *due + "' is not a date (expected YYYY-MM-DD)", "bad-date");
      } else {
        a->review_due = *ymd;
      }
    }
    if (auto o = r.string(r.child(review, "overdue"))) {
      if (*o == "deny") {
        a->review_overdue_denies = true;
      } else if (*o != "warn") {
        r.error(review.node["overdue"], "review.overdue: '" + *o + "' (expected warn or deny)",
                "bad-value");
      }
    }
  }

  // Parties.
  std::set<std::string> party_ids;
  r.sequence(r.child(top, "parties"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "name", "role", "identities"}, {})) {
      return;
    }
    party p;
    p.id = r.id(r.child(f, "id")).value_or("");
    p.name = r.nonempty(r.child(f, "name")).value_or("");
    if (auto role = r.string(r.child(f, "role"))) {
      if (*role == "controller") {
        p.role = party_role::controller;
      } else if (*role == "joint_controller") {
        p.role = party_role::joint_controller;
      } else if (*role == "processor") {
        p.role = party_role::processor;
      } else {
        r.error(f.node["role"],
                r.join(f.path, "role") + ": '" + *role +
                    "' (expected controller, joint_controller or processor)",
                "bad-value");
      }
    }
    if (!p.id.empty() && !party_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": party '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    r.sequence(r.child(f, "identities"), true, [&](const field& idf) {
      if (!r.mapping(idf, {"trust_anchor"},
                     {"uri_san", "dns_san", "subject", "spki_sha256", "not_after"})) {
        return;
      }
      identity_rule rule;
      rule.trust_anchor = r.nonempty(r.child(idf, "trust_anchor")).value_or("");
      if (options.trust_anchors && !rule.trust_anchor.empty() &&
          !options.trust_anchors->count(rule.trust_anchor)) {
        std::string known;
        for (const auto& t : *options.trust_anchors) {
          known += known.empty() ? t : ", " + t;
        }
        r.error(idf.node["trust_anchor"],
                r.join(idf.path, "trust_anchor") + ": '" + rule.trust_anchor +
                    "' is not a trust anchor of the gateway config (known: " + known + ")",
                "dangling-reference");
      }
      int selectors = 0;
      for (auto [key, kind] : {std::pair{"uri_san", identity_kind::uri_san},
                               std::pair{"dns_san", identity_kind::dns_san},
                               std::pair{"subject", identity_kind::subject}}) {
        if (auto v = r.string(r.child(idf, key))) {
          ++selectors;
          rule.kind = kind;
          rule.value = *v;
          if (v->empty()) {
            r.error(idf.node[key], r.join(idf.path, key) + ": must not be empty", "empty-value");
          }
        }
      }
      if (selectors == 1 && !rule.value.empty()) {
        set_match_value(r, idf, rule, options);
      }
      if (selectors != 1) {
        r.error(idf.node,
                idf.path + ": exactly one of uri_san, dns_san or subject is required (found " +
                    std::to_string(selectors) + ")",
                "bad-identity");
      }
      if (auto pin = r.string(r.child(idf, "spki_sha256"))) {
        static const boost::regex hex64{"[0-9a-fA-F]{64}"};
        if (!boost::regex_match(*pin, hex64)) {
          r.error(idf.node["spki_sha256"],
                  r.join(idf.path, "spki_sha256") +
                      ": expected 64 hexadecimal digits (the SHA-256 of the public key)",
                  "bad-value");
        }
        rule.spki_sha256 = *pin;
        std::transform(rule.spki_sha256.begin(), rule.spki_sha256.end(), rule.spki_sha256.begin(),
                       [](unsigned char c) { return std::tolower(c); });
      }
      if (r.present(r.child(idf, "not_after"))) {
        rule.not_after = r.instant(r.child(idf, "not_after"));
      }
      p.identities.push_back(std::move(rule));
    });
    a->parties.push_back(std::move(p));
  });

  // Legal.
  std::set<std::string> gateway_ids, basis_ids;
  field legal = r.child(top, "legal");
  auto read_citations = [&](const field& list, std::vector<citation>& out,
                            std::set<std::string>& ids) {
    r.sequence(list, true, [&](const field& f) {
      if (!r.mapping(f, {"id", "cite"}, {})) {
        return;
      }
      citation c{r.id(r.child(f, "id")).value_or(""), r.nonempty(r.child(f, "cite")).value_or("")};
      if (!c.id.empty() && !ids.insert(c.id).second) {
        r.error(f.node["id"], r.join(f.path, "id") + ": '" + c.id + "' is declared twice",
                "duplicate-id");
      }
      out.push_back(std::move(c));
    });
  };
  if (r.present(legal) && r.mapping(legal, {"gateways", "lawful_bases"}, {})) {
    read_citations(r.child(legal, "gateways"), a->legal_gateways, gateway_ids);
    read_citations(r.child(legal, "lawful_bases"), a->lawful_bases, basis_ids);
  }

  std::set<std::string> purpose_ids;
  r.sequence(r.child(top, "purposes"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "description"}, {})) {
      return;
    }
    purpose p{r.id(r.child(f, "id")).value_or(""),
              r.nonempty(r.child(f, "description")).value_or("")};
    if (!p.id.empty() && !purpose_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": purpose '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    a->purposes.push_back(std::move(p));
  });

  std::set<std::string> category_ids;
  r.sequence(r.child(top, "data_categories"), true, [&](const field& f) {
    if (!r.mapping(f,
                   {"id", "description", "personal_data", "special_category",
                    "criminal_offence_data", "retention"},
                   {})) {
      return;
    }
    data_category c;
    c.id = r.id(r.child(f, "id")).value_or("");
    c.description = r.nonempty(r.child(f, "description")).value_or("");
    c.retention = r.nonempty(r.child(f, "retention")).value_or("");
    c.personal_data = r.boolean(r.child(f, "personal_data")).value_or(false);
    c.special_category = r.boolean(r.child(f, "special_category")).value_or(false);
    c.criminal_offence_data = r.boolean(r.child(f, "criminal_offence_data")).value_or(false);
    if (!c.id.empty() && !category_ids.insert(c.id).second) {
      r.error(f.node["id"],
              r.join(f.path, "id") + ": data category '" + c.id + "' is declared twice",
              "duplicate-id");
    }
    a->data_categories.push_back(std::move(c));
  });

  auto check_ref = [&](const YAML::Node& at, const std::string& path, const std::string& value,
                       const std::set<std::string>& ids, std::string_view what) {
    if (!value.empty() && !ids.count(value)) {
      r.error(at, path + ": '" + value + "' is not a " + std::string(what) + " of this agreement",
              "dangling-reference");
    }
  };
  auto check_refs = [&](const field& list, const std::vector<std::string>& values,
                        const std::set<std::string>& ids, std::string_view what) {
    // `values` holds only the valid ids; look each element up again for its position.
    if (!list.node.IsSequence()) {
      return;
    }
    for (std::size_t i = 0; i < list.node.size(); ++i) {
      if (list.node[i].IsScalar() &&
          std::find(values.begin(), values.end(), list.node[i].Scalar()) != values.end()) {
        check_ref(list.node[i], list.path + "[" + std::to_string(i) + "]", list.node[i].Scalar(),
                  ids, what);
      }
    }
  };

  // Endpoints.
  std::set<std::string> endpoint_ids;
  r.sequence(r.child(top, "endpoints"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "provider", "upstream", "method", "path", "data_categories"},
                   {"path_params", "query_params", "response"})) {
      return;
    }
    endpoint e;
    e.id = r.id(r.child(f, "id")).value_or("");
    if (!e.id.empty() && !endpoint_ids.insert(e.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": endpoint '" + e.id + "' is declared twice",
              "duplicate-id");
    }
    e.provider = r.id(r.child(f, "provider")).value_or("");
    check_ref(f.node["provider"], r.join(f.path, "provider"), e.provider, party_ids, "party");
    e.upstream = r.nonempty(r.child(f, "upstream")).value_or("");
    if (auto m = r.string(r.child(f, "method"))) {
      static const boost::regex method_re{"[A-Z]+"};
      if (!boost::regex_match(*m, method_re)) {
        r.error(f.node["method"],
                r.join(f.path, "method") + ": '" + *m +
                    "' is not an HTTP method (expected upper case, e.g. GET or POST)",
                "bad-value");
      }
      e.method = *m;
    }
    // Path template: literal segments and {name} placeholders, each exactly one segment.
    std::set<std::string> template_params;
    if (auto p = r.string(r.child(f, "path"))) {
      e.path = *p;
      bool ok = !p->empty() && (*p)[0] == '/';
      if (ok && p->size() > 1) {
        std::size_t start = 1;
        while (ok) {
          std::size_t end = p->find('/', start);
          std::string seg = p->substr(start, end == std::string::npos ? end : end - start);
          if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
            std::string name = seg.substr(1, seg.size() - 2);
            if (!is_id(name) || !template_params.insert(name).second) {
              ok = false;
              break;
            }
            e.path_params.push_back({name, std::nullopt});
            e.segments.push_back({"", static_cast<int>(e.path_params.size() - 1)});
          } else {
            if (seg.empty() || seg == "." || seg == ".." ||
                seg.find_first_of("{}?#%\\") != std::string::npos) {
              ok = false;
              break;
            }
            e.segments.push_back({seg, -1});
          }
          if (end == std::string::npos) {
            break;
          }
          start = end + 1;
        }
      }
      if (!ok) {
        r.error(f.node["path"],
                r.join(f.path, "path") + ": '" + *p +
                    "' is not a path template (expected '/' then literal segments or {name} "
                    "placeholders, each a whole segment, e.g. /asb/v1/cases/{case_id})",
                "bad-path");
      }
    }
    field pp = r.child(f, "path_params");
    if (r.present(pp)) {
      if (!pp.node.IsMap()) {
        r.error(pp.node, pp.path + ": expected a mapping of parameter name to regex", "wrong-type");
      } else {
        for (auto it = pp.node.begin(); it != pp.node.end(); ++it) {
          std::string name = it->first.Scalar();
          auto re = r.regex({it->second, r.join(pp.path, name)});
          auto pos = std::find_if(e.path_params.begin(), e.path_params.end(),
                                  [&](const path_param& x) { return x.name == name; });
          if (pos == e.path_params.end()) {
            r.error(
                it->first,
                r.join(pp.path, name) + ": '" + name + "' is not a {placeholder} of path " + e.path,
                "dangling-reference");
          } else if (re) {
            pos->re = std::move(*re);
          }
        }
      }
    }
    field qp = r.child(f, "query_params");
    if (qp.node.IsDefined()) {
      e.query_allowed = true;
      if (!qp.node.IsMap() && !qp.node.IsNull()) {
        r.error(qp.node, qp.path + ": expected a mapping of parameter name to {pattern, required}",
                "wrong-type");
      } else if (qp.node.IsMap()) {
        for (auto it = qp.node.begin(); it != qp.node.end(); ++it) {
          field q{it->second, r.join(qp.path, it->first.Scalar())};
          if (!r.mapping(q, {"pattern"}, {"required"})) {
            continue;
          }
          auto re = r.regex(r.child(q, "pattern"));
          bool required = false;
          if (r.present(r.child(q, "required"))) {
            required = r.boolean(r.child(q, "required")).value_or(false);
          }
          if (re) {
            e.query_params.push_back({it->first.Scalar(), std::move(*re), required});
          }
        }
      }
    }
    e.data_categories = r.id_list(r.child(f, "data_categories"), true);
    check_refs(r.child(f, "data_categories"), e.data_categories, category_ids, "data category");

    field resp = r.child(f, "response");
    if (r.present(resp) &&
        r.mapping(resp, {}, {"allow_fields", "max_items", "withhold_if", "add_headers"})) {
      e.has_response = true;
      field af = r.child(resp, "allow_fields");
      if (af.node.IsDefined()) {
        e.response.has_allow_fields = true;
        r.sequence(af, false, [&](const field& pf) {
          if (auto p = parse_pointer(r, pf)) {
            e.response.allow_fields.push_back(std::move(*p));
          }
        });
      }
      field mi = r.child(resp, "max_items");
      if (r.present(mi) && r.mapping(mi, {"pointer", "max"}, {})) {
        auto p = parse_pointer(r, r.child(mi, "pointer"));
        auto m = r.count(r.child(mi, "max"));
        if (p && m) {
          e.response.max_items = max_items_rule{std::move(*p), *m};
        }
      }
      r.sequence(r.child(resp, "withhold_if"), false, [&](const field& wf) {
        if (!r.mapping(wf, {"pointer", "equals"}, {})) {
          return;
        }
        auto p = parse_pointer(r, r.child(wf, "pointer"));
        YAML::Node eq = wf.node["equals"];
        if (eq.IsDefined() && !eq.IsScalar() && !eq.IsNull()) {
          r.error(eq,
                  r.join(wf.path, "equals") +
                      ": expected a single value (text, number, "
                      "true/false or null)",
                  "wrong-type");
          return;
        }
        if (p && eq.IsDefined()) {
          e.response.withhold_if.push_back(
              {std::move(*p), eq.IsNull() ? std::string("null") : scalar_json(eq)});
        }
      });
      field ah = r.child(resp, "add_headers");
      if (r.present(ah)) {
        if (!ah.node.IsMap()) {
          r.error(ah.node, ah.path + ": expected a mapping of header name to value", "wrong-type");
        } else {
          for (auto it = ah.node.begin(); it != ah.node.end(); ++it) {
            std::string name = it->first.Scalar();
            auto value = r.string({it->second, r.join(ah.path, name)});
            std::string lower = name;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            if (!is_token(name) || lower.rfind("dsa-", 0) == 0 || lower == "content-length" ||
                lower == "transfer-encoding" || lower == "connection") {
              r.error(it->first,
                      r.join(ah.path, name) + ": '" + name +
                          "' cannot be added (expected an HTTP header name that is not DSA-*, "
                          "Content-Length, Transfer-Encoding or Connection)",
                      "bad-header");
            } else if (value &&
                       value->find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
              r.error(it->second,
                      r.join(ah.path, name) + ": header values cannot contain line breaks",
                      "bad-header");
            } else if (value) {
              e.response.add_headers.emplace_back(name, *value);
            }
          }
        }
      }
    } else if (!r.present(resp) && options.lint_warnings && !e.id.empty()) {
      r.warning(f.node,
                f.path + ": endpoint '" + e.id +
                    "' has no response rules: the whole upstream body is disclosed",
                "unfiltered-endpoint");
    }
    a->endpoints.push_back(std::move(e));
  });

  // Permissions.
  std::set<std::string> permission_ids;
  r.sequence(r.child(top, "permissions"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "assignee", "endpoints", "purposes", "lawful_basis", "legal_gateway"},
                   {"require", "time_windows", "volume_caps"})) {
      return;
    }
    permission p;
    p.id = r.id(r.child(f, "id")).value_or("");
    if (!p.id.empty() && !permission_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": permission '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    p.assignee = r.id(r.child(f, "assignee")).value_or("");
    check_ref(f.node["assignee"], r.join(f.path, "assignee"), p.assignee, party_ids, "party");
    p.endpoints = r.id_list(r.child(f, "endpoints"), true);
    check_refs(r.child(f, "endpoints"), p.endpoints, endpoint_ids, "endpoint");
    p.purposes = r.id_list(r.child(f, "purposes"), true);
    check_refs(r.child(f, "purposes"), p.purposes, purpose_ids, "purpose");
    p.lawful_basis = r.id_list(r.child(f, "lawful_basis"), true);
    check_refs(r.child(f, "lawful_basis"), p.lawful_basis, basis_ids, "lawful basis");
    p.legal_gateway = r.id_list(r.child(f, "legal_gateway"), true);
    check_refs(r.child(f, "legal_gateway"), p.legal_gateway, gateway_ids, "legal gateway");

    field req = r.child(f, "require");
    if (r.present(req) && r.mapping(req, {}, {"case_ref", "case_ref_param", "acting_user"})) {
      if (r.present(r.child(req, "case_ref"))) {
        p.require.case_ref = r.regex(r.child(req, "case_ref"));
      }
      if (r.present(r.child(req, "acting_user"))) {
        p.require.acting_user = r.regex(r.child(req, "acting_user"));
      }
      if (auto param = r.string(r.child(req, "case_ref_param"))) {
        p.require.case_ref_param = *param;
        for (const std::string& eid : p.endpoints) {
          const endpoint* e = a->find_endpoint(eid);
          if (e != nullptr && std::none_of(e->path_params.begin(), e->path_params.end(),
                                           [&](const path_param& x) { return x.name == *param; })) {
            r.error(req.node["case_ref_param"],
                    r.join(req.path, "case_ref_param") + ": '" + *param +
                        "' is not a {placeholder} in the path of endpoint '" + eid + "' (" +
                        e->path + ")",
                    "dangling-reference");
          }
        }
      }
    }

    field tw = r.child(f, "time_windows");
    if (r.present(tw) && r.mapping(tw, {"timezone", "allow"}, {})) {
      time_windows w;
      if (auto tz = r.string(r.child(tw, "timezone"))) {
        w.timezone = *tz;
        try {
          w.zone = date::locate_zone(*tz);
        } catch (const std::exception&) {
          r.error(tw.node["timezone"],
                  r.join(tw.path, "timezone") + ": '" + *tz +
                      "' is not a time zone of the tz database (expected e.g. Europe/London)",
                  "bad-timezone");
        }
      }
      r.sequence(r.child(tw, "allow"), true, [&](const field& wf) {
        if (!r.mapping(wf, {"days", "from", "to"}, {})) {
          return;
        }
        time_window win;
        static constexpr std::array<std::string_view, 7> names{"mon", "tue", "wed", "thu",
                                                               "fri", "sat", "sun"};
        r.sequence(r.child(wf, "days"), true, [&](const field& df) {
          auto d = r.string(df);
          if (!d) {
            return;
          }
          auto it = std::find(names.begin(), names.end(), *d);
          if (it == names.end()) {
            r.error(df.node,
                    df.path + ": '" + *d +
                        "' is not a day (expected mon, tue, wed, thu, "
                        "fri, sat or sun)",
                    "bad-value");
          } else {
            win.days |= static_cast<std::uint8_t>(1u << (it - names.begin()));
          }
        });
        bool ok = true;
        for (auto [key, out] :
             {std::pair{"from", &win.from_minute}, std::pair{"to", &win.to_minute}}) {
          if (auto t = r.string(r.child(wf, key)); t && !parse_hhmm(*t, *out)) {
            r.error(wf.node[key],
                    r.join(wf.path, key) + ": '" + *t +
                        "' is not a local time (expected HH:MM, e.g. 08:00)",
                    "bad-time");
            ok = false;
          }
        }
        if (ok && wf.node["from"].IsDefined() && wf.node["to"].IsDefined() &&
            win.from_minute >= win.to_minute) {
          r.error(wf.node["to"],
                  r.join(wf.path, "to") +
                      ": must be later than 'from' (use two windows for an overnight span)",
                  "bad-time");
        }
        w.allow.push_back(win);
      });
      p.windows = std::move(w);
    }

    r.sequence(r.child(f, "volume_caps"), false, [&](const field& cf) {
      if (!r.mapping(cf, {"scope", "window", "max"}, {})) {
        return;
      }
      volume_cap cap;
      if (auto s = r.string(r.child(cf, "scope"))) {
        if (*s == "assignee") {
          cap.scope = cap_scope::assignee;
        } else if (*s == "case_ref") {
          cap.scope = cap_scope::case_ref;
          if (!p.require.case_ref_required()) {
            r.error(cf.node["scope"],
                    r.join(cf.path, "scope") +
                        ": a case_ref cap needs require.case_ref or require.case_ref_param in "
                        "this permission",
                    "bad-cap");
          }
        } else if (*s == "acting_user") {
          cap.scope = cap_scope::acting_user;
          if (!p.require.acting_user) {
            r.error(cf.node["scope"],
                    r.join(cf.path, "scope") +
                        ": an acting_user cap needs require.acting_user in this permission",
                    "bad-cap");
          }
        } else {
          r.error(cf.node["scope"],
                  r.join(cf.path, "scope") + ": '" + *s +
                      "' (expected assignee, case_ref or acting_user)",
                  "bad-value");
        }
      }
      if (auto w = r.string(r.child(cf, "window"))) {
        cap.window_text = *w;
        if (auto d = parse_duration(*w)) {
          cap.window = *d;
        } else {
          r.error(cf.node["window"],
                  r.join(cf.path, "window") + ": '" + *w +
                      "' is not a duration (expected ISO 8601 weeks, days, hours, minutes or "
                      "seconds, e.g. PT1H, P1D, P7D; years and months are not fixed lengths)",
                  "bad-duration");
        }
      }
      cap.max = r.count(r.child(cf, "max")).value_or(0);
      p.volume_caps.push_back(std::move(cap));
    });
    a->permissions.push_back(std::move(p));
  });

  std::set<std::string> prohibition_ids;
  r.sequence(r.child(top, "prohibitions"), false, [&](const field& f) {
    if (!r.mapping(f, {"id", "assignee", "endpoints", "reason"}, {"purposes"})) {
      return;
    }
    prohibition p;
    p.id = r.id(r.child(f, "id")).value_or("");
    if (!p.id.empty() && !prohibition_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": prohibition '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    p.assignee = r.id(r.child(f, "assignee")).value_or("");
    if (p.assignee != "any") {
      check_ref(f.node["assignee"], r.join(f.path, "assignee"), p.assignee, party_ids,
                "party (or 'any')");
    }
    p.endpoints = r.id_list(r.child(f, "endpoints"), true);
    check_refs(r.child(f, "endpoints"), p.endpoints, endpoint_ids, "endpoint");
    p.purposes = r.id_list(r.child(f, "purposes"), false);
    check_refs(r.child(f, "purposes"), p.purposes, purpose_ids, "purpose");
    p.reason = r.nonempty(r.child(f, "reason")).value_or("");
    a->prohibitions.push_back(std::move(p));
  });

  field gov = r.child(top, "governance");
  if (r.present(gov)) {
    if (!gov.node.IsMap()) {
      r.error(gov.node, "governance: expected a mapping", "wrong-type");
    } else {
      a->governance = gov.node;
    }
  }
  if (options.lint_warnings) {
    // The ICO data sharing code expects an agreement to say who is responsible, how the data is
    // kept secure, what happens after a breach, how long it is kept, and who signed it off.
    for (std::string_view section : {"duties", "security", "breaches", "retention", "approvals"}) {
      if (!gov.node.IsMap() || !gov.node[std::string(section)].IsDefined()) {
        r.warning(gov.node.IsDefined() ? gov.node : root,
                  "governance." + std::string(section) +
                      " is missing (the ICO data sharing code recommends it)",
                  "governance-missing");
      }
    }
    if (a->review_due) {
      auto today = date::year_month_day{floor<date::days>(options.now)};
      if (london() != nullptr) {
        today = date::year_month_day{
            floor<date::days>(london()->to_local(floor<seconds>(options.now)))};
      }
      if (today > *a->review_due) {
        r.warning(
            root["review"],
            "review: this agreement was due for review on " + date::format("%F", *a->review_due) +
                (a->review_overdue_denies ? " and now refuses every request (overdue: deny)" : ""),
            "review-overdue");
      }
    } else {
      r.warning(root, "review: no review date is set", "review-missing");
    }
    if (a->valid_until.time_since_epoch().count() != 0 && options.now >= a->valid_until) {
      r.warning(root["validity"], "validity: this agreement ended on " + a->valid_until_text,
                "agreement-ended");
    }
  }
  return r.errors() == 0 ? std::move(a) : nullptr;
}

std::string read_file(const fs::path& p, std::string& error) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    error = std::error_code(errno, std::generic_category()).message();
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_agreement_file(const fs::path& p) {
  std::string name = p.filename().string();
  auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return (ends_with(".yaml") || ends_with(".yml")) && !ends_with(".test.yaml") &&
         !ends_with(".test.yml");
}

}  // namespace

load_result load_agreements(const std::vector<fs::path>& paths, const load_options& options) {
  load_result result;
  auto& diags = result.diagnostics;

  for (const fs::path& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.is_regular_file(ec) && is_agreement_file(entry.path())) {
          found.push_back(entry.path().string());
        }
      }
      if (ec) {
        diags.push_back(
            {p.string(), 0, 0, severity::error, "cannot read directory: " + ec.message(), "io"});
      }
      std::sort(found.begin(), found.end());
      result.files.insert(result.files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      result.files.push_back(p.string());
    } else {
      diags.push_back({p.string(), 0, 0, severity::error, "no such file or directory", "io"});
    }
  }

  auto set = std::make_shared<agreement_set>();
  std::map<std::string, pattern, std::less<>> regex_cache;
  std::map<std::string, std::pair<std::string, std::string>> party_names;     // id → (name, file)
  std::map<std::string, std::string> agreement_files;                         // id → file
  std::map<std::string, std::pair<std::string, std::string>> identity_owner;  // key → (party, file)

  // Parsing and compiling each file is independent of the others and is most of the start-up
  // time with many agreements, so files are read on every core; the cross-file rules then run
  // in file order on this thread, which keeps the diagnostics deterministic.
  struct parsed_file {
    std::vector<diagnostic> diags;
    YAML::Node root;
    std::unique_ptr<agreement> a;
    std::string sha256;
  };
  std::vector<parsed_file> parsed(result.files.size());
  auto parse_one = [&](std::size_t i, std::map<std::string, pattern, std::less<>>& cache) {
    const std::string& file = result.files[i];
    parsed_file& out = parsed[i];
    std::string io_error;
    std::string text = read_file(file, io_error);
    if (!io_error.empty()) {
      out.diags.push_back({file, 0, 0, severity::error, "cannot read file: " + io_error, "io"});
      return;
    }
    reader r(file, out.diags, cache);
    // Every text taken from an agreement (status reasons, prohibition reasons, patterns) can end
    // up in a refusal's JSON, so the file must be UTF-8 (docs/agreements.md, "Text in refusals").
    if (std::size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
      int line = 1, column = 1;
      for (std::size_t k = 0; k < bad; ++k) {
        if (text[k] == '\n') {
          ++line;
          column = 1;
        } else if ((static_cast<unsigned char>(text[k]) & 0xC0) != 0x80) {
          ++column;
        }
      }
      r.error_at(line, column,
                 "not valid UTF-8 (byte " + escape_text(text.substr(bad, 1)) +
                     "); agreement files are UTF-8 text",
                 "not-utf8");
      return;
    }
    try {
      out.root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      r.error_at(e.mark.line + 1, e.mark.column + 1, "not valid YAML: " + e.msg, "yaml-syntax");
      return;
    } catch (const std::exception& e) {
      r.error_at(0, 0, std::string("not valid YAML: ") + e.what(), "yaml-syntax");
      return;
    }
    try {
      out.a = read_agreement(r, out.root, options);
    } catch (const std::exception& e) {
      // yaml-cpp can throw on pathological documents (e.g. aliases of the wrong kind).
      r.error_at(0, 0, std::string("cannot read agreement: ") + e.what(), "yaml-structure");
      out.a.reset();
      return;
    }
    out.sha256 = sha256_hex(text);
  };
  const std::size_t workers = std::min<std::size_t>(
      std::max(1u, std::thread::hardware_concurrency()), (parsed.size() + 7) / 8);
  if (workers <= 1) {
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      parse_one(i, regex_cache);
    }
  } else {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < workers; ++t) {
      threads.emplace_back([&] {
        std::map<std::string, pattern, std::less<>> cache;  // per thread: no locking
        for (std::size_t i = next++; i < parsed.size(); i = next++) {
          parse_one(i, cache);
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
  }

  for (std::size_t index = 0; index < parsed.size(); ++index) {
    const std::string& file = result.files[index];
    parsed_file& pf = parsed[index];
    diags.insert(diags.end(), pf.diags.begin(), pf.diags.end());
    if (!pf.a) {
      continue;
    }
    reader r(file, diags, regex_cache);
    YAML::Node& root = pf.root;
    std::unique_ptr<agreement> a = std::move(pf.a);
    a->file = file;
    a->sha256 = pf.sha256;

    // Cross-file rules.
    bool cross_ok = true;
    if (auto [it, inserted] = agreement_files.emplace(a->id, file); !inserted) {
      r.error(root["id"], "id: agreement '" + a->id + "' is also defined in " + it->second,
              "duplicate-agreement");
      cross_ok = false;
    }
    for (std::size_t pi = 0; pi < a->parties.size(); ++pi) {
      const party& p = a->parties[pi];
      YAML::Node pnode = root["parties"][pi];
      if (auto [it, inserted] = party_names.emplace(p.id, std::pair{p.name, file});
          !inserted && it->second.first != p.name) {
        r.error(pnode["name"],
                "parties[" + std::to_string(pi) + "].name: party '" + p.id + "' is '" +
                    it->second.first + "' in " + it->second.second +
                    "; a party id means one organisation everywhere",
                "party-conflict");
        cross_ok = false;
      }
      for (std::size_t ii = 0; ii < p.identities.size(); ++ii) {
        const identity_rule& rule = p.identities[ii];
        std::string key =
            agreement_set::identity_key(rule.trust_anchor, rule.kind, rule.match_value);
        if (auto [it, inserted] = identity_owner.emplace(key, std::pair{p.id, file});
            !inserted && it->second.first != p.id) {
          r.error(pnode["identities"][ii],
                  "parties[" + std::to_string(pi) + "].identities[" + std::to_string(ii) +
                      "]: this identity (" + rule.value + ") is already declared for party '" +
                      it->second.first + "' in " + it->second.second +
                      "; one certificate identity cannot map to two parties",
                  "identity-conflict");
          cross_ok = false;
        }
      }
    }
    if (cross_ok) {
      std::sort(a->permissions.begin(), a->permissions.end(),
                [](const permission& x, const permission& y) { return x.id < y.id; });
      for (permission& perm : a->permissions) {
        perm.counter_key = a->id + '\x1f' + perm.id;
      }
      set->agreements.push_back(std::move(a));
    }
  }

  std::stable_sort(diags.begin(), diags.end(), [](const diagnostic& x, const diagnostic& y) {
    return std::tie(x.file, x.line, x.column) < std::tie(y.file, y.line, y.column);
  });
  if (result.error_count() > 0) {
    return result;
  }

  // Indexes. Agreements in id order; permissions already in id order within each.
  std::sort(set->agreements.begin(), set->agreements.end(),
            [](const auto& x, const auto& y) { return x->id < y->id; });
  for (const auto& a : set->agreements) {
    for (const party& p : a->parties) {
      for (const identity_rule& rule : p.identities) {
        set->identities[agreement_set::identity_key(rule.trust_anchor, rule.kind, rule.match_value)]
            .push_back({&rule, p.id});
      }
    }
    for (const permission& perm : a->permissions) {
      for (const std::string& eid : perm.endpoints) {
        const endpoint* e = a->find_endpoint(eid);
        if (e == nullptr) {
          continue;
        }
        candidate c{a.get(), &perm, e, -1};
        c.segment_count = static_cast<std::uint16_t>(e->segments.size());
        for (std::size_t i = 0; i < e->segments.size(); ++i) {
          if (e->segments[i].param < 0) {
            c.first_literal = static_cast<std::int16_t>(i);
            c.first_literal_hash = std::hash<std::string_view>{}(e->segments[i].literal);
            break;
          }
        }
        if (!perm.require.case_ref_param.empty()) {
          for (std::size_t i = 0; i < e->path_params.size(); ++i) {
            if (e->path_params[i].name == perm.require.case_ref_param) {
              c.case_ref_param_index = static_cast<int>(i);
            }
          }
        }
        set->candidates[agreement_set::candidate_key(perm.assignee, e->method)].push_back(c);
      }
    }
  }
  result.set = std::move(set);
  return result;
}

}  // namespace dsa::policy
