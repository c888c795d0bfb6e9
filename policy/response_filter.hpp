#pragma once

// The response filter (docs/design.md §3 `response`, §4.5): what an agreement lets leave. Runs on
// the upstream's complete body (the only place the gateway buffers one).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/model.hpp"
#include "policy/reason.hpp"

namespace dsa::policy {

struct filter_result {
  reason why = reason::response_not_filterable;  // allowed, withheld_by_agreement,
                                                 // too_many_items or response_not_filterable
  bool changed = false;     // body holds the filtered JSON; otherwise the input passes as is
  std::string body;         // the filtered body when `changed`
  std::uint64_t items = 0;  // elements at max_items.pointer, else top-level array size, else 1
  std::uint64_t fields_removed = 0;  // object members and array elements removed
  std::string detail;                // which rule withheld it, for the problem body and the audit
  // With allow_fields, the patterns (their text as written in the agreement, in agreement order)
  // that matched at least one member of the released body; a pattern that matched nothing is
  // absent. Found during the walk that writes the filtered body (docs/auditing.md, "What each
  // entry records").
  std::vector<std::string> released_fields;
  // The identifiers response.subjects reaches in what is released (allowed responses only): each
  // string's value or number's JSON text, sorted and unique. The gateway records keyed hashes of
  // them, never these values (docs/auditing.md, "A subject access request").
  std::vector<std::string> subjects;

  bool allowed() const noexcept { return why == reason::allowed; }
};

// Applies `rules` to `body`:
// - no filtering rules (rules.filters() false): allowed, unchanged (binary bodies pass);
// - body not JSON: response_not_filterable;
// - any withhold_if pointer (with '*') matching a value equal to `equals` anywhere in the
//   unfiltered body: withheld_by_agreement;
// - an array at max_items.pointer longer than max: too_many_items;
// - otherwise keeps only what allow_fields covers (a pointer to an object or array keeps its whole
//   subtree; containers on the way to an allowed pointer are kept with only allowed children),
//   serialises compactly, counts what was removed and reports the patterns that released
//   something (released_fields).
// - with response.subjects, an allowed result lists the string and number values those pointers
//   reach that allow_fields releases (every one of them when there is no allow_fields); other
//   value types (objects, arrays, booleans, null) are not identifiers and are skipped.
[[nodiscard]] filter_result filter_response(const response_rules& rules, std::string_view body);

}  // namespace dsa::policy
