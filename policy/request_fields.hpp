#pragma once

// The request header rules shared by the gateway and `dsa explain` / `dsa test`, so that a
// request an IG officer explains is checked exactly as live traffic is (docs/agreements.md,
// "Request headers"). No Asio, no Beast: the gateway passes the fields it parsed, the tools pass
// the `headers` of a described request.

#include <optional>
#include <span>
#include <string>
#include <utility>

#include "policy/result.hpp"

namespace dsa::policy {

struct client_fields {  // the DSA-* values a client sent, validated
  std::optional<std::string> purpose, case_ref, acting_user, agreement;
  // A declared emergency (docs/agreements.md, "Emergency disclosures"): DSA-Emergency (the
  // incident reference) and DSA-Emergency-Justification (free text). Both or neither.
  std::optional<std::string> emergency, emergency_justification;
};

// Checks a client's header fields (name, value pairs as received, any case) against the request
// rules shared by the gateway and `dsa explain`. Each value is first trimmed of leading and
// trailing spaces and tabs (RFC 9110 OWS). The first field that breaks a rule is the error, and
// the error text names the field and what was expected (always valid UTF-8). Rules:
// - every name is an RFC 9110 token, and no value holds a control byte other than tab (what the
//   gateway's HTTP parser already refuses; checked here so that explain refuses it too);
// - a name that, case-folded with '_' read as '-', starts with "dsa-" is a DSA-* field:
//   - spelled with '_' → error (a proxy or CGI layer could read it as the '-' spelling);
//   - DSA-Purpose, DSA-Case-Ref, DSA-Acting-User, DSA-Agreement, DSA-Emergency and
//     DSA-Emergency-Justification are the fields a client may send; any other DSA-* name
//     (DSA-Requester, DSA-Permission, DSA-Request-Id, which the gateway sets, or an unknown
//     DSA-Foo) → error;
//   - the same one of the six twice, in any spelling of case → error;
//   - a value with a byte outside visible ASCII (0x21-0x7E), space and tab → error;
//   - an empty value (after trimming) of DSA-Purpose, DSA-Case-Ref or DSA-Acting-User counts as
//     not sent (the decision is then purpose_missing, case_ref_missing or acting_user_missing
//     where one is needed); an empty DSA-Agreement → error, because reading it as absent would
//     widen the restriction the client asked for;
//   - an empty DSA-Emergency or DSA-Emergency-Justification counts as not sent, and then exactly
//     one of the two sent → error (an emergency is declared with its justification, or not at
//     all: reading half a declaration either way would guess what the caller meant).
// Other fields are not interpreted.
[[nodiscard]] result<client_fields> read_client_fields(
    std::span<const std::pair<std::string, std::string>> fields);

}  // namespace dsa::policy
