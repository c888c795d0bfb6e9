#include "tools/bench/nginx_rig.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "gateway/config.hpp"
#include "tests/common/loopback.hpp"
#include "tools/bench/cpu_time.hpp"

namespace dsa::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Every path nginx would otherwise take from its compiled-in prefix (/var/lib/nginx, /run) is
// under `nd`, so it runs unprivileged. Started as root, nginx would run its worker as `nobody`,
// which cannot enter the 0700 scratch directory: a body nginx buffers to proxy_temp_path (a large
// one, --stream-mib) would be cut at the first temp file. So the worker keeps the user that owns
// the directory. keepalive_requests is raised so that the client's keep-alive connections last the
// whole run, as the gateway's do. TLS is the gateway's default (gateway/config.hpp: TLS 1.2 and
// 1.3, its suite lists, server preference), so both sides negotiate the same cipher.
void write_config(const fs::path& file, const std::string& nd, const std::string& pki, int port,
                  unsigned short upstream_port) {
  std::ofstream(file)
      << (::geteuid() == 0 ? "user root;\n" : "")
      << "worker_processes 1;\ndaemon off;\nmaster_process on;\npid " << nd
      << "/nginx.pid;\nerror_log " << nd << "/error.log warn;\n"
      << "events { worker_connections 4096; }\n"
      << "http {\n  access_log off;\n"
      << "  client_body_temp_path " << nd << "/client_body;\n  proxy_temp_path " << nd
      << "/proxy;\n  fastcgi_temp_path " << nd << "/fastcgi;\n  uwsgi_temp_path " << nd
      << "/uwsgi;\n  scgi_temp_path " << nd << "/scgi;\n"
      << "  upstream bench { server 127.0.0.1:" << upstream_port << "; keepalive 64; }\n"
      << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n"
      << "    ssl_certificate " << pki << "/gateway.pem;\n    ssl_certificate_key " << pki
      << "/gateway.key;\n    ssl_client_certificate " << pki << "/ca.pem;\n    ssl_crl " << pki
      << "/crl.pem;\n    ssl_verify_client on;\n    ssl_session_tickets off;\n"
      << "    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_prefer_server_ciphers on;\n    ssl_ciphers "
      << gateway::default_tls12_ciphers << ";\n    ssl_conf_command Ciphersuites "
      << gateway::default_tls13_ciphersuites << ";\n"
      << "    keepalive_requests 1000000;\n"
      << "    location / {\n      proxy_pass http://bench;\n      proxy_http_version 1.1;\n"
      << "      proxy_set_header Connection \"\";\n    }\n  }\n}\n";
}

}  // namespace

std::string find_nginx(const std::string& given) {
  if (!given.empty()) {
    return given;
  }
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx",
                        "/usr/bin/nginx"}) {
    if (::access(p, X_OK) == 0) {
      return p;
    }
  }
  return {};
}

nginx_rig::nginx_rig(const std::string& binary, const fs::path& dir, const fs::path& pki,
                     unsigned short upstream_port)
    : dir_(dir / "nginx"), port_(test::unused_port()) {
  fs::create_directories(dir_);
  const std::string nd = dir_.string();
  write_config(dir_ / "nginx.conf", nd, pki.string(), port_, upstream_port);
  proc_ = std::make_unique<test::process>(
      std::vector<std::string>{binary, "-p", nd, "-c", nd + "/nginx.conf", "-e", nd + "/error.log"},
      dir_ / "stderr.log", test::process::options{SIGTERM, 5s});
  // The master listens before it forks its worker, so an accepting port is not enough: the
  // worker must exist before the load starts, or its CPU time would not be counted (the load
  // reads nginx's processes once, before it starts).
  started_ = test::wait_for_port(port_, 5s);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (started_ && children_of(proc_->pid()).empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      started_ = false;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace dsa::bench
