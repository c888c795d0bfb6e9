#pragma once

// Expiry ahead of trouble (docs/design.md §7, docs/operations.md "Monitoring"): when the things the
// gateway depends on stop being valid — each agreement's validity.until and review.due, the
// gateway's own certificate, each trust anchor's CA certificate and CRL nextUpdate, each upstream
// client certificate. The admin listener exports them as "seconds until" gauges; the server logs an
// `expiry_warning` for each one inside the configured window at start, at reload and daily.
//
// Plain C++ and OpenSSL (no Asio), so tests and `--check` can use it. Nothing throws; a file
// that cannot be read yields a deadline of 0 ("unknown"), which is reported and never warned
// about as if it had expired (start-up has already refused unreadable TLS files).

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/config.hpp"
#include "policy/model.hpp"

namespace dsa::gateway {

// One certificate or CRL the gateway uses, with the Unix time at which it stops being usable.
struct tls_deadline {
  // The metric label: "server", "trust_anchor:<name>", "upstream_client:<name>" for
  // certificates; the trust anchor's name for CRLs.
  std::string label;
  std::int64_t at_unix = 0;  // notAfter, or the CRL's nextUpdate; 0 when unknown
};

struct tls_deadlines {
  std::vector<tls_deadline> certificates;  // the earliest notAfter of each file
  std::vector<tls_deadline> crls;          // the earliest nextUpdate of each anchor's CRL file
  std::int64_t server_not_after = 0;       // the served leaf's notAfter (0: unknown)
};

// Reads the server certificate, the trust anchors' CA files and CRLs of `tls`. The files are
// the ones a server TLS context built from `tls` serves, so call it when such a context is built.
[[nodiscard]] tls_deadlines read_server_deadlines(const tls_config& tls);

// Adds each https upstream's client certificate ("upstream_client:<name>") to `out`.
void add_upstream_deadlines(const config& cfg, tls_deadlines& out);

// One thing inside the warning window (or already past it).
struct expiry_warning {
  std::string subject;  // "agreement:<id>", "certificate:<label>", "crl:<anchor>"
  std::string what;     // "validity.until", "review.due", "notAfter", "nextUpdate"
  std::int64_t at_unix = 0;
  std::int64_t days_left = 0;  // whole days, rounded down; negative when past
};

// Everything in `set` and `tls` that expires, falls due or needs a new CRL before
// now_unix + window_days days (past deadlines included). Unknown deadlines (0) are skipped.
[[nodiscard]] std::vector<expiry_warning> expiry_warnings(const policy::agreement_set& set,
                                                          const tls_deadlines& tls,
                                                          std::int64_t now_unix, int window_days);

// The Unix time at which an agreement falls due for review (00:00 Europe/London on review.due,
// as every bare date in an agreement); 0 when it has no review date.
[[nodiscard]] std::int64_t review_due_unix(const policy::agreement& a);

// Appends the Prometheus gauges (HELP/TYPE included) of seconds until each deadline, negative
// when past: dsa_agreement_valid_until_seconds{agreement}, dsa_agreement_review_due_seconds
// {agreement} (agreements with a review date), dsa_certificate_expiry_seconds{certificate},
// dsa_crl_next_update_seconds{trust_anchor}. Unknown deadlines are left out.
void render_expiry_gauges(std::string& out, const policy::agreement_set& set,
                          const tls_deadlines& tls, std::int64_t now_unix);

// RFC 3339 UTC ("2026-11-22T09:14:03Z") of Unix seconds, for log lines.
[[nodiscard]] std::string format_unix(std::int64_t unix_seconds);

// The agreement's validity.until as Unix seconds.
[[nodiscard]] std::int64_t valid_until_unix(const policy::agreement& a);

}  // namespace dsa::gateway
