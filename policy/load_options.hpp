#pragma once

// How load_agreements (loader.hpp) is asked to run; read by the per-section readers too.

#include <optional>
#include <set>
#include <string>

#include "policy/model.hpp"

namespace dsa::policy {

struct load_options {
  // When set (from the gateway config), identities must name one of these trust anchors and
  // endpoints' upstreams are checked against `upstreams` only for `--check` listings.
  std::optional<std::set<std::string>> trust_anchors;
  // Used for review-due and expiry warnings.
  time_point now{};
  // Emit lint-level warnings (missing governance sections, unfiltered endpoints, review due).
  bool lint_warnings = false;
};

}  // namespace dsa::policy
