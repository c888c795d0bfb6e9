#pragma once

// The human-readable form of an agreement for sign-off (`dsa render`): who shares what with
// whom, under which law, for which purposes, which fields leave, on which conditions, and the
// governance arrangements — written for an IG officer or a Caldicott Guardian, not an engineer.

#include <string>

#include "model.hpp"

namespace dsa::policy {

// GitHub-flavoured Markdown.
std::string render_markdown(const agreement& a);

// One self-contained HTML5 page (inline CSS, no scripts, no external resources), every value
// HTML-escaped, printable on A4.
std::string render_html(const agreement& a);

}  // namespace dsa::policy
