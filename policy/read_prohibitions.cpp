// Prohibitions (docs/agreements.md §3.8).

#include <string>

#include "policy/sections.hpp"

namespace dsa::policy::sections {

void read_prohibitions(reader& r, const field& top, agreement& a, const declared_ids& ids) {
  std::set<std::string> prohibition_ids;
  r.sequence(r.child(top, "prohibitions"), false, [&](const field& f) {
    if (!r.mapping(f, {"id", "assignee", "endpoints", "reason"}, {"purposes"})) {
      return;
    }
    prohibition p;
    p.id = r.id(r.child(f, "id")).value_or("");
    if (!p.id.empty() && !prohibition_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": prohibition '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    p.assignee = r.id(r.child(f, "assignee")).value_or("");
    if (p.assignee != "any") {
      check_ref(r, f.node["assignee"], r.join(f.path, "assignee"), p.assignee, ids.parties,
                "party (or 'any')");
    }
    p.endpoints = r.id_list(r.child(f, "endpoints"), true);
    check_refs(r, r.child(f, "endpoints"), p.endpoints, ids.endpoints, "endpoint");
    p.purposes = r.id_list(r.child(f, "purposes"), false);
    check_refs(r, r.child(f, "purposes"), p.purposes, ids.purposes, "purpose");
    p.reason = r.nonempty(r.child(f, "reason")).value_or("");
    a.prohibitions.push_back(std::move(p));
  });
}

}  // namespace dsa::policy::sections
