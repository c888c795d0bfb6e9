// The rendered document as GitHub-flavoured Markdown. Every value from the agreement is escaped
// where it is written: the characters that would change structure (`|` in tables, emphasis,
// links, HTML, leading `#`/`-`/`1.`) are backslash-escaped.

#include <string>
#include <string_view>

#include "render/document.hpp"
#include "render/render.hpp"
#include "render/words.hpp"

namespace dsa::policy {

// `|` is escaped everywhere, not only in tables: a paragraph line holding a `|` can otherwise
// be read as a table row when it follows another.
std::string md_escape(std::string_view raw) {
  const std::string s = doc::collapse(raw);
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

namespace {

using namespace doc;

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

}  // namespace

std::string render_markdown(const agreement& a) {
  const blocks doc = doc::build_document(a);
  std::string out;
  md_blocks(out, doc);
  out += "---\n\n";
  out += "*Agreement " + md_code(a.id, false) + " version " + md_escape(a.version) + " · file " +
         md_code(file_name(a), false) + " · SHA-256 " +
         md_code(a.sha256.empty() ? std::string("(unknown)") : a.sha256, false) +
         " · rendered by dsa render*\n";
  return out;
}

}  // namespace dsa::policy
