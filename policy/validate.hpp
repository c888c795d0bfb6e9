#pragma once

// Checks on agreements that have been read, beyond what each field says on its own. Internal to
// the policy library.
//
// - lint_agreement: the `dsa lint` warnings about one whole file (governance sections the ICO
//   data sharing code recommends, review dates, an ended validity, endpoints and purposes nothing
//   uses, placeholders without a pattern, an empty allow_fields, a permitted purpose a prohibition
//   always refuses, a response.subjects pointer allow_fields never releases); never errors.
// - cross_file_checker: the rules that span the files loaded together (docs/agreements.md §3.3
//   and docs/design.md §3): one agreement per id, one organisation per party id, one party per
//   certificate identity.

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "policy/load_options.hpp"
#include "policy/model.hpp"
#include "policy/yaml_reader.hpp"

namespace dsa::policy {

// Warnings about `a`, read from `root`, as of options.now.
void lint_agreement(yaml::reader& r, const YAML::Node& root, const agreement& a,
                    const load_options& options);

// Fed the agreements in file order, so that a conflict is reported at the later file.
class cross_file_checker {
 public:
  // With `lint_warnings`, also warns when two endpoints call the same upstream resource (method,
  // upstream and path shape) with different response rules, in one file or across files.
  explicit cross_file_checker(bool lint_warnings = false) : lint_warnings_(lint_warnings) {}

  // Checks `a` (read from `r.file()`) against every agreement checked before it and records it.
  // False when it conflicts: the errors name both files. `root` gives the file's YAML tree, to
  // place a diagnostic; it is called only when there is one (the loader parses the file again
  // then rather than keep every tree: docs/performance.md §7).
  bool check(yaml::reader& r, const std::function<const YAML::Node&()>& root, const agreement& a);

 private:
  std::map<std::string, std::pair<std::string, std::string>> party_names_;  // id → (name, file)
  std::map<std::string, std::string> agreement_files_;                      // id → file
  std::map<std::string, std::pair<std::string, std::string>>
      identity_owner_;  // key → (party, file)
  struct resource {
    std::string agreement, endpoint, file, signature;
  };
  bool lint_warnings_ = false;
  std::map<std::string, resource> resources_;  // "METHOD upstream /path/{}" → first declaration
};

}  // namespace dsa::policy
