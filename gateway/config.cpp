#include "gateway/config.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <set>
#include <stdexcept>

namespace dsa::gateway {
namespace {

// Thrown inside the parser only and turned into load_config's error by load_config: yaml-cpp
// throws anyway, and a start-up parser reads best as straight-line code.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class parser {
 public:
  explicit parser(std::filesystem::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const {
    YAML::Mark m = at.IsDefined() ? at.Mark() : YAML::Mark::null_mark();
    int line = m.line >= 0 ? m.line + 1 : 1;
    int col = m.column >= 0 ? m.column + 1 : 1;
    throw config_error(file_.string() + ":" + std::to_string(line) + ":" + std::to_string(col) +
                       ": " + message);
  }

  void expect_map(const YAML::Node& n, const std::string& what) const {
    if (!n.IsMap()) {
      fail(n, what + " must be a mapping");
    }
  }

  void only_keys(const YAML::Node& n, const std::set<std::string>& allowed,
                 const std::string& what) const {
    for (const auto& kv : n) {
      const auto key = kv.first.as<std::string>();
      if (!allowed.contains(key)) {
        std::string list;
        for (const auto& a : allowed) {
          list += (list.empty() ? "" : ", ") + a;
        }
        fail(kv.first, "unknown key '" + key + "' in " + what + " (expected one of: " + list + ")");
      }
    }
  }

  std::string scalar(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) {
      fail(n, what + " must be a string");
    }
    return n.Scalar();
  }

  std::filesystem::path path(const YAML::Node& n, const std::string& what) const {
    std::filesystem::path p = scalar(n, what);
    if (p.empty()) {
      fail(n, what + " must not be empty");
    }
    return p.is_absolute() ? p : (file_.parent_path() / p).lexically_normal();
  }

  std::uint64_t number(const YAML::Node& n, const std::string& what, std::uint64_t min,
                       std::uint64_t max) const {
    const std::string s = scalar(n, what);
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) {
      fail(n, what + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                  "], got '" + s + "'");
    }
    return v;
  }

  std::chrono::milliseconds millis(const YAML::Node& n, const std::string& what) const {
    return std::chrono::milliseconds(number(n, what, 1, 86'400'000));
  }

  host_port address(const YAML::Node& n, const std::string& what) const {
    auto hp = parse_host_port(scalar(n, what));
    if (!hp) {
      fail(n, what + " must be HOST:PORT (port 0 for an ephemeral port)");
    }
    return *hp;
  }

  config parse(const YAML::Node& root) {
    config c;
    c.file = file_;
    expect_map(root, "the gateway config");
    only_keys(root,
              {"listen", "admin_listen", "threads", "tls", "agreements_dir", "upstreams", "audit",
               "limits", "warnings", "access_log", "log"},
              "the gateway config");
    if (!root["listen"]) {
      fail(root, "missing required key 'listen'");
    }
    c.listen = address(root["listen"], "listen");
    if (root["admin_listen"]) {
      c.admin_listen = address(root["admin_listen"], "admin_listen");
    }
    if (root["threads"]) {
      c.threads = static_cast<int>(number(root["threads"], "threads", 1, 256));
    }
    parse_tls(root["tls"], c.tls, root);
    if (!root["agreements_dir"]) {
      fail(root, "missing required key 'agreements_dir'");
    }
    c.agreements_dir = path(root["agreements_dir"], "agreements_dir");
    if (root["upstreams"]) {
      const YAML::Node ups = root["upstreams"];
      expect_map(ups, "upstreams");
      for (const auto& kv : ups) {
        upstream_config u = parse_upstream(kv.first.as<std::string>(), kv.second);
        c.upstreams.emplace(u.name, std::move(u));
      }
    }
    parse_audit(root["audit"], c.audit, root);
    if (root["limits"]) {
      parse_limits(root["limits"], c.limits);
    }
    if (root["warnings"]) {
      const YAML::Node w = root["warnings"];
      expect_map(w, "warnings");
      only_keys(w, {"expiry_days"}, "warnings");
      if (w["expiry_days"]) {
        c.warnings.expiry_days =
            static_cast<int>(number(w["expiry_days"], "warnings.expiry_days", 0, 3650));
      }
    }
    if (root["access_log"]) {
      const YAML::Node n = root["access_log"];
      expect_map(n, "access_log");
      only_keys(n, {"enabled", "path"}, "access_log");
      if (n["enabled"]) {
        c.access_log.enabled = boolean(n["enabled"], "access_log.enabled");
      }
      if (n["path"]) {
        c.access_log.path = path(n["path"], "access_log.path");
      }
      if (c.access_log.enabled && c.access_log.path.empty()) {
        fail(n, "access_log.enabled is true but access_log.path is missing");
      }
    }
    if (root["log"]) {
      const YAML::Node n = root["log"];
      expect_map(n, "log");
      only_keys(n, {"level"}, "log");
      if (n["level"]) {
        const std::string v = scalar(n["level"], "log.level");
        if (v == "info") {
          c.log.level = log_level::info;
        } else if (v == "warn") {
          c.log.level = log_level::warn;
        } else if (v == "error") {
          c.log.level = log_level::error;
        } else {
          fail(n["level"], "log.level must be info, warn or error, got '" + v + "'");
        }
      }
    }
    return c;
  }

 private:
  bool boolean(const YAML::Node& n, const std::string& what) const {
    const std::string v = scalar(n, what);
    if (v != "true" && v != "false") {
      fail(n, what + " must be true or false, got '" + v + "'");
    }
    return v == "true";
  }

  void parse_tls(const YAML::Node& n, tls_config& t, const YAML::Node& root) {
    if (!n) {
      fail(root, "missing required key 'tls'");
    }
    expect_map(n, "tls");
    only_keys(
        n,
        {"certificate", "private_key", "min_version", "ciphers", "ciphersuites", "trust_anchors"},
        "tls");
    for (const char* key : {"certificate", "private_key", "trust_anchors"}) {
      if (!n[key]) {
        fail(n, std::string("missing required key 'tls.") + key + "'");
      }
    }
    t.certificate = path(n["certificate"], "tls.certificate");
    t.private_key = path(n["private_key"], "tls.private_key");
    if (n["min_version"]) {
      const std::string v = scalar(n["min_version"], "tls.min_version");
      if (v == "1.3") {
        t.min_tls13 = true;
      } else if (v != "1.2") {
        fail(n["min_version"], "tls.min_version must be \"1.2\" or \"1.3\", got '" + v + "'");
      }
    }
    // Whether OpenSSL knows the names is checked where the context is built (make_server_context).
    if (n["ciphers"]) {
      t.ciphers = scalar(n["ciphers"], "tls.ciphers");
      if (t.ciphers.empty()) {
        fail(n["ciphers"], "tls.ciphers must not be empty");
      }
    }
    if (n["ciphersuites"]) {
      t.ciphersuites = scalar(n["ciphersuites"], "tls.ciphersuites");
      if (t.ciphersuites.empty()) {
        fail(n["ciphersuites"], "tls.ciphersuites must not be empty");
      }
    }
    const YAML::Node anchors = n["trust_anchors"];
    if (!anchors.IsSequence() || anchors.size() == 0) {
      fail(anchors, "tls.trust_anchors must be a non-empty list");
    }
    std::set<std::string> names;
    for (const auto& a : anchors) {
      expect_map(a, "a trust anchor");
      only_keys(
          a,
          {"name", "ca_file", "crl_file", "allow_shared_ca", "crl_url", "crl_refresh_interval_s"},
          "a trust anchor");
      if (!a["name"] || !a["ca_file"]) {
        fail(a, "a trust anchor needs 'name' and 'ca_file'");
      }
      trust_anchor_config ta;
      ta.name = scalar(a["name"], "trust anchor name");
      if (ta.name.empty() || !names.insert(ta.name).second) {
        fail(a["name"], "trust anchor names must be non-empty and unique");
      }
      ta.ca_file = path(a["ca_file"], "ca_file");
      if (a["crl_file"]) {
        ta.crl_file = path(a["crl_file"], "crl_file");
      }
      if (a["allow_shared_ca"]) {
        const std::string v = scalar(a["allow_shared_ca"], "allow_shared_ca");
        if (v != "true" && v != "false") {
          fail(a["allow_shared_ca"], "allow_shared_ca must be true or false, got '" + v + "'");
        }
        ta.allow_shared_ca = v == "true";
      }
      if (a["crl_url"]) {
        ta.crl_url = scalar(a["crl_url"], "crl_url");
        if (!ta.crl_url.starts_with("http://") || ta.crl_url.size() <= 7) {
          fail(a["crl_url"],
               "crl_url must be an http:// URL (a CRL is signed; its transport "
               "need not be), got '" +
                   ta.crl_url + "'");
        }
        if (ta.crl_file.empty()) {
          fail(a["crl_url"], "crl_url needs crl_file: the fetched CRL is kept there");
        }
      }
      if (a["crl_refresh_interval_s"]) {
        if (!a["crl_url"]) {
          fail(a["crl_refresh_interval_s"], "crl_refresh_interval_s needs crl_url");
        }
        ta.crl_refresh = std::chrono::seconds(
            number(a["crl_refresh_interval_s"], "crl_refresh_interval_s", 1, 7 * 86400));
      }
      t.trust_anchors.push_back(std::move(ta));
    }
  }

  upstream_config parse_upstream(const std::string& name, const YAML::Node& n) {
    expect_map(n, "upstream '" + name + "'");
    only_keys(n,
              {"url", "ca_file", "client_certificate", "client_private_key", "connect_timeout_ms",
               "response_timeout_ms", "max_connections"},
              "upstream '" + name + "'");
    upstream_config u;
    u.name = name;
    if (!n["url"]) {
      fail(n, "upstream '" + name + "' needs 'url'");
    }
    u.url = scalar(n["url"], "url");
    std::string rest;
    if (u.url.starts_with("https://")) {
      u.tls = true;
      rest = u.url.substr(8);
    } else if (u.url.starts_with("http://")) {
      rest = u.url.substr(7);
    } else {
      fail(n["url"], "upstream url must start with http:// or https://");
    }
    if (!rest.empty() && rest.back() == '/') {
      rest.pop_back();
    }
    if (rest.find('/') != std::string::npos || rest.find('@') != std::string::npos ||
        rest.find('?') != std::string::npos) {
      fail(n["url"], "upstream url must be scheme://host[:port] (no path, user info or query)");
    }
    host_port hp;
    if (auto parsed = parse_host_port(rest)) {
      hp = *parsed;
    } else {
      hp.port = u.tls ? 443 : 80;
      if (rest.empty() || rest.find(':') != std::string::npos) {
        fail(n["url"], "upstream url has a malformed host or port");
      }
      hp.host = rest;
    }
    if (hp.port == 0) {
      fail(n["url"], "upstream url needs a non-zero port");
    }
    u.host = hp.host;
    u.port = hp.port;
    u.authority = rest;
    if (n["ca_file"]) {
      u.ca_file = path(n["ca_file"], "ca_file");
    } else if (u.tls) {
      fail(n, "https upstream '" + name + "' needs 'ca_file' to verify its certificate");
    }
    if (n["client_certificate"].IsDefined() != n["client_private_key"].IsDefined()) {
      fail(n, "client_certificate and client_private_key go together");
    }
    if (n["client_certificate"]) {
      u.client_certificate = path(n["client_certificate"], "client_certificate");
      u.client_private_key = path(n["client_private_key"], "client_private_key");
    }
    if (n["connect_timeout_ms"]) {
      u.connect_timeout = millis(n["connect_timeout_ms"], "connect_timeout_ms");
    }
    if (n["response_timeout_ms"]) {
      u.response_timeout = millis(n["response_timeout_ms"], "response_timeout_ms");
    }
    if (n["max_connections"]) {
      u.max_connections = number(n["max_connections"], "max_connections", 1, 100000);
    }
    return u;
  }

  void parse_audit(const YAML::Node& n, audit_config& a, const YAML::Node& root) {
    if (!n) {
      fail(root, "missing required key 'audit'");
    }
    expect_map(n, "audit");
    only_keys(n, {"path", "signing_key", "subject_key", "origin"}, "audit");
    if (!n["path"] || !n["signing_key"]) {
      fail(n, "audit needs 'path' and 'signing_key'");
    }
    a.path = path(n["path"], "audit.path");
    a.signing_key = path(n["signing_key"], "audit.signing_key");
    // The subject key sits beside the signing key unless placed elsewhere: both are backed up
    // together (docs/operations.md, "The subject key").
    a.subject_key = n["subject_key"] ? path(n["subject_key"], "audit.subject_key")
                                     : a.signing_key.parent_path() / "subject.key";
    if (n["origin"]) {
      a.origin = scalar(n["origin"], "audit.origin");
    }
  }

  void parse_limits(const YAML::Node& n, limits_config& l) {
    expect_map(n, "limits");
    only_keys(n,
              {"max_header_bytes", "max_body_bytes", "header_read_timeout_ms", "idle_timeout_ms",
               "max_connections", "drain_timeout_ms"},
              "limits");
    if (n["max_header_bytes"]) {
      l.max_header_bytes = number(n["max_header_bytes"], "max_header_bytes", 256, 1 << 20);
    }
    if (n["max_body_bytes"]) {
      l.max_body_bytes = number(n["max_body_bytes"], "max_body_bytes", 0, 1ull << 32);
    }
    if (n["header_read_timeout_ms"]) {
      l.header_read_timeout = millis(n["header_read_timeout_ms"], "header_read_timeout_ms");
    }
    if (n["idle_timeout_ms"]) {
      l.idle_timeout = millis(n["idle_timeout_ms"], "idle_timeout_ms");
    }
    if (n["max_connections"]) {
      l.max_connections = number(n["max_connections"], "max_connections", 1, 1000000);
    }
    if (n["drain_timeout_ms"]) {
      l.drain_timeout = millis(n["drain_timeout_ms"], "drain_timeout_ms");
    }
  }

  std::filesystem::path file_;
};

}  // namespace

std::string host_port::text() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

result<host_port> parse_host_port(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return dsa::fail("'" + text + "': an IPv6 address must be written [ADDRESS]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      return dsa::fail("'" + text + "' is not HOST:PORT (an IPv6 address needs [brackets])");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
      value > 65535) {
    return dsa::fail("'" + text + "': " +
                     (host.empty() ? std::string("the host is empty")
                                   : "the port must be a number from 0 to 65535"));
  }
  return host_port{host, static_cast<std::uint16_t>(value)};
}

result<config> load_config(const std::filesystem::path& file) {
  std::filesystem::path absolute = std::filesystem::absolute(file);
  try {
    YAML::Node root = YAML::LoadFile(absolute.string());
    return parser(absolute).parse(root);
  } catch (const config_error& e) {
    return dsa::fail(e.what());
  } catch (const YAML::BadFile&) {
    return dsa::fail(file.string() + ":1:1: cannot read the config file");
  } catch (const YAML::Exception& e) {
    return dsa::fail(file.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace dsa::gateway
