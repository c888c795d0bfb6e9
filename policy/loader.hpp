#pragma once

// Loads `dsa/v1` agreement files (docs/design.md §3, docs/agreements.md §3) into an immutable
// agreement_set. Never throws and never crashes on any input: every problem becomes a diagnostic
// naming file:line:column, what was found and what was expected.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "policy/diagnostic.hpp"
#include "policy/load_options.hpp"
#include "policy/model.hpp"
// Callers of the loader read and print times the way agreement files write them.
#include "policy/time.hpp"

namespace dsa::policy {

struct load_result {
  std::shared_ptr<const agreement_set> set;  // null when any error was found
  std::vector<diagnostic> diagnostics;       // errors and warnings, in file then line order
  std::vector<std::string> files;            // the agreement files considered
  // The exact bytes each agreement of `set` was read from, by their SHA-256 (agreement::sha256):
  // what the gateway archives in its audit store (docs/auditing.md, "Agreement archive").
  std::map<std::string, std::string> texts;
  bool ok() const noexcept { return set != nullptr; }
  std::size_t error_count() const;
};

// `paths` are agreement files or directories; a directory contributes every `*.yaml` and
// `*.yml` directly inside it except `*.test.yaml` golden-case files. Cross-file rules (duplicate
// agreement ids, one party id per organisation, one identity per party id) apply across them all.
load_result load_agreements(const std::vector<std::filesystem::path>& paths,
                            const load_options& options);

}  // namespace dsa::policy
