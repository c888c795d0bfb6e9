#include "policy/canonical_path.hpp"

#include <array>
#include <cstdint>

// Why this is strict: the gateway decides on the path and the upstream acts on it. Every form
// that two parsers could read differently (encoded separators, dot segments, '//', backslashes,
// Tomcat-style "..;" segments, odd bytes) is refused rather than normalised, so the one string
// the policy matched is exactly the string the upstream receives. The only rewrite is decoding
// escapes of unreserved characters, which RFC 3986 §6.2.2.2 says every reader must treat as
// equivalent to the plain character; decoding them keeps "/c%61ses" from dodging a "/cases"
// template while changing nothing the upstream could interpret differently.

namespace dsa::policy {
namespace {

enum char_class : std::uint8_t {
  k_unreserved = 1,  // ALPHA DIGIT - . _ ~
  k_pchar = 2,       // unreserved, sub-delims, ':' '@' (not '%', validated separately)
};

constexpr std::array<std::uint8_t, 256> make_table() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) {
    t[c] = k_unreserved | k_pchar;
  }
  for (int c = 'A'; c <= 'Z'; ++c) {
    t[c] = k_unreserved | k_pchar;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[c] = k_unreserved | k_pchar;
  }
  for (char c : {'-', '.', '_', '~'}) {
    t[static_cast<unsigned char>(c)] = k_unreserved | k_pchar;
  }
  for (char c : {'!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@'}) {
    t[static_cast<unsigned char>(c)] = k_pchar;
  }
  return t;
}

constexpr std::array<std::uint8_t, 256> k_table = make_table();

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string hex_byte(unsigned char b) {
  constexpr char digits[] = "0123456789ABCDEF";
  std::string s = "0x";
  s += digits[b >> 4];
  s += digits[b & 0x0F];
  return s;
}

// Quotes raw target bytes for an error message; callers only pass bytes already known printable.
std::string quoted(std::string_view s) {
  std::string q = "'";
  q.append(s);
  q += '\'';
  return q;
}

// The checks shared by path and query bytes, except '%' which the callers handle. Returns an
// empty string when `c` is acceptable for `part`.
std::string check_byte(unsigned char c, bool in_query, std::string_view part) {
  if (c >= 0x80) {
    return "non-ASCII byte " + hex_byte(c) + " in " + std::string(part);
  }
  if (c < 0x20 || c == 0x7F) {
    return "control byte " + hex_byte(c) + " in " + std::string(part);
  }
  if (c == '\\') {
    return "backslash in " + std::string(part);
  }
  if (c == '#') {
    return "fragment ('#') in target is not accepted";
  }
  if ((k_table[c] & k_pchar) != 0 || c == '/' || (in_query && c == '?')) {
    return {};
  }
  if (c == ' ') {
    return "space (0x20) in " + std::string(part);
  }
  return "character " + quoted(std::string_view(reinterpret_cast<const char*>(&c), 1)) + " (" +
         hex_byte(c) + ") not allowed in " + std::string(part);
}

// Validates the escape starting at s[i] == '%' and stores the byte it encodes. Only the syntax
// is checked here; which decoded bytes are refused depends on the part of the target.
std::string parse_escape(std::string_view s, std::size_t i, std::string_view part,
                         unsigned char& decoded) {
  if (s.size() - i < 3) {
    return "truncated percent-escape at end of " + std::string(part);
  }
  const int hi = hex_value(s[i + 1]);
  const int lo = hex_value(s[i + 2]);
  if (hi < 0 || lo < 0) {
    std::string shown = "%";
    for (std::size_t k = i + 1; k < i + 3; ++k) {
      const auto b = static_cast<unsigned char>(s[k]);
      // Only echo printable ASCII; anything else is named by its hex value.
      if (b >= 0x21 && b < 0x7F) {
        shown += static_cast<char>(b);
      } else {
        shown += "\\x" + hex_byte(b).substr(2);
      }
    }
    return "bad percent-escape '" + shown + "' in " + std::string(part);
  }
  decoded = static_cast<unsigned char>((hi << 4) | lo);
  return {};
}

// Encoded bytes refused in the path: each would mean something different to a reader that
// decodes before splitting into segments (or stops at NUL) than to one that does not.
std::string check_path_escape(unsigned char decoded) {
  switch (decoded) {
    case '/':
      return "encoded '/' (%2F) in path";
    case '\\':
      return "encoded '\\' (%5C) in path";
    case 0:
      return "encoded NUL (%00) in path";
    case '.':
      return "encoded '.' (%2E) in path";
    default:
      break;
  }
  // A decoded control byte could end a line or a string in the upstream (or in a log), and a
  // decoded non-ASCII byte is a second spelling of a character (%C0%AE is an overlong '.',
  // %EF%BC%8F a fullwidth '/') that some readers fold: neither reaches a pattern or an upstream.
  if (decoded < 0x20 || decoded == 0x7F) {
    return "encoded control byte " + hex_byte(decoded) + " in path";
  }
  if (decoded >= 0x80) {
    return "encoded non-ASCII byte " + hex_byte(decoded) + " in path";
  }
  return {};
}

// Refuses "." and ".." and their ';'-parameter forms ("..;x"), which servlet containers strip
// back to dot segments after the gateway has already matched the path.
std::string check_segment(std::string_view seg) {
  const std::string_view base = seg.substr(0, seg.find(';'));
  if (base != "." && base != "..") {
    return {};
  }
  if (base.size() == seg.size()) {
    return "dot segment " + quoted(seg) + " in path";
  }
  return "dot segment with parameter " + quoted(base) + "; in path";
}

std::string check_target_form(std::string_view raw) {
  if (raw.empty()) {
    return "empty request target";
  }
  if (raw == "*") {
    return "asterisk-form target is not accepted";
  }
  if (raw.front() == '/') {
    return {};
  }
  if (raw.find("://") != std::string_view::npos) {
    return "absolute-form target is not accepted";
  }
  const auto colon = raw.find(':');
  if (colon != std::string_view::npos && raw.find('/') == std::string_view::npos) {
    return "authority-form target is not accepted";
  }
  return "target must start with '/' (origin-form)";
}

// Fills `value` and returns an empty string, or returns why `raw` is refused.
std::string canonicalize_into(std::string_view raw, canonical_target& value) {
  std::string error = check_target_form(raw);
  if (!error.empty()) {
    return error;
  }

  const std::size_t qmark = raw.find('?');
  const std::string_view path = raw.substr(0, qmark);
  std::string& out = value.path;
  out.reserve(path.size());

  // Single pass: validate each byte, decode unreserved escapes, and check each segment (by its
  // raw text, which is what a dot segment looks like since '%2E' is refused) when its '/' ends.
  std::size_t seg_start = 1;
  out += '/';
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      const std::string_view seg = path.substr(seg_start, i - seg_start);
      if (seg.empty() && i < path.size()) {
        return "empty path segment (//)";
      }
      error = check_segment(seg);
      if (!error.empty()) {
        return error;
      }
      if (i < path.size()) {
        out += '/';
      }
      seg_start = i + 1;
      continue;
    }
    const auto c = static_cast<unsigned char>(path[i]);
    if ((k_table[c] & k_pchar) != 0) {
      out += static_cast<char>(c);  // the common case, kept free of error-string handling
      continue;
    }
    if (c == '%') {
      unsigned char decoded = 0;
      error = parse_escape(path, i, "path", decoded);
      if (error.empty()) {
        error = check_path_escape(decoded);
      }
      if (!error.empty()) {
        return error;
      }
      if ((k_table[decoded] & k_unreserved) != 0) {
        out += static_cast<char>(decoded);
      } else {
        // Kept exactly as sent, case included: the upstream sees the bytes the client sent.
        out.append(path.substr(i, 3));
      }
      i += 2;
      continue;
    }
    error = check_byte(c, false, "path");
    if (!error.empty()) {
      return error;
    }
    out += static_cast<char>(c);
  }

  if (qmark == std::string_view::npos || qmark + 1 == raw.size()) {
    return {};  // no query, or a bare '?' which counts as none
  }
  const std::string_view query = raw.substr(qmark + 1);
  for (std::size_t i = 0; i < query.size(); ++i) {
    const auto c = static_cast<unsigned char>(query[i]);
    if ((k_table[c] & k_pchar) != 0 || c == '/' || c == '?') {
      continue;
    }
    if (c == '%') {
      unsigned char decoded = 0;
      error = parse_escape(query, i, "query", decoded);
      // An encoded '/' or '\' is ordinary data in a query value; a control byte never is: NUL
      // can truncate a C string after the policy matched the whole value, CR and LF can split a
      // header or log line the upstream builds from it. Refused here, before any pattern runs.
      if (error.empty() && decoded == 0) {
        error = "encoded NUL (%00) in query";
      } else if (error.empty() && (decoded < 0x20 || decoded == 0x7F)) {
        error = "encoded control byte " + hex_byte(decoded) + " in query";
      }
      if (!error.empty()) {
        return error;
      }
      i += 2;
      continue;
    }
    error = check_byte(c, true, "query");
    if (!error.empty()) {
      return error;
    }
  }
  value.query.assign(query);
  value.has_query = true;
  return {};
}

}  // namespace

std::string canonical_target::target() const {
  if (!has_query) {
    return path;
  }
  std::string t;
  t.reserve(path.size() + 1 + query.size());
  t.append(path);
  t += '?';
  t.append(query);
  return t;
}

target_result canonicalize_target(std::string_view raw) {
  target_result result;
  result.error = canonicalize_into(raw, result.value);
  if (!result.error.empty()) {
    // A refused target carries nothing a caller could mistake for a usable path.
    result.value = canonical_target{};
  }
  return result;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (in.size() - i < 3) {
      return false;
    }
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out += static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return true;
}

}  // namespace dsa::policy
