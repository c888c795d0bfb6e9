#include "policy/reason.hpp"

#include <array>
#include <cstddef>

namespace dsa::policy {
namespace {

struct reason_info {
  reason code;
  std::string_view name;
  int status;
  std::string_view title;
};

// One row per enumerator, in declaration order, so lookups by value are an index. The
// static_asserts below catch a row added, dropped or moved without the enum following.
constexpr std::array<reason_info, 34> k_reasons{{
    {reason::allowed, "allowed", 200, "Allowed"},
    {reason::unknown_requester, "unknown_requester", 403, "Unknown requester"},
    {reason::ambiguous_requester, "ambiguous_requester", 403, "Ambiguous requester"},
    {reason::no_agreement, "no_agreement", 403, "No agreement"},
    {reason::emergency_not_permitted, "emergency_not_permitted", 403, "Emergency not permitted"},
    {reason::agreement_inactive, "agreement_inactive", 403, "Agreement not active"},
    {reason::agreement_not_yet_valid, "agreement_not_yet_valid", 403, "Agreement not yet valid"},
    {reason::agreement_expired, "agreement_expired", 403, "Agreement expired"},
    {reason::review_overdue, "review_overdue", 403, "Agreement review overdue"},
    {reason::path_param_invalid, "path_param_invalid", 403, "Path parameter invalid"},
    {reason::query_not_allowed, "query_not_allowed", 403, "Query not allowed"},
    {reason::purpose_missing, "purpose_missing", 403, "Purpose missing"},
    {reason::purpose_not_permitted, "purpose_not_permitted", 403, "Purpose not permitted"},
    {reason::incident_ref_invalid, "incident_ref_invalid", 403, "Incident reference invalid"},
    {reason::justification_too_short, "justification_too_short", 403,
     "Emergency justification too short"},
    {reason::case_ref_missing, "case_ref_missing", 403, "Case reference missing"},
    {reason::case_ref_invalid, "case_ref_invalid", 403, "Case reference invalid"},
    {reason::case_ref_mismatch, "case_ref_mismatch", 403, "Case reference mismatch"},
    {reason::acting_user_missing, "acting_user_missing", 403, "Acting user missing"},
    {reason::acting_user_invalid, "acting_user_invalid", 403, "Acting user invalid"},
    {reason::outside_time_window, "outside_time_window", 403, "Outside permitted time window"},
    {reason::prohibited, "prohibited", 403, "Prohibited by agreement"},
    {reason::volume_cap_exceeded, "volume_cap_exceeded", 429, "Volume cap exceeded"},
    {reason::withheld_by_agreement, "withheld_by_agreement", 403, "Withheld by agreement"},
    {reason::too_many_items, "too_many_items", 403, "Too many items"},
    {reason::response_not_filterable, "response_not_filterable", 502, "Response not filterable"},
    {reason::response_too_large, "response_too_large", 502, "Response too large"},
    {reason::bad_request, "bad_request", 400, "Bad request"},
    {reason::headers_too_large, "headers_too_large", 431, "Request headers too large"},
    {reason::body_too_large, "body_too_large", 413, "Request body too large"},
    {reason::audit_unavailable, "audit_unavailable", 503, "Audit store unavailable"},
    {reason::upstream_unavailable, "upstream_unavailable", 502, "Upstream unavailable"},
    {reason::upstream_timeout, "upstream_timeout", 504, "Upstream timeout"},
    {reason::upstream_status, "upstream_status", 502, "Upstream error status"},
}};

constexpr bool rows_in_order() {
  for (std::size_t i = 0; i < k_reasons.size(); ++i) {
    if (static_cast<std::size_t>(k_reasons[i].code) != i) {
      return false;
    }
  }
  return true;
}
static_assert(rows_in_order(), "k_reasons rows must follow the enum's declaration order");
static_assert(static_cast<std::size_t>(reason::upstream_status) + 1 == k_reasons.size(),
              "every reason needs a row in k_reasons");

// An out-of-range value (only reachable through a bad cast) must not index past the table, and
// must never read as "allowed": it reports itself as an internal error.
constexpr reason_info k_invalid{reason::bad_request, "invalid_reason", 500, "Internal error"};

const reason_info& info(reason r) noexcept {
  const auto i = static_cast<std::size_t>(r);
  if (i >= k_reasons.size()) {
    return k_invalid;
  }
  return k_reasons[i];
}

}  // namespace

std::string_view to_string(reason r) noexcept { return info(r).name; }

bool from_string(std::string_view text, reason& out) noexcept {
  // 34 short strings: a linear scan beats a hash map here and this is not on the data path.
  for (const auto& row : k_reasons) {
    if (row.name == text) {
      out = row.code;
      return true;
    }
  }
  return false;
}

int http_status(reason r) noexcept { return info(r).status; }

std::string_view title(reason r) noexcept { return info(r).title; }

}  // namespace dsa::policy
