#pragma once

// TLS set-up and certificate identity (SPEC §5), in plain OpenSSL so that neither Asio nor Beast
// is needed to build or test it.
//
// The server context requires a client certificate, verifies it against every configured trust
// anchor, checks revocation for the anchors that have a CRL (and only those), and requires the
// clientAuth extended key usage on the leaf. The identity handed to the policy engine is read
// only from the chain OpenSSL verified, never from anything the client says in HTTP.

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
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

// Builds the listener's context from `tls` (certificate, key, minimum version, anchors, CRLs).
// Returns null and sets `error` when a file cannot be read or the key does not match.
[[nodiscard]] ssl_ctx_ptr make_server_context(const tls_config& tls, std::string& error);

// Builds the client context for one https upstream: its CA verified, the optional client
// certificate presented. Host name or IP checks are set per connection (set_upstream_host).
[[nodiscard]] ssl_ctx_ptr make_upstream_context(const upstream_config& up, std::string& error);

// Per connection to an upstream: SNI for names, and the certificate checked against the host
// name or IP address of the upstream URL. False when OpenSSL refuses the parameters.
[[nodiscard]] bool set_upstream_host(SSL* ssl, const std::string& host);

// After a successful handshake on a server connection: the identity from the verified chain.
// False (with `error`) when there is no verified peer certificate — which the server context
// makes impossible, so false means a bug, and the caller refuses the connection.
[[nodiscard]] bool extract_identity(SSL* ssl, peer_identity& out, std::string& error);

// Why a server handshake failed, as a short metric label: no_certificate, expired,
// not_yet_valid, revoked, untrusted, wrong_eku, crl_unavailable, verify_failed, protocol.
// `ssl_reason` is ERR_GET_REASON of the handshake error (0 when unknown).
[[nodiscard]] std::string handshake_failure_reason(SSL* ssl, int ssl_reason);

// The certificate's notAfter as Unix seconds, or 0 when the file cannot be read.
[[nodiscard]] std::int64_t certificate_not_after(const std::string& pem_file);

// Lowercase hex SHA-256 of `data`.
[[nodiscard]] std::string sha256_hex(std::string_view data);

// Lowercase hex of `data`.
[[nodiscard]] std::string to_hex(const unsigned char* data, std::size_t size);

}  // namespace dsa::gateway
