#pragma once

// The nginx side of `dsa-bench http --compare-nginx`: nginx as an mTLS reverse proxy to the same
// upstream as the gateway, configured as an agency would run it for this job (one worker,
// ssl_verify_client on with the dev CA and CRL, proxy_pass over keep-alive upstream connections,
// no access log), in a directory of its own so that it needs no root and touches nothing else.

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/common/process.hpp"

namespace dsa::bench {

// `given` when not empty, else the first executable of /usr/sbin/nginx, /usr/local/sbin/nginx,
// /usr/local/nginx/sbin/nginx, /usr/bin/nginx; "" when there is none.
[[nodiscard]] std::string find_nginx(const std::string& given);

class nginx_rig {
 public:
  // Writes DIR/nginx/nginx.conf (listening on a free loopback port with the dev PKI's gateway
  // certificate, proxying to 127.0.0.1:upstream_port), starts `binary` in the foreground and
  // waits up to 5 s for the port to accept and up to 5 s more for the worker process to exist.
  // started() tells whether both happened. The destructor sends
  // SIGTERM (nginx's fast shutdown: the master stops its worker and exits).
  nginx_rig(const std::string& binary, const std::filesystem::path& dir,
            const std::filesystem::path& pki, unsigned short upstream_port);

  bool started() const { return started_; }
  int port() const { return port_; }
  pid_t pid() const { return proc_->pid(); }  // the master; its worker is its child
  std::filesystem::path error_log() const { return dir_ / "error.log"; }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<test::process> proc_;
  bool started_ = false;
};

}  // namespace dsa::bench
