#pragma once

// Reason codes: the fixed vocabulary of every decision the gateway can take (docs/design.md §4).
// They are written to the audit store, returned in problem bodies and counted in metrics, so their
// spelling never changes.

#include <cstdint>
#include <string_view>

namespace dsa::policy {

enum class reason : std::uint8_t {
  allowed,
  // Request stage, in the order candidates are checked (docs/design.md §4.3). Later means "got
  // further".
  unknown_requester,
  ambiguous_requester,
  no_agreement,
  // DSA-Emergency was sent but no emergency permission covers the request: a candidate that is
  // not an emergency permission gets this, so it is the reason only when no emergency one got
  // further (docs/design.md §4.2).
  emergency_not_permitted,
  agreement_inactive,
  agreement_not_yet_valid,
  agreement_expired,
  review_overdue,
  path_param_invalid,
  query_not_allowed,
  purpose_missing,
  purpose_not_permitted,
  incident_ref_invalid,
  justification_too_short,
  case_ref_missing,
  case_ref_invalid,
  case_ref_mismatch,
  acting_user_missing,
  acting_user_invalid,
  outside_time_window,
  prohibited,
  volume_cap_exceeded,
  // Response stage (docs/design.md §4.5).
  withheld_by_agreement,
  too_many_items,
  response_not_filterable,
  response_too_large,
  // Protocol and infrastructure.
  bad_request,
  headers_too_large,
  body_too_large,
  audit_unavailable,
  upstream_unavailable,
  upstream_timeout,
  upstream_status,
};

// The wire and audit spelling, e.g. "purpose_missing"; "allowed" for reason::allowed.
std::string_view to_string(reason r) noexcept;

// Parses a spelling produced by to_string; false if `text` names no reason.
bool from_string(std::string_view text, reason& out) noexcept;

// The HTTP status a refusal with this reason carries (docs/design.md §4): 403 for policy denies,
// 429 for volume caps, 400/413/431 for protocol errors, 502/503/504 for infrastructure. 200 for
// allowed.
int http_status(reason r) noexcept;

// A short human title for problem bodies ("Purpose missing").
std::string_view title(reason r) noexcept;

}  // namespace dsa::policy
