// The rendered document as one self-contained HTML5 page: inline CSS, no scripts, no external
// resources, printable on A4. Every value from the agreement is HTML-escaped (`& < > " '`) and
// control characters are dropped where it is written.

#include <cstdint>
#include <string>
#include <string_view>

#include "render/document.hpp"
#include "render/render.hpp"
#include "render/words.hpp"

namespace dsa::policy {

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

namespace {

using namespace doc;

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

std::string render_html(const agreement& a) {
  const blocks doc = doc::build_document(a);
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
