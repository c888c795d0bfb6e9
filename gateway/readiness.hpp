#pragma once

// What a configuration serves, for `--check` and /readyz (docs/operations.md, sections 3 and 7):
// a gateway with no agreement loaded, or whose upstreams no endpoint uses, would answer every
// request `no_agreement` while reporting healthy; both are refused as errors (`--check` exit 1,
// /readyz 503). An upstream no endpoint uses is a warning, with the closest name an endpoint asks
// for: a typo in an upstream name is the usual cause. No Asio: `--check` and tests use it.

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"
#include "policy/model.hpp"

namespace dsa::gateway {

// The upstream names this gateway's config serves: only their endpoints are decided here.
[[nodiscard]] std::set<std::string> served_upstreams(const config& cfg);

struct unused_upstream {
  std::string name;
  std::string suggestion;  // a name endpoints use that no upstream has; empty when none is close
};

struct serving_summary {
  std::size_t agreements = 0;
  std::size_t endpoints = 0;         // in every loaded agreement
  std::size_t served_endpoints = 0;  // whose upstream is in this config
  std::vector<unused_upstream> unused;
};

[[nodiscard]] serving_summary summarize_serving(const policy::agreement_set& set,
                                                const std::set<std::string>& upstreams);

// Why a gateway with this summary serves nothing: "no agreement loaded", "no endpoint served
// here (…)". Empty when it serves at least one endpoint.
[[nodiscard]] std::vector<std::string> serving_problems(const serving_summary& s);

// The name in `candidates` closest to `name` by edit distance, if it is within a third of the
// name's length (at least 2 edits); empty otherwise.
[[nodiscard]] std::string closest_name(std::string_view name,
                                       const std::set<std::string>& candidates);

}  // namespace dsa::gateway
