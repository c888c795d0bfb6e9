#pragma once

// Shared fixtures for the policy tests: a complete agreement written inline (so a reader sees
// exactly what is being decided) and helpers to load variants of it from a temporary directory.

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "policy/engine.hpp"
#include "policy/loader.hpp"
#include "tests/common/temp_dir.hpp"

namespace dsa::policy::testing {

// Police read council ASB cases with every kind of condition. Validity and review dates are bare
// dates, i.e. midnight Europe/London.
inline const std::string base_agreement = R"yaml(schema: dsa/v1
id: test-asb
version: 1.0.0
title: Test ASB case sharing
status: active
validity: {from: 2026-04-01, until: 2028-04-01}
review: {due: 2027-09-30, overdue: warn}
parties:
  - id: police
    name: Test Police
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://police.test/gw"}]
  - id: council
    name: Test Council
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://council.test/gw"}]
legal:
  gateways: [{id: cda-s115, cite: Crime and Disorder Act 1998 s.115}]
  lawful_bases: [{id: public-task, cite: "UK GDPR Art 6(1)(e)"}]
purposes:
  - {id: asb-case-management, description: Managing ASB cases}
  - {id: research, description: Research}
data_categories:
  - id: asb-case
    description: ASB case record
    personal_data: true
    special_category: false
    criminal_offence_data: false
    retention: 6 years
endpoints:
  - id: asb-case
    provider: council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    query_params: {include: {pattern: "actions|notes", required: false}}
    data_categories: [asb-case]
    response: {allow_fields: [/case_id, /status]}
  - id: asb-summary
    provider: council
    upstream: council-asb
    method: GET
    path: /asb/v1/summary
    data_categories: [asb-case]
permissions:
  - id: police-read-case
    assignee: police
    endpoints: [asb-case]
    purposes: [asb-case-management, research]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
    require: {case_ref: "ASB-[0-9]{4}-[0-9]{6}", case_ref_param: case_id, acting_user: "[A-Z]{2}[0-9]{4}"}
    time_windows:
      timezone: Europe/London
      allow: [{days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}]
    volume_caps: [{scope: case_ref, window: P1D, max: 3}]
  - id: police-summary
    assignee: police
    endpoints: [asb-summary]
    purposes: [asb-case-management]
    lawful_basis: [public-task]
    legal_gateway: [cda-s115]
prohibitions:
  - {id: no-research, assignee: any, endpoints: [asb-case], purposes: [research], reason: No research use of case records}
)yaml";

// Replaces the first occurrence of `from` in `text` (which must occur).
inline std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos) {
    throw std::logic_error("fixture text not found: " + from);
  }
  return text.replace(at, from.size(), to);
}

// 1-based line and column of the first occurrence of `needle` in `text`.
inline std::pair<int, int> position_of(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  if (at == std::string::npos) {
    throw std::logic_error("needle not found: " + needle);
  }
  int line = 1, column = 1;
  for (std::size_t i = 0; i < at; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

using dsa::test::temp_dir;

// Loads the given files (name → text) from a fresh directory.
inline load_result load_texts(const std::vector<std::pair<std::string, std::string>>& files,
                              load_options options = {}) {
  temp_dir dir;
  for (const auto& [name, text] : files) {
    dir.write(name, text);
  }
  return load_agreements({dir.path()}, options);
}

inline time_point at(const char* rfc3339) {
  auto t = parse_instant(rfc3339);
  if (!t) {
    throw std::logic_error(std::string("bad instant in test: ") + rfc3339);
  }
  return *t;
}

}  // namespace dsa::policy::testing
