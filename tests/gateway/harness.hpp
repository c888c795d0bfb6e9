#pragma once

// Integration-test harness: real processes (the sample upstream and the real `dsa-gateway`
// binary) on loopback with port 0, and a TLS client in plain OpenSSL that writes exact bytes.
// Every wait is bounded; every process started here is killed when its owner goes out of scope.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "audit/entry.hpp"
#include "tests/common/dev_pki.hpp"
#include "tests/common/loopback.hpp"
#include "tests/common/process.hpp"
#include "tests/common/temp_dir.hpp"

namespace dsa::gateway::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using dsa::test::process;
using dsa::test::temp_dir;

// The dev PKI, made once per test binary by the project's own script.
inline const fs::path& pki() {
  static temp_dir dir;
  static const fs::path p = dsa::test::make_dev_pki(DSA_SOURCE_DIR, dir.path());
  return p;
}

inline std::string read_file(const fs::path& p) { return dsa::test::read_text(p); }

// tools/sample_upstream.py with fixtures written by the test, recording what it receives.
class upstream {
 public:
  upstream(const temp_dir& dir, const std::string& name, const std::string& routes_json,
           const std::map<std::string, std::string>& fixtures, std::vector<std::string> extra = {})
      : record_(dir.path() / (name + "-record.jsonl")),
        stderr_(dir.path() / (name + "-stderr.log")) {
    dir.write(name + "-fixtures/routes.json", routes_json);
    for (const auto& [file, text] : fixtures) {
      dir.write(name + "-fixtures/" + file, text);
    }
    std::vector<std::string> argv{
        "python3",    std::string(DSA_SOURCE_DIR) + "/tools/sample_upstream.py",
        "--listen",   "127.0.0.1:0",
        "--fixtures", (dir.path() / (name + "-fixtures")).string(),
        "--record",   record_.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<process>(argv, stderr_);
    auto line = proc_->read_line(10s);
    const std::string prefix = "sample-upstream listening on 127.0.0.1:";
    if (!line || line->rfind(prefix, 0) != 0) {
      throw std::runtime_error("sample upstream did not start: " + line.value_or("(nothing)"));
    }
    port_ = std::stoi(line->substr(prefix.size()));
  }
  ~upstream() {
    // A sample upstream that died during the test would turn every later request into a 502
    // that some tests could mistake for a refusal: it must still be running at the end.
    if (proc_ && std::uncaught_exceptions() == 0) {
      const bool still_running = proc_->running();
      INFO("sample upstream " << proc_->describe_exit() << "; stderr:\n" << read_file(stderr_));
      CHECK(still_running);
    }
  }
  upstream(const upstream&) = delete;
  upstream& operator=(const upstream&) = delete;
  int port() const { return port_; }
  pid_t pid() const { return proc_->pid(); }

  // The exact bytes of every request received so far.
  std::vector<std::string> received() const {
    std::vector<std::string> out;
    std::ifstream in(record_);
    std::string line;
    while (std::getline(in, line)) {
      auto at = line.find("\"raw_b64\": \"");
      std::size_t start = at + 12;
      if (at == std::string::npos) {
        at = line.find("\"raw_b64\":\"");
        start = at + 11;
      }
      if (at == std::string::npos) {
        continue;
      }
      const std::string b64 = line.substr(start, line.find('"', start) - start);
      std::string raw(b64.size(), '\0');
      int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                              reinterpret_cast<const unsigned char*>(b64.data()),
                              static_cast<int>(b64.size()));
      int pad = b64.size() >= 2 ? (b64[b64.size() - 1] == '=') + (b64[b64.size() - 2] == '=') : 0;
      raw.resize(n < 0 ? 0 : static_cast<std::size_t>(n - pad));
      out.push_back(std::move(raw));
    }
    return out;
  }

 private:
  fs::path record_, stderr_;
  std::unique_ptr<process> proc_;
  int port_ = 0;
};

// The real dsa-gateway binary with `config_yaml` written as gateway.yaml in `dir`.
class gateway {
 public:
  gateway(const temp_dir& dir, const std::string& config_yaml) : dir_(dir) {
    config_ = dir.write("gateway.yaml", config_yaml);
    start();
  }
  void start() {
    proc_ = std::make_unique<process>(
        std::vector<std::string>{std::string(DSA_BINARY_DIR) + "/gateway/dsa-gateway", "--config",
                                 config_.string()},
        dir_.path() / "gateway-stderr.log");
    auto line = proc_->read_line(20s);
    if (!line || line->rfind("listening https=", 0) != 0) {
      throw std::runtime_error("gateway did not start: " + line.value_or("(nothing)") + "\n" +
                               read_file(dir_.path() / "gateway-stderr.log"));
    }
    port_ = std::stoi(line->substr(line->find(':') + 1));
    admin_port_ = std::stoi(line->substr(line->rfind(':') + 1));
  }
  // A gateway the test did not stop itself is stopped here with SIGTERM, and must drain and exit
  // 0: a gateway that crashed during the test (or under a sanitizer, reported an error) fails
  // the test even when every response the test saw looked right.
  ~gateway() {
    if (proc_ && !stopped_ && std::uncaught_exceptions() == 0) {
      const bool was_running = proc_->running();
      const int status = proc_->stop(SIGTERM, 15s);
      INFO("gateway " << proc_->describe_exit() << "; stderr:\n"
                      << read_file(dir_.path() / "gateway-stderr.log"));
      CHECK(was_running);
      CHECK(status == 0);
    }
  }
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;
  // Stops the gateway (the caller checks the status it returns).
  int stop(int sig = SIGTERM) {
    stopped_ = true;
    return proc_->stop(sig, 15s);
  }
  void restart() {
    CHECK(stop() == 0);
    start();
    stopped_ = false;
  }
  // True while the gateway process runs.
  bool running() { return proc_->running(); }
  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  pid_t pid() const { return proc_->pid(); }
  fs::path audit_db() const { return dir_.path() / "audit.db"; }

 private:
  const temp_dir& dir_;
  fs::path config_;
  std::unique_ptr<process> proc_;
  int port_ = 0, admin_port_ = 0;
  bool stopped_ = false;
};

// A loopback TCP connection with a 5 s read and write timeout (no read in a test waits longer),
// or -1.
inline int connect_tcp(int port) { return dsa::test::connect_loopback(port); }

struct response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers) {
      if (strcasecmp(n.c_str(), name.c_str()) == 0) {
        return v;
      }
    }
    return {};
  }
  bool has_header(const std::string& name) const {
    for (const auto& [n, v] : headers) {
      if (strcasecmp(n.c_str(), name.c_str()) == 0) {
        return true;
      }
    }
    return false;
  }
};

// Client certificate files outside the dev PKI: `chain` is the leaf followed by the CAs the
// client sends with it.
struct client_files {
  fs::path chain, key;
};

// A TLS client connection in plain OpenSSL. `cert` empty: no client certificate.
class tls_client {
 public:
  tls_client(int port, const std::string& cert, const std::string& key = {}) {
    client_files files;
    if (!cert.empty()) {
      files = {pki() / (cert + ".pem"), pki() / ((key.empty() ? cert : key) + ".key")};
    }
    connect(port, files);
  }
  tls_client(int port, const client_files& files) { connect(port, files); }
  ~tls_client() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
    }
    if (fd_ >= 0) {
      close(fd_);
    }
    SSL_CTX_free(ctx_);
  }
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

 private:
  void connect(int port, const client_files& files) {
    // A write to a connection the gateway has closed must fail, not kill the test binary.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, (pki() / "ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!files.chain.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx_, files.chain.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, files.key.c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = connect_tcp(port);
    if (fd_ < 0) {
      return;
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set1_host(ssl_, "127.0.0.1");
    handshake_ok_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }

 public:
  bool handshake_ok() const { return handshake_ok_; }

  // This end's address as the gateway sees it: "127.0.0.1:PORT" or "[::1]:PORT" (what the audit
  // entries of this connection record as client); empty when not connected.
  std::string local_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
      return {};
    }
    char host[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }

  bool send(const std::string& bytes) {
    if (!handshake_ok_) {
      return false;
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
      int n = SSL_write(ssl_, bytes.data() + done, static_cast<int>(bytes.size() - done));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads more bytes into the buffer; false at EOF, error or timeout.
  bool fill() {
    if (!handshake_ok_ || eof_) {
      return false;
    }
    char tmp[16384];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0) {
      ERR_clear_error();
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  // The bytes received and not yet consumed, or the next ones to arrive; empty at EOF, error or
  // timeout. For reading a streamed body without holding it.
  std::string read_some() {
    if (buf_.empty() && !fill()) {
      return {};
    }
    std::string out;
    out.swap(buf_);
    return out;
  }

  // One response framed by Content-Length (every response but a streamed one, which read_some
  // reads).
  std::optional<response> read_response() {
    for (int guard = 0; guard < 10000; ++guard) {
      auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        response r;
        std::istringstream head(buf_.substr(0, end));
        std::string line;
        std::getline(head, line);
        r.status = std::stoi(line.substr(9, 3));
        std::size_t length = 0;
        while (std::getline(head, line)) {
          if (!line.empty() && line.back() == '\r') {
            line.pop_back();
          }
          auto colon = line.find(':');
          std::string name = line.substr(0, colon);
          std::string value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          if (strcasecmp(name.c_str(), "content-length") == 0) {
            length = std::stoul(value);
          }
          r.headers.emplace_back(name, value);
        }
        while (buf_.size() < end + 4 + length) {
          if (!fill()) {
            return std::nullopt;
          }
        }
        r.body = buf_.substr(end + 4, length);
        buf_.erase(0, end + 4 + length);
        return r;
      }
      if (!fill()) {
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // True when the server closes the connection (within the socket timeout) with nothing more.
  bool closed_by_server() {
    while (fill()) {
    }
    return eof_ && buf_.empty();
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool handshake_ok_ = false;
  bool eof_ = false;
  std::string buf_;
};

// A plain HTTP GET to the admin listener: (status, body).
inline std::pair<int, std::string> admin_get(int port, const std::string& path) {
  dsa::test::http_reply r = dsa::test::loopback_get(port, path);
  return {r.status, std::move(r.body)};
}

// The audit entries as stored (read-only, while the gateway may still be writing).
inline std::vector<audit::entry> audit_entries(const fs::path& db, const std::string& kind) {
  std::vector<audit::entry> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return out;
  }
  sqlite3_busy_timeout(h, 2000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(h, "SELECT entry FROM entries ORDER BY seq", -1, &st, nullptr);
  while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
    std::string text(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                     static_cast<std::size_t>(sqlite3_column_bytes(st, 0)));
    auto e = audit::entry_from_json(text);
    if (e && (kind.empty() || audit::kind_text(*e) == kind)) {
      out.push_back(std::move(*e));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

// How many entries the audit store holds (read-only, while the gateway may still be writing);
// -1 when the store cannot be read.
inline long long audit_count(const fs::path& db) {
  sqlite3* h = nullptr;
  long long n = -1;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 2000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM entries", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(h);
  return n;
}

// Lowercase hex SHA-256 of the DER certificate in pki()/NAME.pem.
inline std::string cert_sha256(const std::string& name) {
  FILE* f = std::fopen((pki() / (name + ".pem")).c_str(), "r");
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(x, EVP_sha256(), md, &len);
  X509_free(x);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(digits[md[i] >> 4]);
    out.push_back(digits[md[i] & 15]);
  }
  return out;
}

using dsa::test::unused_port;

}  // namespace dsa::gateway::testing
