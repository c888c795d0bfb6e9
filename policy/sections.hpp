#pragma once

// The readers of the sections of one `dsa/v1` agreement file (docs/agreements.md §3, one reader
// per subsection). Internal to the policy library. Each reader fills its part of the agreement
// and reports every problem through the yaml::reader; later sections check their references
// against the ids earlier sections declared.
//
// Order matters and is fixed by read_agreement: parties, then legal/purposes/categories, then
// endpoints (which name providers and categories), then permissions and prohibitions (which name
// all of those).

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "policy/load_options.hpp"
#include "policy/model.hpp"
#include "policy/yaml_reader.hpp"

namespace dsa::policy::sections {

using yaml::field;
using yaml::reader;

// The ids one file declares, by kind.
struct declared_ids {
  std::set<std::string> parties, gateways, bases, purposes, categories, endpoints;
};

// Reads one file into an agreement (read_header.cpp). Returns null when the file is not a `dsa/v1`
// mapping, and otherwise the agreement as far as it could be read: the caller checks
// reader::errors().
std::unique_ptr<agreement> read_agreement(reader& r, const YAML::Node& root,
                                          const load_options& options);

// schema, id, version, title, status, status_reason. False when the schema is not dsa/v1 (the
// rest of the file is then not read). read_header.cpp, like the next one.
bool read_header(reader& r, const field& top, agreement& a);
// validity and review.
void read_validity_and_review(reader& r, const field& top, agreement& a);
// parties and their certificate identities (read_parties.cpp).
void read_parties(reader& r, const field& top, const load_options& options, agreement& a,
                  declared_ids& ids);
// legal (gateways, lawful bases), purposes and data_categories (read_legal.cpp).
void read_legal(reader& r, const field& top, agreement& a, declared_ids& ids);
// endpoints and their response rules (read_endpoints.cpp).
void read_endpoints(reader& r, const field& top, const load_options& options, agreement& a,
                    declared_ids& ids);
// A `response` mapping into `out` (read_endpoints.cpp); false when absent or not a mapping.
bool read_response(reader& r, const field& resp, response_rules& out);
// permissions: require, emergency, time windows, volume caps (read_permissions.cpp).
void read_permissions(reader& r, const field& top, agreement& a, const declared_ids& ids);
// prohibitions (read_permissions.cpp).
void read_prohibitions(reader& r, const field& top, agreement& a, const declared_ids& ids);
// governance, kept as a free_value tree (model.hpp; read_header.cpp).
void read_governance(reader& r, const field& top, agreement& a);

// Reference checks (read_legal.cpp). An error unless `value` (when not empty) is one of `ids`;
// `what` names the kind ("party").
void check_ref(reader& r, const YAML::Node& at, const std::string& path, const std::string& value,
               const std::set<std::string>& ids, std::string_view what);
// check_ref for every element of the list `list` that is in `values` (the valid ids read from
// it), each reported at its own position.
void check_refs(reader& r, const field& list, const std::vector<std::string>& values,
                const std::set<std::string>& ids, std::string_view what);

}  // namespace dsa::policy::sections
