#pragma once

// What an amendment changes in who can see what (`dsa diff`, docs/agreements.md §2.4): two
// agreement sets compared agreement by agreement (matched by id), each difference in plain words
// with whether it widens access, narrows it, or neither. A pure function of its arguments, so the
// sign-off wording and the widening rules are tested without running the tool.

#include <string>
#include <string_view>
#include <vector>

#include "policy/model.hpp"

namespace dsa::policy::doc {

enum class change_effect : std::uint8_t { widens, narrows, neutral };

struct change {
  std::string agreement;  // the agreement id
  std::string subject;    // what changed within it: "permission police-read-case", "agreement", …
  std::string what;       // a stable code: "permission_added", "allow_field_added", …
  change_effect effect = change_effect::neutral;
  std::string words;  // the change in plain words, one sentence without a final period
};

// Every difference between `before` and `after`, in agreement id order and, within an agreement,
// in the order docs/agreements.md §2.4 lists. A change whose effect depends on comparing regular
// expressions (a pattern rewritten) counts as widening: the tool cannot show it is not.
std::vector<change> diff_agreements(const agreement_set& before, const agreement_set& after);

std::string_view to_string(change_effect e) noexcept;

}  // namespace dsa::policy::doc
