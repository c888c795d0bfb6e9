#pragma once

// Loads `dsa/v1` agreement files (SPEC §3) into an immutable agreement_set. Never throws and
// never crashes on any input: every problem becomes a diagnostic naming file:line:column, what
// was found and what was expected.

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model.hpp"

namespace dsa::policy {

enum class severity : std::uint8_t { error, warning };

struct diagnostic {
  std::string file;
  int line = 0, column = 0;  // 1-based; 0 when the problem concerns the whole file
  severity level = severity::error;
  std::string message;
  std::string code;  // stable short code, e.g. "unknown-key", "bad-regex", "dangling-reference"

  // "file:line:col: error: message [code]" (SPEC §8).
  std::string format() const;
};

struct load_options {
  // When set (from the gateway config), identities must name one of these trust anchors and
  // endpoints' upstreams are checked against `upstreams` only for `--check` listings.
  std::optional<std::set<std::string>> trust_anchors;
  // Used for review-due and expiry warnings.
  time_point now{};
  // Emit lint-level warnings (missing governance sections, unfiltered endpoints, review due).
  bool lint_warnings = false;
};

struct load_result {
  std::shared_ptr<const agreement_set> set;  // null when any error was found
  std::vector<diagnostic> diagnostics;       // errors and warnings, in file then line order
  std::vector<std::string> files;            // the agreement files considered
  bool ok() const noexcept { return set != nullptr; }
  std::size_t error_count() const;
};

// `paths` are agreement files or directories; a directory contributes every `*.yaml` and
// `*.yml` directly inside it except `*.test.yaml` golden-case files. Cross-file rules (duplicate
// agreement ids, one party id per organisation, one identity per party id) apply across them all.
load_result load_agreements(const std::vector<std::filesystem::path>& paths,
                            const load_options& options);

// Parses an RFC 3339 instant, or a bare date meaning 00:00 Europe/London (SPEC §3).
std::optional<time_point> parse_instant(std::string_view text);

// Parses an ISO 8601 duration limited to weeks, days, hours, minutes and seconds (PT1H, P1D, P2W).
std::optional<std::chrono::microseconds> parse_duration(std::string_view text);

// Formats an instant as RFC 3339 UTC with a 'Z' ("2026-11-22T10:30:00Z", microseconds if any).
std::string format_instant(time_point t);

}  // namespace dsa::policy
