// Explaining a YAML syntax error in the words an IG officer can act on; see yaml_reader.hpp.
//
// yaml-cpp names what its parser could not do ("illegal map value", "end of map not found") at
// the token where it gave up, which is often a line after the mistake and never says why. The
// mistakes people make writing agreements by hand are few — a tab used to indent, a key indented
// to no level above it, a key indented under one that already has a value, an unquoted ': '
// inside a value, a '[' or '{' list left open — and each can be recognised from the text around
// the parser's position. When none of them fits, the parser's own words are given.

#include <algorithm>
#include <string>
#include <vector>

#include "policy/yaml_reader.hpp"

namespace dsa::policy::yaml {

namespace {

struct text_line {
  std::string_view text;
  std::size_t indent = 0;  // leading spaces
  bool blank = true;       // empty, whitespace or a comment only
};

std::vector<text_line> split_lines(std::string_view text) {
  std::vector<text_line> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    text_line l;
    l.text = text.substr(start, end - start);
    if (!l.text.empty() && l.text.back() == '\r') {
      l.text.remove_suffix(1);
    }
    while (l.indent < l.text.size() && l.text[l.indent] == ' ') {
      ++l.indent;
    }
    std::size_t first = l.text.find_first_not_of(" \t");
    l.blank = first == std::string_view::npos || l.text[first] == '#';
    out.push_back(l);
    if (end == text.size()) {
      break;
    }
    start = end + 1;
  }
  return out;
}

bool is_item(const text_line& l) {
  return l.text.size() > l.indent && l.text[l.indent] == '-' &&
         (l.text.size() == l.indent + 1 || l.text[l.indent + 1] == ' ');
}

// The column (0-based) where the content of a list item line starts: "  - id: x" → 4.
std::size_t item_content(const text_line& l) {
  std::size_t c = l.indent + 1;
  while (c < l.text.size() && l.text[c] == ' ') {
    ++c;
  }
  return c;
}

// "key: value" with something after the colon that is not a comment: a key that already has a
// value and so cannot have entries nested under it.
bool has_inline_value(std::string_view s) {
  std::size_t colon = s.find(": ");
  if (colon == std::string_view::npos) {
    return false;
  }
  std::size_t v = s.find_first_not_of(' ', colon + 1);
  return v != std::string_view::npos && s[v] != '#';
}

std::string levels_text(const std::vector<std::size_t>& levels) {
  std::string out;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    out += i == 0 ? "" : (i + 1 == levels.size() ? " or " : ", ");
    out += std::to_string(levels[i]);
  }
  return out;
}

}  // namespace

syntax_error explain_syntax_error(std::string_view text, int line, int column,
                                  const std::string& parser_message) {
  const std::vector<text_line> lines = split_lines(text);
  const std::string said = "not valid YAML (" + parser_message + ")";
  syntax_error out{line, column, said, "yaml-syntax"};
  const std::size_t at = line >= 1 ? static_cast<std::size_t>(line - 1) : 0;
  if (at >= lines.size()) {
    return out;
  }
  // A tab in the indentation of any line up to the fault: YAML forbids tabs there, and an editor
  // shows them as spaces, so this is the first thing to rule out.
  for (std::size_t i = 0; i <= at; ++i) {
    std::string_view t = lines[i].text;
    std::size_t first = t.find_first_not_of(" \t");
    std::size_t tab = t.find('\t');
    if (tab != std::string_view::npos && (first == std::string_view::npos || tab < first)) {
      return {static_cast<int>(i + 1), static_cast<int>(tab + 1),
              said + ": a tab character indents this line; YAML indents with spaces only",
              "yaml-tab"};
    }
  }
  const text_line& here = lines[at];
  const bool unclosed_list = parser_message.find("sequence flow") != std::string::npos;
  const bool unclosed_map = parser_message.find("map flow") != std::string::npos;
  if (unclosed_list || unclosed_map) {
    const char open = unclosed_list ? '[' : '{';
    const char close = unclosed_list ? ']' : '}';
    for (std::size_t i = at + 1; i-- > 0;) {
      std::string_view t = lines[i].text;
      if (std::count(t.begin(), t.end(), open) > std::count(t.begin(), t.end(), close)) {
        return {static_cast<int>(i + 1), static_cast<int>(t.rfind(open) + 1),
                said + ": this '" + std::string(1, open) + "' is never closed with '" +
                    std::string(1, close) + "'",
                "yaml-syntax"};
      }
    }
    return out;
  }
  if (here.blank) {
    return out;
  }
  // A second ": " on a line that is a key already: the value needs quotes.
  std::size_t colon = here.text.find(": ");
  if (colon != std::string_view::npos &&
      here.text.find(": ", colon + 2) != std::string_view::npos &&
      column > static_cast<int>(colon + 1)) {
    return {line, column, said + ": a value that contains ': ' must be in quotes (\"like: this\")",
            "yaml-syntax"};
  }
  // The indentation levels still open above the fault: each line less indented than every line
  // after it, and for a list item also the column of its content.
  std::vector<std::size_t> levels;
  std::vector<std::size_t> item_levels;
  std::size_t min_seen = std::string::npos;
  const text_line* above = nullptr;
  for (std::size_t i = at; i-- > 0;) {
    const text_line& l = lines[i];
    if (l.blank) {
      continue;
    }
    if (above == nullptr) {
      above = &l;
    }
    if (l.indent < min_seen) {
      if (is_item(l)) {
        levels.push_back(item_content(l));
        item_levels.push_back(l.indent);
      }
      levels.push_back(l.indent);
      min_seen = l.indent;
    }
  }
  std::sort(levels.begin(), levels.end());
  levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
  const int indent_column = static_cast<int>(here.indent + 1);
  if (above != nullptr && here.indent > above->indent && !is_item(*above) &&
      has_inline_value(above->text.substr(above->indent))) {
    return {line, indent_column,
            said + ": this line is indented under '" +
                std::string(above->text.substr(above->indent)) +
                "', which already has a value (a key with entries under it ends with ':')",
            "yaml-indentation"};
  }
  if (!levels.empty() && std::find(levels.begin(), levels.end(), here.indent) == levels.end()) {
    return {line, indent_column,
            said + ": this line is indented " + std::to_string(here.indent) +
                (here.indent == 1 ? " space" : " spaces") +
                ", which lines up with nothing above it (the open levels are " +
                levels_text(levels) + " spaces)",
            "yaml-indentation"};
  }
  if (!is_item(here) &&
      std::find(item_levels.begin(), item_levels.end(), here.indent) != item_levels.end()) {
    return {line, indent_column,
            said +
                ": this line lines up with the '-' of the list item above; indent it further "
                "to continue that item, or start it with '- ' for a new item",
            "yaml-indentation"};
  }
  return out;
}

}  // namespace dsa::policy::yaml
