#pragma once

// RFC 9110 field syntax shared by the gateway's HTTP parser (gateway/http_message.cpp) and the
// client-field rules that the gateway and `dsa explain` both apply (policy/request_fields.cpp),
// so that both read a field name or value the same way. Header-only, no dependencies.

#include <string>
#include <string_view>

namespace dsa::policy::http {

// RFC 9110 §5.6.2 token characters.
constexpr bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// A non-empty run of token characters (a method, a field name, a Connection option).
inline bool is_token(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (unsigned char c : s) {
    if (!is_tchar(c)) {
      return false;
    }
  }
  return true;
}

// `s` without leading and trailing optional whitespace (spaces and tabs, RFC 9110 §5.6.3).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// A field name the way CGI, WSGI and Rack upstreams see it: ASCII lower case with '_' read as
// '-' (they map both `X-Forwarded-For` and `X_Forwarded_For` to HTTP_X_FORWARDED_FOR).
inline std::string fold_field_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (c == '_') {
      c = '-';
    }
  }
  return out;
}

// fold_field_name(name) == folded, without building the folded string (`folded` is already
// lower case with '-', as in the gateway's lists of field names).
inline bool folded_equals(std::string_view name, std::string_view folded) {
  if (name.size() != folded.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (c == '_') {
      c = '-';
    }
    if (c != folded[i]) {
      return false;
    }
  }
  return true;
}

// fold_field_name(name) starts with `folded_prefix`, without building the folded string.
inline bool folded_starts_with(std::string_view name, std::string_view folded_prefix) {
  return name.size() >= folded_prefix.size() &&
         folded_equals(name.substr(0, folded_prefix.size()), folded_prefix);
}

}  // namespace dsa::policy::http
