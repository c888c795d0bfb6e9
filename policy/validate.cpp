// Whole-file lint warnings and cross-file rules; see validate.hpp.

#include "policy/validate.hpp"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "policy/time.hpp"

namespace dsa::policy {

using namespace std::chrono;

namespace {

// The node of the list element under `list` whose `id` is `id` (positions for warnings are found
// by id: the loader may have dropped or reordered elements it could not read).
YAML::Node element_with_id(const YAML::Node& root, const char* list, const std::string& id) {
  YAML::Node seq = root[list];
  for (std::size_t i = 0; seq.IsSequence() && i < seq.size(); ++i) {
    if (seq[i].IsMap() && seq[i]["id"].IsScalar() && seq[i]["id"].Scalar() == id) {
      return seq[i];
    }
  }
  return root;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// True when some value `subject` reaches can lie inside what `allow` releases: `allow` is, segment
// by segment, a prefix of `subject` where a '*' on either side can stand for the other's segment
// (a pointer to a container releases its whole subtree).
bool may_release(const json_pointer& allow, const json_pointer& subject) {
  if (allow.segments.size() > subject.segments.size()) {
    return false;
  }
  for (std::size_t i = 0; i < allow.segments.size(); ++i) {
    const std::string& a = allow.segments[i];
    const std::string& s = subject.segments[i];
    if (a != "*" && s != "*" && a != s) {
      return false;
    }
  }
  return true;
}

// A subjects pointer that no allow_fields pointer can release names identifiers that never leave,
// so no disclosure would ever be recorded under it: almost certainly a typo or a forgotten
// allow_fields entry (docs/agreements.md, "Data subjects").
void lint_subjects(yaml::reader& r, const YAML::Node& node, const endpoint& e) {
  YAML::Node list = node["response"]["subjects"];
  for (std::size_t i = 0; i < e.response.subjects.size(); ++i) {
    const json_pointer& subject = e.response.subjects[i];
    const bool released =
        std::any_of(e.response.allow_fields.begin(), e.response.allow_fields.end(),
                    [&](const json_pointer& allow) { return may_release(allow, subject); });
    if (released) {
      continue;
    }
    // The list position of the pointer, found by its text (the loader drops malformed ones).
    YAML::Node at = list;
    for (std::size_t k = 0; list.IsSequence() && k < list.size(); ++k) {
      if (list[k].IsScalar() && list[k].Scalar() == subject.text) {
        at = list[k];
        break;
      }
    }
    r.warning(at,
              "endpoint '" + e.id + "': subjects pointer " + subject.text +
                  " is not covered by allow_fields, so it can never be in what is released and "
                  "no disclosure is recorded under it (release the field or remove the pointer)",
              "subject-not-released");
  }
}

// Warnings about what the file declares but nothing uses, or uses so that it can never work
// (docs/agreements.md, "Warnings"): each is a silent mistake, not a refusal at load.
void lint_references(yaml::reader& r, const YAML::Node& root, const agreement& a) {
  for (const endpoint& e : a.endpoints) {
    YAML::Node node = element_with_id(root, "endpoints", e.id);
    bool used = std::any_of(a.permissions.begin(), a.permissions.end(),
                            [&](const permission& p) { return contains(p.endpoints, e.id); });
    if (!used) {
      r.warning(node["id"],
                "endpoint '" + e.id +
                    "' is not named by any permission, so no request can reach it (name it in a "
                    "permission or remove it)",
                "unused-endpoint");
    }
    for (const path_param& pp : e.path_params) {
      if (!pp.re) {
        r.warning(node["path"],
                  "endpoint '" + e.id + "': the placeholder {" + pp.name +
                      "} has no pattern in path_params, so any value of that path segment is "
                      "accepted",
                  "unpatterned-placeholder");
      }
    }
    if (e.response.has_allow_fields) {
      lint_subjects(r, node, e);
    }
    if (e.response.has_allow_fields && e.response.allow_fields.empty()) {
      r.warning(node["response"]["allow_fields"],
                "endpoint '" + e.id +
                    "': allow_fields is empty, so nothing of any response is released (an empty "
                    "JSON value leaves); list the fields to release",
                "empty-allow-fields");
    }
  }
  for (const purpose& u : a.purposes) {
    bool used = std::any_of(a.permissions.begin(), a.permissions.end(),
                            [&](const permission& p) { return contains(p.purposes, u.id); }) ||
                std::any_of(a.prohibitions.begin(), a.prohibitions.end(),
                            [&](const prohibition& p) { return contains(p.purposes, u.id); });
    if (!used) {
      r.warning(element_with_id(root, "purposes", u.id)["id"],
                "purpose '" + u.id + "' is not named by any permission or prohibition",
                "unused-purpose");
    }
  }
  // An emergency permission is used under pressure and reviewed only afterwards; without a cap
  // per incident one declared emergency can draw on the whole allowance of the permission
  // (docs/agreements.md, "Emergency disclosures").
  for (const permission& p : a.permissions) {
    if (p.emergency &&
        std::none_of(p.volume_caps.begin(), p.volume_caps.end(),
                     [](const volume_cap& c) { return c.scope == cap_scope::incident; })) {
      r.warning(element_with_id(root, "permissions", p.id)["emergency"],
                "emergency permission '" + p.id +
                    "' has no volume cap per incident, so one declared emergency may use its "
                    "whole allowance (add e.g. {scope: incident, window: P1D, max: 10} to "
                    "volume_caps)",
                "emergency-without-incident-cap");
    }
  }
  // A prohibition always wins (docs/design.md §4.3), so a permitted purpose it matches on every
  // endpoint of the permission can never be used: the permission says yes and means no.
  for (const permission& p : a.permissions) {
    YAML::Node pnode = element_with_id(root, "permissions", p.id);
    for (std::size_t ui = 0; ui < p.purposes.size(); ++ui) {
      const std::string& u = p.purposes[ui];
      std::string blocked_by;
      bool every_endpoint = !p.endpoints.empty();
      for (const std::string& e : p.endpoints) {
        auto it =
            std::find_if(a.prohibitions.begin(), a.prohibitions.end(), [&](const prohibition& x) {
              return (x.assignee == "any" || x.assignee == p.assignee) &&
                     contains(x.endpoints, e) && (x.purposes.empty() || contains(x.purposes, u));
            });
        if (it == a.prohibitions.end()) {
          every_endpoint = false;
          break;
        }
        blocked_by = it->id;
      }
      if (every_endpoint) {
        YAML::Node list = pnode["purposes"];
        YAML::Node at = list.IsSequence() && ui < list.size() ? list[ui] : pnode;
        r.warning(at,
                  "permission '" + p.id + "' permits purpose '" + u + "', but prohibition '" +
                      blocked_by +
                      "' refuses it on every endpoint of the permission (a prohibition always "
                      "wins); remove the purpose or narrow the prohibition",
                  "prohibited-purpose");
      }
    }
  }
}

// The response rules as one comparable text (docs/agreements.md, "Warnings": two endpoints for
// the same upstream resource should release the same fields).
std::string response_signature(const endpoint& e) {
  const response_rules& rr = e.response;
  std::string s = e.has_response ? "r" : "-";
  s += rr.has_allow_fields ? "a" : "-";
  for (const json_pointer& p : rr.allow_fields) {
    s += '\x1f' + p.text;
  }
  if (rr.max_items) {
    s += "\x1em" + rr.max_items->pointer.text + '=' + std::to_string(rr.max_items->max);
  }
  for (const withhold_rule& w : rr.withhold_if) {
    s += "\x1ew" + w.pointer.text + '=' + w.equals_json;
  }
  for (const auto& [name, value] : rr.add_headers) {
    s += "\x1eh" + name + '=' + value;
  }
  return s;
}

// "GET council-asb /asb/v1/cases/{}": placeholders are compared by position, not by name.
std::string resource_key(const endpoint& e) {
  std::string key = e.method + ' ' + e.upstream + ' ';
  for (const path_segment& seg : e.segments) {
    key += '/';
    key += seg.param >= 0 ? "{}" : seg.literal;
  }
  return key;
}

}  // namespace

void lint_agreement(yaml::reader& r, const YAML::Node& root, const agreement& a,
                    const load_options& options) {
  yaml::field gov = r.child({root, ""}, "governance");
  // The ICO data sharing code expects an agreement to say who is responsible, how the data is
  // kept secure, what happens after a breach, how long it is kept, and who signed it off.
  for (std::string_view section : {"duties", "security", "breaches", "retention", "approvals"}) {
    if (!gov.node.IsMap() || !gov.node[std::string(section)].IsDefined()) {
      r.warning(gov.node.IsDefined() ? gov.node : root,
                "governance." + std::string(section) +
                    " is missing (the ICO data sharing code recommends it)",
                "governance-missing");
    }
  }
  if (a.review_due) {
    auto today = date::year_month_day{floor<date::days>(options.now)};
    if (london_zone() != nullptr) {
      today = date::year_month_day{
          floor<date::days>(london_zone()->to_local(floor<seconds>(options.now)))};
    }
    if (today > *a.review_due) {
      r.warning(
          root["review"],
          "review: this agreement was due for review on " + date::format("%F", *a.review_due) +
              (a.review_overdue_denies ? " and now refuses every request (overdue: deny)" : ""),
          "review-overdue");
    }
  } else {
    r.warning(root, "review: no review date is set", "review-missing");
  }
  if (a.valid_until.time_since_epoch().count() != 0 && options.now >= a.valid_until) {
    r.warning(root["validity"], "validity: this agreement ended on " + a.valid_until_text,
              "agreement-ended");
  }
  lint_references(r, root, a);
}

bool cross_file_checker::check(yaml::reader& r, const std::function<const YAML::Node&()>& root,
                               const agreement& a) {
  bool cross_ok = true;
  if (auto [it, inserted] = agreement_files_.emplace(a.id, r.file()); !inserted) {
    r.error(root()["id"], "id: agreement '" + a.id + "' is also defined in " + it->second,
            "duplicate-agreement");
    cross_ok = false;
  }
  for (std::size_t pi = 0; pi < a.parties.size(); ++pi) {
    const party& p = a.parties[pi];
    const auto pnode = [&] { return root()["parties"][pi]; };
    if (auto [it, inserted] = party_names_.emplace(p.id, std::pair{p.name, r.file()});
        !inserted && it->second.first != p.name) {
      r.error(pnode()["name"],
              "parties[" + std::to_string(pi) + "].name: party '" + p.id + "' is '" +
                  it->second.first + "' in " + it->second.second +
                  "; a party id means one organisation everywhere",
              "party-conflict");
      cross_ok = false;
    }
    for (std::size_t ii = 0; ii < p.identities.size(); ++ii) {
      const identity_rule& rule = p.identities[ii];
      std::string key = agreement_set::identity_key(rule.trust_anchor, rule.kind, rule.match_value);
      if (auto [it, inserted] = identity_owner_.emplace(key, std::pair{p.id, r.file()});
          !inserted && it->second.first != p.id) {
        r.error(pnode()["identities"][ii],
                "parties[" + std::to_string(pi) + "].identities[" + std::to_string(ii) +
                    "]: this identity (" + rule.value + ") is already declared for party '" +
                    it->second.first + "' in " + it->second.second +
                    "; one certificate identity cannot map to two parties",
                "identity-conflict");
        cross_ok = false;
      }
    }
  }
  if (lint_warnings_) {
    for (const endpoint& e : a.endpoints) {
      std::string sig = response_signature(e);
      auto [it, inserted] =
          resources_.emplace(resource_key(e), resource{a.id, e.id, r.file(), sig});
      if (!inserted && it->second.signature != sig) {
        r.warning(element_with_id(root(), "endpoints", e.id)["id"],
                  "endpoint '" + e.id + "' (" + e.method + ' ' + e.path + " on upstream '" +
                      e.upstream + "') has different response rules from endpoint '" +
                      it->second.endpoint + "' of agreement '" + it->second.agreement + "' in " +
                      it->second.file +
                      ", which calls the same resource: which fields leave then depends on which "
                      "permission matched",
                  "conflicting-response-rules");
      }
    }
  }
  return cross_ok;
}

}  // namespace dsa::policy
