#pragma once

// How certificate names are compared (docs/agreements.md, "How identities are matched"). The
// gateway formats a certificate's subject with OpenSSL's RFC 2253 printer and an IG officer
// writes an RFC 4514 DN by hand; the two spellings of one name differ in ways the RFCs say do
// not matter (attribute type case and aliases, spaces around separators, escaping, the order of
// the values of a multi-valued RDN, letter case under caseIgnoreMatch). Both sides go through
// the functions below, so that equal names compare equal and nothing else does.

#include <string>
#include <string_view>

#include "policy/result.hpp"

namespace dsa::policy {

// Parses an RFC 4514 distinguished name and writes it canonically:
// - attribute types upper-cased, known aliases and OIDs mapped to one short name (commonName,
//   cn and 2.5.4.3 are all CN; OID. prefixes dropped);
// - values unescaped (\\, \, \+ …, \HH) and re-escaped one way: only , + " \ < > ; and a leading
//   '#' are backslash-escaped; control bytes, DEL and bytes that are not UTF-8 become \HH;
// - leading and trailing spaces of a value removed and inner runs of spaces folded to one
//   (RFC 4518 insignificant space handling); spaces around ',', '+' and '=' removed;
// - the values of a multi-valued RDN sorted; the order of RDNs kept (it is significant);
// - #hex (BER) values kept as lower-case hex;
// - with `fold_case`, ASCII letters of string values lower-cased (RFC 5280 §7.1 caseIgnoreMatch;
//   non-ASCII letters are compared exactly).
// Refuses (with why) a DN that is empty, has an RDN without '=', an empty attribute type, a bad
// escape, an unescaped ';' (an RFC 2253 separator that RFC 4514 dropped) or a stray quote.
[[nodiscard]] result<std::string> canonical_subject(std::string_view dn, bool fold_case);

// A DNS name as compared: ASCII letters lower-cased and one trailing '.' removed (RFC 4343 and
// the absolute form of RFC 1034 name the same host).
[[nodiscard]] std::string canonical_dns_name(std::string_view name);

}  // namespace dsa::policy
