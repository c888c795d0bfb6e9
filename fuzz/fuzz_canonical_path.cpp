// libFuzzer target: the canonical request target (policy/canonical_path.hpp), the one string the
// policy matches and the upstream receives. Beyond "no crash", an accepted target must be a fixed
// point (canonicalising it again changes nothing) and contain none of the forms the function
// promises to refuse: no '//', no '.' or '..' segment, no backslash, nothing outside printable
// ASCII, and in the path no encoded '/', '\', NUL or '.'. percent_decode runs on the same bytes.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/canonical_path.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_canonical_path: %s: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

bool has_icase(std::string_view s, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= s.size(); ++i) {
    bool eq = true;
    for (std::size_t j = 0; j < needle.size() && eq; ++j) {
      eq = std::tolower(static_cast<unsigned char>(s[i + j])) ==
           std::tolower(static_cast<unsigned char>(needle[j]));
    }
    if (eq) {
      return true;
    }
  }
  return false;
}

bool has_dot_segment(std::string_view path) {
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view seg = path.substr(start, end - start);
    if (seg == "." || seg == "..") {
      return true;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string decoded;
  (void)dsa::policy::percent_decode(input, decoded);

  const auto r = dsa::policy::canonicalize_target(input);
  if (!r.ok()) {
    return 0;
  }
  const std::string& path = r.value.path;
  if (path.empty() || path[0] != '/') {
    fail("accepted path does not start with '/'", input);
  }
  if (path.find("//") != std::string::npos || path.find('\\') != std::string::npos ||
      has_dot_segment(path)) {
    fail("accepted path has '//', a backslash or a dot segment", input);
  }
  for (std::string_view part : {std::string_view(path), std::string_view(r.value.query)}) {
    for (char c : part) {
      const auto b = static_cast<unsigned char>(c);
      if (b <= 0x20 || b >= 0x7f || c == '#') {
        fail("accepted target has a control, space, '#' or non-ASCII byte", input);
      }
    }
  }
  // The query is validated but kept as sent, so only the path is checked for encoded forms.
  if (has_icase(path, "%2f") || has_icase(path, "%5c") || has_icase(path, "%00") ||
      has_icase(path, "%2e")) {
    fail("accepted path keeps an encoded '/', '\\', NUL or '.'", input);
  }
  if (r.value.has_query == r.value.query.empty()) {
    fail("has_query disagrees with the query", input);
  }
  const std::string target = r.value.target();
  const auto again = dsa::policy::canonicalize_target(target);
  if (!again.ok() || again.value.target() != target) {
    fail("canonicalize_target is not idempotent", input);
  }
  return 0;
}
