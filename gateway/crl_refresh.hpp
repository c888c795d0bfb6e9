#pragma once

// CRLs refreshed from their distribution point (docs/operations.md, section 5). For each trust
// anchor with a `crl_url`, a loop on the first I/O thread fetches the URL (plain HTTP GET, PEM or
// DER, at most 10 MiB, 10 s), right after start and then every `crl_refresh_interval_s`. A fetched
// CRL is used only if:
//   - it parses, and replaces in the anchor's crl_file only the CRL of the same issuer;
//   - it is not older than the one it replaces (lastUpdate), so a replayed old CRL cannot undo a
//     revocation;
//   - a server TLS context builds from the result: the same checks as start-up, which include
//     each CRL's signature against the anchor's own CAs and a CRL for every CA of the anchor.
// It is then written to crl_file (a temporary file renamed over it) and new handshakes use it;
// open connections re-check their certificate before their next request, as after a reload.
// A fetch that fails or is refused changes nothing; a CRL that passes its nextUpdate without a
// fresh one fails closed for that anchor's clients (crl_unavailable) and /readyz says so.

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "gateway/config.hpp"

namespace dsa::gateway {

// The PEM text of the CRLs in `existing_pem` (the current crl_file) with each CRL of `fetched`
// (PEM or DER) in place of the one of the same issuer. An error when `fetched` holds no CRL or
// one is older (lastUpdate) than the CRL it would replace.
[[nodiscard]] result<std::string> merge_fetched_crls(std::string_view existing_pem,
                                                     std::string_view fetched);

}  // namespace dsa::gateway
