#pragma once

// The canonical request target (docs/design.md §5): the path the policy matches is byte for byte
// the path the upstream receives. The gateway, `dsa explain` and `dsa test` all pass targets
// through canonicalize_target before anything else looks at them.

#include <string>
#include <string_view>

namespace dsa::policy {

struct canonical_target {
  std::string path;   // starts with '/'; unreserved percent-escapes decoded, nothing else changed
  std::string query;  // the raw query without '?', validated but not decoded; empty if none
  bool has_query = false;  // true when a non-empty query follows '?'; a bare '?' counts as none

  // path, then '?' and the query when there is one: what is sent upstream.
  std::string target() const;
};

struct target_result {
  canonical_target value;
  std::string error;  // empty on success; otherwise why the target is refused (bad_request)
  bool ok() const noexcept { return error.empty(); }
};

// Refuses (with a reason in `error`): anything not in origin-form (absolute-form, authority-form,
// '*'), a fragment, non-ASCII or control bytes, characters outside RFC 3986 pchar, bad
// percent-escapes, encoded '/', '\', NUL or '.' (%2F %5C %00 %2E, any case), any other encoded
// control byte (%01-%1F, %7F) or non-ASCII byte (%80-%FF) in the path, raw '.' or '..' segments
// (also with ';' parameters), empty segments ('//'), and backslashes. Decodes percent-escapes of
// unreserved characters (ALPHA DIGIT '-' '_' '~'), normalising nothing else. The query is
// checked for the same raw byte rules, bad escapes and encoded control bytes (%00-%1F, %7F:
// so no decoded query name or value holds one) but kept as sent; encoded non-ASCII bytes are
// allowed in the query (a value may be UTF-8 text).
[[nodiscard]] target_result canonicalize_target(std::string_view raw);

// Percent-decodes `in` into `out`. False on a malformed escape. Used for path parameters and
// query names and values at match time (no '+'-to-space).
[[nodiscard]] bool percent_decode(std::string_view in, std::string& out);

}  // namespace dsa::policy
