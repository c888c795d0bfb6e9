#pragma once

// `dsa render`: the agreement as the document its signatories read (docs/design.md §8).
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
//
// The library (dsa_render) is linked by the `dsa` tool only; the gateway never renders. Files:
// document.{hpp,cpp} build the tree from the model, governance.cpp its free-form section,
// words.{hpp,cpp} say values in plain words, markdown.cpp and html.cpp write the two formats.

#include <string>
#include <string_view>

#include "policy/model.hpp"

namespace dsa::policy {

// GitHub-flavoured Markdown.
std::string render_markdown(const agreement& a);

// One self-contained HTML5 page (inline CSS, no scripts, no external resources), every value
// HTML-escaped, printable on A4.
std::string render_html(const agreement& a);

// The escaping each writer applies to every value it writes, for other documents built from the
// model (`dsa register`): HTML escapes `& < > " '` and drops control characters; Markdown folds
// white space and backslash-escapes the characters that would change structure, `|` included.
std::string html_escape(std::string_view s);
std::string md_escape(std::string_view raw);

}  // namespace dsa::policy
