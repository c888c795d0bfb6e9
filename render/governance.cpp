// The governance section of the rendered document. `governance` is free-form (docs/agreements.md
// §3.9): the gateway does not interpret it, so it is shown by its shape — each top-level key a
// heading, nested mappings as headings or definition lists, a list of flat mappings with the same
// keys (approvals, contacts) as a table, anything nested deeper than the document can show as its
// YAML. A value that names a party id is shown as that party's name.

#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>

#include "render/document.hpp"
#include "render/words.hpp"

namespace dsa::policy::doc {
namespace {

class governance_writer {
 public:
  explicit governance_writer(const agreement& a) : a_(a) {}

  blocks section() const {
    blocks out;
    out.push_back(heading(2, "Governance", "governance"));
    const std::optional<free_value>& g = a_.governance;
    if (!g || g->k == free_value::kind::null ||
        (g->k == free_value::kind::mapping && g->entries.empty())) {
      out.push_back(para({text("No governance arrangements are recorded in this agreement.")},
                         block::kind::warning));
      return out;
    }
    if (g->k != free_value::kind::mapping) {
      blocks b = node(*g, 7, 0);
      std::move(b.begin(), b.end(), std::back_inserter(out));
      return out;
    }
    // Each top-level section gets a heading; its contents take the shape of the YAML.
    for (const free_value::entry& e : g->entries) {
      out.push_back(heading(3, key_words(e.key)));
      blocks b = node(e.value, 4, 1);
      std::move(b.begin(), b.end(), std::back_inserter(out));
    }
    return out;
  }

 private:
  const agreement& a_;

  // A scalar (or an absent or null value: "—"), as a party's name when it is a party id.
  std::string scalar_words(const free_value* n) const {
    if (n == nullptr || n->k == free_value::kind::null) {
      return "—";
    }
    const std::string& s = n->scalar;
    if (a_.find_party(s) != nullptr) {
      return party_name(a_, s);
    }
    return squash(s);
  }

  std::string key_words(const std::optional<std::string>& key) const {
    const std::string s = key ? *key : std::string("(key)");
    if (a_.find_party(s) != nullptr) {
      return party_name(a_, s);
    }
    return humanise(s);
  }

  static bool all_scalar_values(const free_value& m) {
    return std::all_of(m.entries.begin(), m.entries.end(), [](const free_value::entry& e) {
      return e.value.k == free_value::kind::scalar || e.value.k == free_value::kind::null;
    });
  }

  // A value as blocks; headings only where `level` is still a heading level. From
  // free_value::flow_depth down the YAML is shown as written, in flow form.
  blocks node(const free_value& n, int level, int depth) const {
    if (depth >= free_value::flow_depth) {
      return {para({code(n.flow)})};
    }
    if (n.k == free_value::kind::null || n.k == free_value::kind::scalar) {
      return {para({text(scalar_words(&n))})};
    }
    if (n.k == free_value::kind::sequence) {
      // A list of flat mappings with the same shape (e.g. approvals) reads best as a table.
      bool tabular = !n.items.empty();
      std::vector<std::string> keys;
      for (const free_value& item : n.items) {
        if (item.k != free_value::kind::mapping || !all_scalar_values(item)) {
          tabular = false;
          break;
        }
        for (const free_value::entry& e : item.entries) {
          std::string k = e.key.value_or(std::string());
          if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
            keys.push_back(k);
          }
        }
      }
      if (tabular && keys.size() <= 6) {
        block t;
        t.k = block::kind::table;
        for (const std::string& k : keys) {
          t.header.push_back({text(humanise(k))});
        }
        for (const free_value& item : n.items) {
          std::vector<line> row;
          for (const std::string& k : keys) {
            row.push_back({text(scalar_words(item.find(k)))});
          }
          t.rows.push_back(std::move(row));
        }
        return {std::move(t)};
      }
      block l;
      l.k = block::kind::list;
      for (const free_value& item : n.items) {
        l.items.push_back(node(item, 7, depth + 1));
      }
      return {std::move(l)};
    }
    // A mapping.
    blocks out;
    if (level <= 6 && !all_scalar_values(n)) {
      for (const free_value::entry& e : n.entries) {
        out.push_back(heading(level, key_words(e.key)));
        blocks inner = node(e.value, level + 1, depth + 1);
        std::move(inner.begin(), inner.end(), std::back_inserter(out));
      }
      return out;
    }
    block f = fields_block();
    for (const free_value::entry& e : n.entries) {
      f.terms.emplace_back(line{text(key_words(e.key))}, node(e.value, 7, depth + 1));
    }
    out.push_back(std::move(f));
    return out;
  }
};

}  // namespace

blocks governance_blocks(const agreement& a) { return governance_writer(a).section(); }

}  // namespace dsa::policy::doc
