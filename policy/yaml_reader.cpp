// Reading YAML nodes into typed values with diagnostics; see yaml_reader.hpp.

#include "policy/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>
#include <system_error>

#include "policy/pattern.hpp"
#include "policy/suggest.hpp"
#include "policy/text.hpp"
#include "policy/time.hpp"

namespace dsa::policy {

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

const boost::regex& id_regex() {
  static const boost::regex re{"[a-z0-9][a-z0-9._-]{0,63}"};
  return re;
}

bool is_id(std::string_view s) { return boost::regex_match(s.begin(), s.end(), id_regex()); }

bool is_semantic_version(std::string_view s) {
  static const boost::regex semver{
      R"((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)"};
  return boost::regex_match(s.begin(), s.end(), semver);
}

bool is_hex_sha256(std::string_view s) {
  static const boost::regex hex64{"[0-9a-fA-F]{64}"};
  return boost::regex_match(s.begin(), s.end(), hex64);
}

bool is_method_name(std::string_view s) {
  static const boost::regex method_re{"[A-Z]+"};
  return boost::regex_match(s.begin(), s.end(), method_re);
}

namespace yaml {

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
  if (boost::regex_match(s.begin(), s.end(), number)) {
    return s;
  }
  return quote(s);
}

void reader::error(const YAML::Node& at, std::string message, std::string code) {
  add(at, severity::error, std::move(message), std::move(code));
}

void reader::warning(const YAML::Node& at, std::string message, std::string code) {
  add(at, severity::warning, std::move(message), std::move(code));
}

void reader::error_at(int line, int column, std::string message, std::string code) {
  out_.push_back({file_, line, column, severity::error, std::move(message), std::move(code)});
  ++errors_;
}

bool reader::mapping(const field& f, std::initializer_list<std::string_view> required,
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
      std::vector<std::string> known_keys;
      for (auto list : {required, optional}) {
        known_keys.insert(known_keys.end(), list.begin(), list.end());
      }
      error(key,
            join(f.path, name) + ": unknown key '" + name + "'" +
                did_you_mean_suffix(name, known_keys) + " (expected one of: " + expected + ")",
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

std::string reader::join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

field reader::child(const field& f, std::string_view key) const {
  if (f.node.IsDefined() && f.node.IsMap()) {
    const YAML::Node& map = f.node;
    YAML::Node n = map[std::string(key)];
    if (n.IsDefined()) {
      return {n, join(f.path, key)};
    }
  }
  return {YAML::Node(YAML::NodeType::Undefined), join(f.path, key)};
}

std::optional<std::string> reader::string(const field& f) {
  if (!f.node.IsDefined()) {
    return std::nullopt;
  }
  if (!f.node.IsScalar()) {
    error(f.node, f.path + ": expected a text value, found " + describe(f.node), "wrong-type");
    return std::nullopt;
  }
  return f.node.Scalar();
}

std::optional<std::string> reader::nonempty(const field& f) {
  auto s = string(f);
  if (s && s->empty()) {
    error(f.node, f.path + ": must not be empty", "empty-value");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> reader::id(const field& f) {
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

std::optional<bool> reader::boolean(const field& f) {
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

std::optional<std::uint64_t> reader::count(const field& f) {
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

std::vector<std::string> reader::id_list(const field& f, bool nonempty_required) {
  std::vector<std::string> out;
  sequence(f, nonempty_required, [&](const field& e) {
    if (auto v = id(e)) {
      out.push_back(*v);
    }
  });
  return out;
}

std::optional<pattern> reader::regex(const field& f) {
  auto s = string(f);
  if (!s) {
    return std::nullopt;
  }
  // Agreements repeat the same patterns (case references, staff numbers); compiling each text
  // once keeps start-up fast. boost::regex copies share the compiled program.
  if (auto it = regex_cache_->find(*s); it != regex_cache_->end()) {
    return it->second;
  }
  std::size_t fault = 0;
  result<pattern> p = compile_pattern(*s, &fault);
  if (!p) {
    int line = f.node.Mark().line + 1;
    error_at(line, column_of(f.node, fault),
             f.path + ": invalid regular expression '" + escape_text(*s) + "': " + p.error() +
                 " (at character " + std::to_string(fault + 1) +
                 " of the pattern; patterns are the ECMAScript subset described in "
                 "docs/agreements.md)",
             "bad-regex");
    return std::nullopt;
  }
  regex_cache_->emplace(*s, p.value());
  return std::move(p).value();
}

std::optional<time_point> reader::instant(const field& f) {
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

int reader::column_of(const YAML::Node& at, std::size_t offset) const {
  const YAML::Mark m = at.Mark();
  if (m.line < 0) {
    return 0;
  }
  const int start = m.column + 1;
  if (source_.empty()) {
    return start;
  }
  std::size_t pos = 0;
  for (int l = 0; l < m.line && pos != std::string_view::npos; ++l) {
    pos = source_.find('\n', pos);
    pos = pos == std::string_view::npos ? pos : pos + 1;
  }
  if (pos == std::string_view::npos) {
    return start;
  }
  std::size_t end = source_.find('\n', pos);
  std::string_view line = source_.substr(pos, end == std::string_view::npos ? end : end - pos);
  std::size_t i = static_cast<std::size_t>(m.column);
  if (i >= line.size()) {
    return start;
  }
  const char quote = line[i];
  if (quote != '"' && quote != '\'') {
    return i + offset < line.size() ? static_cast<int>(i + offset + 1) : start;
  }
  // Walk the quoted text, counting the bytes each written form stands for.
  ++i;
  for (std::size_t decoded = 0; i < line.size() && line[i] != quote; ++decoded) {
    if (decoded == offset) {
      return static_cast<int>(i + 1);
    }
    if (quote == '"' && line[i] == '\\' && i + 1 < line.size()) {
      const char e = line[i + 1];
      i += e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : 2;
    } else if (quote == '\'' && line[i] == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
      i += 2;
    } else {
      ++i;
    }
  }
  return start;
}

void reader::add(const YAML::Node& at, severity level, std::string message, std::string code) {
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

}  // namespace yaml
}  // namespace dsa::policy
