#pragma once

// The gateway configuration file (docs/design.md §7). Parsed once at start-up into an immutable
// value; relative paths are resolved against the directory of the config file, unknown keys are
// errors and every error names file:line:column. No Asio here: `--check` and tests use it directly.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace dsa::gateway {

struct host_port {
  std::string host;
  std::uint16_t port = 0;  // 0 binds an ephemeral port
  std::string text() const;
};

struct trust_anchor_config {
  std::string name;
  std::filesystem::path ca_file;
  std::filesystem::path crl_file;  // empty: no CRL for this anchor (no revocation checking)
  // A CA certificate in this anchor's ca_file may also be in another anchor's (a common root
  // above distinct issuing CAs). Both anchors must say so; see docs/operations.md.
  bool allow_shared_ca = false;
  // Where the anchor's CRLs are published (http:// only: a CRL is signed, so the transport need
  // not be trusted). The gateway fetches it every crl_refresh, verifies it against the anchor's
  // CAs, keeps it in crl_file (which must then be writable) and serves new handshakes with it
  // (docs/operations.md, section 5). Empty: crl_file is only read at start and reload.
  std::string crl_url;
  std::chrono::seconds crl_refresh{3600};
};

// Mozilla "intermediate" for TLS 1.2, ECDHE only: AEAD suites (AES-GCM, ChaCha20-Poly1305).
inline constexpr const char* default_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// Every TLS 1.3 suite is AEAD; these are OpenSSL's defaults, written out so the config shows them.
inline constexpr const char* default_tls13_ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

struct tls_config {
  std::filesystem::path certificate, private_key;
  bool min_tls13 = false;  // min_version "1.3"; "1.2" is the default and the lowest allowed
  std::string ciphers = default_tls12_ciphers;            // TLS 1.2, OpenSSL cipher-list syntax
  std::string ciphersuites = default_tls13_ciphersuites;  // TLS 1.3, colon-separated names
  std::vector<trust_anchor_config> trust_anchors;
};

struct upstream_config {
  std::string name;
  std::string url;   // as written
  bool tls = false;  // https
  std::string host;  // from the URL, without brackets
  std::uint16_t port = 0;
  std::string authority;  // host[:port] as sent in Host
  std::filesystem::path ca_file, client_certificate, client_private_key;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds response_timeout{30000};
  std::size_t max_connections = 64;
  bool operator==(const upstream_config&) const = default;  // a reload keeps an unchanged pool
};

struct audit_config {
  std::filesystem::path path, signing_key;
  // The secret under which disclosures record their data subjects (audit/subject_key.hpp);
  // default subject.key in the signing key's directory. Created on first start if absent.
  std::filesystem::path subject_key;
  std::string origin = "dsa-gateway";
};

struct limits_config {
  std::size_t max_header_bytes = 16384;
  std::size_t max_body_bytes = 10 * 1024 * 1024;
  std::chrono::milliseconds header_read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_connections = 1024;
  std::chrono::milliseconds drain_timeout{10000};
};

// Expiry warnings: how far ahead agreements and certificates are warned about.
struct warnings_config {
  int expiry_days = 30;
};

// The access log (docs/operations.md, section 8): one JSON line per answered request.
struct access_log_config {
  bool enabled = false;
  std::filesystem::path path;  // required when enabled
};

// The diagnostic log on stderr: lines less severe than `level` are not written.
enum class log_level { info, warn, error };

struct log_config {
  log_level level = log_level::info;
};

struct config {
  std::filesystem::path file;  // the config file itself
  host_port listen;
  host_port admin_listen{"127.0.0.1", 0};
  int threads = 1;
  tls_config tls;
  std::filesystem::path agreements_dir;
  std::map<std::string, upstream_config> upstreams;
  audit_config audit;
  limits_config limits;
  warnings_config warnings;
  access_log_config access_log;
  log_config log;
};

// Reads and validates `file`. Never throws. The error is "file:line:col: message".
[[nodiscard]] result<config> load_config(const std::filesystem::path& file);

// Parses "host:port" or "[v6]:port"; fails saying what is malformed.
[[nodiscard]] result<host_port> parse_host_port(const std::string& text);

}  // namespace dsa::gateway
