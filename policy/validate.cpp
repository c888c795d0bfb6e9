// Whole-file lint warnings and cross-file rules; see validate.hpp.

#include "policy/validate.hpp"

#include <date/tz.h>

#include <chrono>
#include <string_view>

#include "policy/time.hpp"

namespace dsa::policy {

using namespace std::chrono;

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
}

bool cross_file_checker::check(yaml::reader& r, YAML::Node root, const agreement& a) {
  bool cross_ok = true;
  if (auto [it, inserted] = agreement_files_.emplace(a.id, r.file()); !inserted) {
    r.error(root["id"], "id: agreement '" + a.id + "' is also defined in " + it->second,
            "duplicate-agreement");
    cross_ok = false;
  }
  for (std::size_t pi = 0; pi < a.parties.size(); ++pi) {
    const party& p = a.parties[pi];
    YAML::Node pnode = root["parties"][pi];
    if (auto [it, inserted] = party_names_.emplace(p.id, std::pair{p.name, r.file()});
        !inserted && it->second.first != p.name) {
      r.error(pnode["name"],
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
        r.error(pnode["identities"][ii],
                "parties[" + std::to_string(pi) + "].identities[" + std::to_string(ii) +
                    "]: this identity (" + rule.value + ") is already declared for party '" +
                    it->second.first + "' in " + it->second.second +
                    "; one certificate identity cannot map to two parties",
                "identity-conflict");
        cross_ok = false;
      }
    }
  }
  return cross_ok;
}

}  // namespace dsa::policy
