#pragma once

// Emergency disclosures and their reviews (docs/operations.md, "Emergency disclosures"). When
// life is at risk a permission's emergency terms let a request through on a DSA-Emergency
// incident reference and a justification; every such disclosure must then be reviewed, on the
// record, within the agreement's review_within. The gateway keeps, in memory, every emergency
// disclosure of its store by request id — seeded at start from the store's verified texts
// (audit::store::emergency_records), then told of each one committed and each review committed —
// so that /metrics can show how many reviews are overdue and the admin listener can check that
// a review names an emergency disclosure. The store stays the record: nothing here decides what
// happened, it only mirrors what was committed.
//
// Also here, without Asio: reading a review request (POST /admin/reviews) and building its
// `review` entry, and the DSA-Emergency-Review response field.
//
// Thread safety: emergency_registry may be used from any thread (one mutex); the functions are
// pure.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/entry.hpp"
#include "audit/store.hpp"
#include "common/result.hpp"

namespace dsa::gateway {

// One emergency disclosure as the registry keeps it.
struct emergency_disclosure {
  std::string request_id, agreement, permission, requester;
  std::uint64_t seq = 0;  // the disclosure's entry (request, or disclosure_started)
  std::int64_t time_us = 0, due_us = 0;
  std::uint64_t reviews = 0;  // review entries committed for it
};

// The disclosure `e` records when it is an emergency disclosure (audit::is_emergency_disclosure;
// seq left 0 for the caller to fill once committed), else nullopt.
[[nodiscard]] std::optional<emergency_disclosure> emergency_of(const audit::entry& e);

class emergency_registry {
 public:
  // Seeds from a store's emergency disclosures and reviews, in seq order (a review counts for
  // the disclosure its request_id names; one naming none is ignored).
  void seed(const std::vector<audit::emergency_record>& records);
  // A disclosure was committed. A second one with the same request id is ignored.
  void disclosed(emergency_disclosure d);
  // A review of `request_id` was committed.
  void reviewed(const std::string& request_id);
  [[nodiscard]] std::optional<emergency_disclosure> find(const std::string& request_id) const;
  // Disclosures not yet reviewed, and those of them whose due time is before `now_us`, oldest
  // first.
  [[nodiscard]] std::size_t pending() const;
  [[nodiscard]] std::vector<emergency_disclosure> overdue(std::int64_t now_us) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, emergency_disclosure> by_request_;
};

// The outcomes a review may record.
inline constexpr std::string_view review_outcomes[] = {"justified", "not_justified",
                                                       "needs_escalation"};

// A review request, POST /admin/reviews with a JSON object (docs/gateway.md, "Admin listener"):
// {"request_id": "…"} or {"seq": N}, and "outcome", "reviewer", "note".
struct review_request {
  std::optional<std::string> request_id;
  std::optional<std::uint64_t> seq;
  std::string outcome, reviewer, note;
};

// Reads and checks a review request body: exactly one of request_id (1–128 characters) and seq
// (a non-negative integer); outcome one of review_outcomes; reviewer 1–200 and note 1–4000
// characters. The error names the member and what was expected.
[[nodiscard]] result<review_request> parse_review_request(std::string_view body);

// The `review` entry recording `req` for the disclosure `d`, at `now_us` (docs/auditing.md,
// "Emergency disclosures and their reviews").
[[nodiscard]] audit::entry review_entry(const review_request& req, const emergency_disclosure& d,
                                        std::int64_t now_us);

// The value of DSA-Emergency-Review on an emergency disclosure's response:
// `due=<RFC 3339 UTC, whole seconds>; within=<the agreement's review_within text>`.
[[nodiscard]] std::string emergency_review_field(std::int64_t due_us,
                                                 std::string_view review_within);

// The Prometheus families that read the registry: dsa_emergency_reviews_pending and
// dsa_emergency_reviews_overdue (gauges), with HELP and TYPE.
[[nodiscard]] std::string render_emergency_gauges(const emergency_registry& r, std::int64_t now_us);

}  // namespace dsa::gateway
