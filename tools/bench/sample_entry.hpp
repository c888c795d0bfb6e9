#pragma once

// Audit entries shaped like the gateway's (every field filled, as for an allowed, filtered GET;
// one in ten a deny), for the audit-store benchmarks: `dsa-bench audit` and the latency floor of
// `dsa-bench http`. Deterministic for a given generator state.

#include <cstdint>
#include <random>

#include "audit/entry.hpp"

namespace dsa::bench {

[[nodiscard]] audit::entry realistic_entry(std::mt19937_64& rng, std::uint64_t n);

}  // namespace dsa::bench
