#include "tools/bench/sample_entry.hpp"

#include <string>

#include "common/clock.hpp"

namespace dsa::bench {
namespace {

std::string hex64(std::mt19937_64& rng) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < 64; i += 16) {
    std::uint64_t v = rng();
    for (std::size_t k = 0; k < 16; ++k) {
      out[i + k] = digits[(v >> (4 * k)) & 0xf];
    }
  }
  return out;
}

}  // namespace

audit::entry realistic_entry(std::mt19937_64& rng, std::uint64_t n) {
  static const char* const parties[] = {"northshire-police", "eastvale-council",
                                        "westmoor-youth-justice", "riverside-housing"};
  static const char* const agreements[] = {"asb-case-sharing", "youth-justice-referrals",
                                           "housing-tenancy-checks"};
  audit::entry e;
  e.time_us = common::now_us();
  e.request_id = "01J" + std::to_string(1'000'000'000 + n) + "-" + std::to_string(rng() % 100000);
  const bool deny = rng() % 10 == 0;
  e.decision = deny ? audit::entry_decision::deny : audit::entry_decision::allow;
  e.reason = deny ? "purpose_not_permitted" : "";
  e.status = deny ? 403 : 200;
  const char* party = parties[rng() % 4];
  e.requester = {party, "CN=cms." + std::string(party) + ".example,O=" + std::string(party),
                 hex64(rng), "partners-ca"};
  e.agreement = agreements[rng() % 3];
  e.agreement_version = "2.3.1";
  e.agreement_sha256 = hex64(rng);
  e.permission = "police-read-asb-cases";
  e.endpoint = "get-asb-case";
  e.purpose = "asb-casework";
  const std::string case_ref = "ASB-2025-" + std::to_string(100000 + rng() % 900000);
  e.case_ref = case_ref;
  e.acting_user = "PC " + std::to_string(1000 + rng() % 9000);
  e.method = "GET";
  e.path = "/asb/v1/cases/" + case_ref;
  e.query = "include=incidents";
  e.upstream = "asb-case-system";
  e.upstream_status = deny ? 0 : 200;
  e.upstream_latency_us = deny ? -1 : static_cast<std::int64_t>(500 + rng() % 5000);
  e.bytes = deny ? 0 : static_cast<std::int64_t>(800 + rng() % 1000);
  e.items = deny ? 0 : static_cast<std::int64_t>(1 + rng() % 20);
  e.fields_removed = deny ? 0 : static_cast<std::int64_t>(rng() % 12);
  e.body_sha256 = deny ? "" : hex64(rng);
  // The agreement file's digest is fixed per agreement in real traffic; one random value is as big.
  e.counted = !deny;
  return e;
}

}  // namespace dsa::bench
