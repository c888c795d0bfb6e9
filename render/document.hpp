#pragma once

// The rendered document as a tree (`block`s of `span`s), built once per call from the loaded
// model so that the Markdown and the HTML say the same thing (render.hpp). Spans carry raw text:
// each writer escapes for its format where it writes.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "policy/model.hpp"

namespace dsa::policy::doc {

struct span {
  enum class kind : std::uint8_t { text, code, strong, em };
  kind k = kind::text;
  std::string s;
};
using line = std::vector<span>;

inline span text(std::string s) { return {span::kind::text, std::move(s)}; }
inline span code(std::string s) { return {span::kind::code, std::move(s)}; }
inline span strong(std::string s) { return {span::kind::strong, std::move(s)}; }
inline span em(std::string s) { return {span::kind::em, std::move(s)}; }

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

block heading(int level, std::string title, std::string anchor = {});
block para(line l, block::kind k = block::kind::paragraph);
block bullet_list(std::vector<line> lines);
block fields_block();
void add_field(block& f, std::string term, line value);

// The whole document for `a`, in reading order: header, parties, legal basis, purposes, data,
// permissions, endpoints, prohibitions, governance, sign-off, technical appendix.
blocks build_document(const agreement& a);

// The governance section (governance.cpp): the free-form mapping shown by its shape.
blocks governance_blocks(const agreement& a);

}  // namespace dsa::policy::doc
