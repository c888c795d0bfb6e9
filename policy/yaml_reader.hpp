#pragma once

// Reading YAML nodes into typed values, with a diagnostic for everything that is not what the
// format expects (docs/agreements.md §3). Internal to the policy library: it is the one place
// that knows yaml-cpp's node API, and knows nothing of agreements beyond what an id looks like.
//
// yaml-cpp reports positions 0-based; diagnostics are 1-based. A missing key is a valid node of
// type Undefined here (yaml-cpp's own result for a missing key is an "invalid" node on which most
// calls throw). A reader keeps going after an error so that one run reports every problem.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/diagnostic.hpp"
#include "policy/model.hpp"

namespace dsa::policy {

// Ids of agreements, parties, purposes, endpoints, permissions…: lowercase letters, digits,
// '.', '_' or '-', starting with a letter or digit, at most 64 characters.
const boost::regex& id_regex();
bool is_id(std::string_view s);

// The other fixed value shapes of the format, each a whole-value match. They are compiled once,
// here, so that the section readers need not instantiate Boost.Regex themselves.
bool is_semantic_version(std::string_view s);  // 1.2.0, 1.2.0-rc.1+build (semver.org)
bool is_hex_sha256(std::string_view s);        // 64 hexadecimal digits, either case
bool is_method_name(std::string_view s);       // upper-case letters only (GET, POST)

namespace yaml {

// "'text'", "a list", "a mapping" or "nothing (null)": what a message says was found.
std::string describe(const YAML::Node& n);

// A YAML scalar as compact JSON: quoted scalars are strings; plain ones are true/false/null,
// numbers, or strings.
std::string scalar_json(const YAML::Node& n);

// A field position: its YAML node and its dotted path for messages.
struct field {
  YAML::Node node;
  std::string path;
};

// A YAML syntax error as the loader reports it: where the mistake most likely is (which may be
// before the parser's position) and what it is in words — a tab used to indent, a line indented
// to no open level, a line indented under a key that already has a value, an unquoted ': ', an
// unclosed '[' or '{' — with the parser's own words kept in brackets (yaml_syntax.cpp).
struct syntax_error {
  int line = 0, column = 0;  // 1-based
  std::string message;
  std::string code;  // yaml-syntax, yaml-tab or yaml-indentation
};
// `line` and `column` (1-based) and `parser_message` are yaml-cpp's; `text` is the whole file.
syntax_error explain_syntax_error(std::string_view text, int line, int column,
                                  const std::string& parser_message);

// Patterns already compiled, by source text (agreements repeat the same patterns).
using regex_cache = std::map<std::string, pattern, std::less<>>;

// Reads the fields of one file, appending diagnostics to `out`. Not thread-safe; one per file
// and thread (the regex cache too).
class reader {
 public:
  reader(std::string file, std::vector<diagnostic>& out, regex_cache& cache)
      : file_(std::move(file)), out_(out), regex_cache_(&cache) {}

  const std::string& file() const { return file_; }
  // The file's text, which must outlive the reader: lets a regex error point at the column of
  // the fault inside a quoted pattern. Without it the error points at the pattern's start.
  void set_source(std::string_view text) { source_ = text; }
  int errors() const { return errors_; }

  void error(const YAML::Node& at, std::string message, std::string code);
  void warning(const YAML::Node& at, std::string message, std::string code);
  void error_at(int line, int column, std::string message, std::string code);

  // Checks that `f` is a mapping whose keys are all in required ∪ optional (no duplicates) and
  // that every required key is present. Returns false when `f` is not a mapping.
  bool mapping(const field& f, std::initializer_list<std::string_view> required,
               std::initializer_list<std::string_view> optional);

  // "a.b" from "a" and "b"; "b" from "" and "b".
  static std::string join(const std::string& path, std::string_view key);

  // The field `key` of the mapping `f`; Undefined when absent or when `f` is not a mapping.
  field child(const field& f, std::string_view key) const;

  static bool present(const field& f) { return f.node.IsDefined() && !f.node.IsNull(); }

  // Each returns nullopt for an absent field, and nullopt with an error for a wrong one.
  std::optional<std::string> string(const field& f);
  std::optional<std::string> nonempty(const field& f);
  std::optional<std::string> id(const field& f);
  std::optional<bool> boolean(const field& f);
  std::optional<std::uint64_t> count(const field& f);
  std::optional<pattern> regex(const field& f);       // compiled by compile_pattern (pattern.hpp)
  std::optional<time_point> instant(const field& f);  // parse_instant (time.hpp)

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

  // A list of ids; only the valid ones are returned.
  std::vector<std::string> id_list(const field& f, bool nonempty_required);

 private:
  void add(const YAML::Node& at, severity level, std::string message, std::string code);

  // The 1-based column of byte `offset` of the scalar at `at`, counting the quotes and escapes
  // the file wrote; the scalar's own column when the source is not known or the scalar spans
  // lines.
  int column_of(const YAML::Node& at, std::size_t offset) const;

  std::string file_;
  std::string_view source_;
  std::vector<diagnostic>& out_;
  regex_cache* regex_cache_;
  int errors_ = 0;
};

}  // namespace yaml
}  // namespace dsa::policy
