#include "policy/request_fields.hpp"

#include <array>
#include <string_view>

#include "policy/http_token.hpp"
#include "policy/text.hpp"

namespace dsa::policy {
namespace {

using http::fold_field_name;
using http::is_tchar;
using http::trim_ows;

std::string hex_byte(unsigned char b) {
  constexpr char digits[] = "0123456789ABCDEF";
  std::string s = "0x";
  s += digits[b >> 4];
  s += digits[b & 0x0F];
  return s;
}

struct known_field {
  std::string_view folded, spelling;
  std::optional<std::string> client_fields::*member;
  bool empty_is_missing;
};

constexpr std::array<known_field, 6> k_fields{{
    {"dsa-purpose", "DSA-Purpose", &client_fields::purpose, true},
    {"dsa-case-ref", "DSA-Case-Ref", &client_fields::case_ref, true},
    {"dsa-acting-user", "DSA-Acting-User", &client_fields::acting_user, true},
    {"dsa-agreement", "DSA-Agreement", &client_fields::agreement, false},
    {"dsa-emergency", "DSA-Emergency", &client_fields::emergency, true},
    {"dsa-emergency-justification", "DSA-Emergency-Justification",
     &client_fields::emergency_justification, true},
}};

constexpr std::string_view k_allowed =
    "a client sends only DSA-Purpose, DSA-Case-Ref, DSA-Acting-User, DSA-Agreement, "
    "DSA-Emergency and DSA-Emergency-Justification";

}  // namespace

result<client_fields> read_client_fields(
    std::span<const std::pair<std::string, std::string>> fields) {
  using R = result<client_fields>;
  client_fields out;
  std::array<bool, k_fields.size()> seen{};
  for (const auto& [name, raw_value] : fields) {
    // Built only for an error: this runs for every field of every request.
    auto shown = [&name = name] { return "header '" + escape_text(name) + "'"; };
    if (name.empty()) {
      return R::failure("a header field has an empty name");
    }
    for (unsigned char c : name) {
      if (!is_tchar(c)) {
        return R::failure(shown() + ": the name is not an RFC 9110 token (byte " + hex_byte(c) +
                          ")");
      }
    }
    const std::string_view value = trim_ows(raw_value);
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) {
        return R::failure(shown() + ": control byte " + hex_byte(c) + " in the value");
      }
    }
    if (!http::folded_starts_with(name, "dsa-")) {
      continue;
    }
    const std::string folded = fold_field_name(name);
    if (name.find('_') != std::string::npos) {
      return R::failure(shown() +
                        " spells a DSA-* field with '_'; DSA-* names are written with "
                        "'-' (e.g. DSA-Purpose)");
    }
    std::size_t k = 0;
    while (k < k_fields.size() && k_fields[k].folded != folded) {
      ++k;
    }
    if (k == k_fields.size()) {
      const bool gateway_field =
          folded == "dsa-requester" || folded == "dsa-permission" || folded == "dsa-request-id";
      return R::failure(shown() +
                        (gateway_field ? " is set by the gateway, never by a client; "
                                       : " is not a DSA-* field a client may send; ") +
                        std::string(k_allowed));
    }
    const known_field& f = k_fields[k];
    if (seen[k]) {
      return R::failure("duplicate " + std::string(f.spelling) + " header (send it once)");
    }
    seen[k] = true;
    for (unsigned char c : value) {
      if (!((c >= 0x21 && c <= 0x7E) || c == ' ' || c == '\t')) {
        return R::failure(std::string(f.spelling) + " has byte " + hex_byte(c) +
                          " (expected visible ASCII, spaces and tabs)");
      }
    }
    if (value.empty()) {
      if (f.empty_is_missing) {
        continue;  // counts as not sent
      }
      return R::failure(std::string(f.spelling) +
                        " is empty (expected an agreement id, or leave the header out)");
    }
    out.*f.member = std::string(value);
  }
  if (out.emergency && !out.emergency_justification) {
    return R::failure(
        "DSA-Emergency is sent without DSA-Emergency-Justification (an emergency is declared with "
        "its justification: send both, or neither)");
  }
  if (out.emergency_justification && !out.emergency) {
    return R::failure(
        "DSA-Emergency-Justification is sent without DSA-Emergency (the incident reference: "
        "send both, or neither)");
  }
  return out;
}

}  // namespace dsa::policy
