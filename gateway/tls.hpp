#pragma once

// TLS set-up and certificate identity, in plain OpenSSL so that neither Asio nor Beast is needed
// to build or test it. The trust model is written down in docs/operations.md ("Trust anchors").
//
// The server context requires a client certificate and verifies it against each configured
// trust anchor separately: every anchor has its own X509_STORE holding only the certificates of
// its ca_file (issuing CAs and the CAs above them up to a self-signed root) and the CRLs of its
// crl_file. The chain is built from those certificates alone — intermediates the client sends
// are not used — so a leaf belongs to an anchor only if its issuer is one of that anchor's CAs.
// A chain must verify under exactly one anchor; that anchor's name is the identity's
// trust_anchor. Where an anchor has a crl_file every level of the chain is revocation-checked
// (X509_V_FLAG_CRL_CHECK_ALL) and a level without a current CRL fails closed. The leaf must
// state the clientAuth extended key usage. The identity handed to the policy engine is read
// only from the chain verified here, never from anything the client says in HTTP.
//
// A server context is immutable once built; a reload builds a new one. recheck_peer() verifies
// a connection made under an older context against the trust state of the current one.

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "gateway/config.hpp"
#include "policy/engine.hpp"

namespace dsa::gateway {

struct ssl_ctx_deleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;

// The verified identity of a connection's client certificate.
struct peer_identity {
  policy::request_identity id;  // SANs, RFC 4514 subject, SPKI SHA-256, trust anchor name
  std::string cert_sha256;      // lowercase hex SHA-256 of the DER certificate
  std::int64_t not_after_unix = 0;
};

// Builds the listener's context from `tls` (certificate, key, minimum version, cipher lists,
// anchors, CRLs). Fails when a file cannot be read, the key does not
// match, a cipher list matches nothing, or the anchors are inconsistent: a ca_file certificate
// that is not a CA or whose issuer is not in the same file, a CA certificate in two anchors
// (unless both set allow_shared_ca), a CRL whose issuer is not among the anchor's CAs, or —
// when the anchor has a crl_file — a CA of the anchor without a CRL. Every message names the
// anchor, the file and the certificate subject.
[[nodiscard]] result<ssl_ctx_ptr> make_server_context(const tls_config& tls);

// Builds the client context for one https upstream: its CA verified, the optional client
// certificate presented. Host name or IP checks are set per connection (set_upstream_host).
// Fails naming the upstream and the file.
[[nodiscard]] result<ssl_ctx_ptr> make_upstream_context(const upstream_config& up);

// Per connection to an upstream: SNI for names, and the certificate checked against the host
// name or IP address of the upstream URL. False when OpenSSL refuses the parameters.
[[nodiscard]] bool set_upstream_host(SSL* ssl, const std::string& host);

// After a successful handshake on a server connection: the identity from the verified chain.
// Fails when there is no verified peer certificate — which the server context makes impossible,
// so a failure means a bug, and the caller refuses the connection.
[[nodiscard]] result<peer_identity> extract_identity(SSL* ssl);

// Why a server handshake failed, as a short metric label: no_certificate, expired,
// not_yet_valid, revoked, untrusted, wrong_eku, crl_unavailable, ambiguous_anchor,
// verify_failed, protocol.
// `ssl_reason` is ERR_GET_REASON of the handshake error (0 when unknown).
[[nodiscard]] std::string handshake_failure_reason(SSL* ssl, int ssl_reason);

// The result of verifying a connection's client certificate again (recheck_peer).
struct peer_recheck {
  bool ok = false;
  std::string trust_anchor;  // the anchor the chain verifies under now (when ok)
  // When !ok, a short label as handshake_failure_reason gives (revoked, expired, untrusted,
  // crl_unavailable, ambiguous_anchor, ...) or anchor_changed: the chain verifies, but under
  // an anchor other than the one the connection was attributed to at its handshake.
  std::string reason;
  std::string detail;  // OpenSSL's words for the verification error, for the log
};

// Verifies the client certificate of `ssl` (a server connection whose handshake succeeded
// under any server context this module built) against the anchors, CA sets and CRLs of
// `current` (a server context from make_server_context, normally a newer one after a reload),
// at the current time. Thread-safe; `current` must outlive the call. Never throws.
[[nodiscard]] peer_recheck recheck_peer(SSL* ssl, SSL_CTX* current);

// The cipher suites of `ctx` that are not AEAD (TLS 1.2 CBC suites, say), by OpenSSL name:
// empty with the default tls.ciphers. `--check` warns about each.
[[nodiscard]] std::vector<std::string> non_aead_ciphers(SSL_CTX* ctx);

// The certificate's notAfter as Unix seconds, or 0 when the file cannot be read.
[[nodiscard]] std::int64_t certificate_not_after(const std::string& pem_file);

}  // namespace dsa::gateway
