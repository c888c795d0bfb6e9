// Legal gateways and lawful bases, purposes and data categories (docs/agreements.md §3.4), and
// the reference checks the later sections make against every id declared.

#include <algorithm>
#include <string>

#include "policy/sections.hpp"
#include "policy/suggest.hpp"

namespace dsa::policy::sections {

void check_ref(reader& r, const YAML::Node& at, const std::string& path, const std::string& value,
               const std::set<std::string>& ids, std::string_view what) {
  if (!value.empty() && !ids.count(value)) {
    std::vector<std::string> declared(ids.begin(), ids.end());
    std::string hint = did_you_mean_suffix(value, declared);
    // With no likely typo, the ids there are to choose from (agreements declare a handful).
    if (hint.empty() && !declared.empty() && declared.size() <= 8) {
      hint = " (declared: ";
      for (std::size_t i = 0; i < declared.size(); ++i) {
        hint += (i == 0 ? "" : ", ") + declared[i];
      }
      hint += ")";
    }
    r.error(at,
            path + ": '" + value + "' is not a " + std::string(what) + " of this agreement" + hint,
            "dangling-reference");
  }
}

void check_refs(reader& r, const field& list, const std::vector<std::string>& values,
                const std::set<std::string>& ids, std::string_view what) {
  // `values` holds only the valid ids; look each element up again for its position.
  if (!list.node.IsSequence()) {
    return;
  }
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    if (list.node[i].IsScalar() &&
        std::find(values.begin(), values.end(), list.node[i].Scalar()) != values.end()) {
      check_ref(r, list.node[i], list.path + "[" + std::to_string(i) + "]", list.node[i].Scalar(),
                ids, what);
    }
  }
}

void read_legal(reader& r, const field& top, agreement& a, declared_ids& ids) {
  field legal = r.child(top, "legal");
  auto read_citations = [&](const field& list, std::vector<citation>& out,
                            std::set<std::string>& declared) {
    r.sequence(list, true, [&](const field& f) {
      if (!r.mapping(f, {"id", "cite"}, {})) {
        return;
      }
      citation c{r.id(r.child(f, "id")).value_or(""), r.nonempty(r.child(f, "cite")).value_or("")};
      if (!c.id.empty() && !declared.insert(c.id).second) {
        r.error(f.node["id"], r.join(f.path, "id") + ": '" + c.id + "' is declared twice",
                "duplicate-id");
      }
      out.push_back(std::move(c));
    });
  };
  if (r.present(legal) && r.mapping(legal, {"gateways", "lawful_bases"}, {})) {
    read_citations(r.child(legal, "gateways"), a.legal_gateways, ids.gateways);
    read_citations(r.child(legal, "lawful_bases"), a.lawful_bases, ids.bases);
  }

  r.sequence(r.child(top, "purposes"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "description"}, {})) {
      return;
    }
    purpose p{r.id(r.child(f, "id")).value_or(""),
              r.nonempty(r.child(f, "description")).value_or("")};
    if (!p.id.empty() && !ids.purposes.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": purpose '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    a.purposes.push_back(std::move(p));
  });

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
    if (!c.id.empty() && !ids.categories.insert(c.id).second) {
      r.error(f.node["id"],
              r.join(f.path, "id") + ": data category '" + c.id + "' is declared twice",
              "duplicate-id");
    }
    a.data_categories.push_back(std::move(c));
  });
}

}  // namespace dsa::policy::sections
