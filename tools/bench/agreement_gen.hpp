#pragma once

// The generated agreements of `dsa-bench policy` and `dsa-bench memory`: N realistic agreements
// among N/5 organisations (at least 3), each a provider sharing three endpoints (a case read, a
// case list, a note write) with two requesters under the conditions real agreements carry — case
// references, acting users, a time window, a volume cap, query parameters and a prohibition.
// Every party is identified by trust anchor `partner-ca` and the URI SAN
// spiffe://org<N>.example/gw; every endpoint names the upstream `up`. Deterministic for a given
// random generator state.

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace dsa::bench {

// The organisations of agreement i: the provider and the two requesters (all different).
struct generated_shape {
  int provider = 0, r1 = 0, r2 = 0;
};

// How many organisations `count` agreements are spread over.
[[nodiscard]] int generated_organisations(int count);

// The YAML text of agreement i (id bench-<i>, endpoints under /svc<i>).
[[nodiscard]] std::string generated_agreement_yaml(int i, const generated_shape& s);

// Writes DIR/bench-<i>.yaml for i in [0, count), drawing each agreement's organisations from
// `rng`; returns the shapes in order.
std::vector<generated_shape> write_generated_agreements(const std::filesystem::path& dir, int count,
                                                        std::mt19937& rng);

}  // namespace dsa::bench
