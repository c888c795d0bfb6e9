#pragma once

// `dsa openapi` (docs/agreements.md §2.8): an OpenAPI 3.1 document of exactly what one partner may
// call at the other agencies' gateways, derived from the loaded agreements, for the partner's
// developers. A pure function of its arguments (the instant is passed in), so the tests assert
// its content without running the tool.
//
// What is in it, and the decisions behind it (docs/agreements.md §2.8 says them in words):
// - one operation per endpoint that a permission of the requester names, in an agreement in force
//   at `now` (status active, within validity, review not overdue with `overdue: deny`); the others
//   are left out and reported in `notes`;
// - purposes that a prohibition of the same agreement refuses for the requester on that endpoint
//   are left out of the `DSA-Purpose` enum; an endpoint with no purpose left is left out;
// - the response body schema describes what survives the gateway's filter (allow_fields, max_items)
//   and nothing else: objects allow no other member;
// - refusals are the gateway's problem bodies (gateway/http_message.cpp, problem_body), with the
//   reason codes each status can carry;
// - emergency access headers are not described: they are not a partner's everyday interface.

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/model.hpp"

namespace dsa::policy::doc {

struct openapi_options {
  std::string requester;                // a party id declared by some loaded agreement
  std::optional<std::string> provider;  // only this provider's endpoints
  std::optional<std::string> server;    // the gateway URL to list in `servers`; none when absent
  time_point now{};                     // which agreements are in force
};

struct openapi_result {
  boost::json::object document;
  // Why an agreement or endpoint that names the requester is not in the document (an inactive
  // agreement, a method OpenAPI 3.1 cannot name, every purpose prohibited), one line each, for
  // the IG officer running the tool (stderr), not for the partner.
  std::vector<std::string> notes;
  // Non-empty when the document cannot be written: two endpoints the requester may call share one
  // method and path, which one OpenAPI operation cannot describe.
  std::string error;
  std::size_t operations = 0;
};

[[nodiscard]] openapi_result openapi_document(const agreement_set& set,
                                              const openapi_options& options);

// `v` as indented JSON (two spaces, one member per line) with a final newline: a document people
// read and diff. Boost.JSON serialises compactly only.
std::string pretty_json(const boost::json::value& v);

}  // namespace dsa::policy::doc
