#pragma once

// Forwarding to one upstream (docs/design.md §4, §7): a keep-alive connection pool per (I/O thread,
// upstream), plain HTTP or TLS with the upstream's certificate verified against its CA and its
// host name or IP address, an optional client certificate, a connect timeout (→ 502
// upstream_unavailable) and a response timeout (→ 504 upstream_timeout).
//
// Thread safety: a pool belongs to one io_context run by one thread (the gateway runs one
// io_context per I/O thread), so it needs no locks; it must only be used from that thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "policy/reason.hpp"
#include "upstream_response.hpp"

namespace dsa::gateway {

class upstream_pool {
 public:
  // `tls` is null for http upstreams; shared by every pool of the upstream (SSL_CTX is
  // thread-safe for creating connections).
  upstream_pool(boost::asio::io_context& ioc, const upstream_config& cfg,
                std::shared_ptr<boost::asio::ssl::context> tls, std::size_t max_body_bytes);
  ~upstream_pool();
  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;

  // Sends `head` (a complete serialised request head) and `body`, reads the response. An
  // idempotent request (GET/HEAD) that fails on a reused keep-alive connection before any
  // response byte is retried once on a new connection: the upstream may have closed it idle.
  // Never throws.
  boost::asio::awaitable<upstream_response> exchange(const std::string& head,
                                                     const std::string& body, bool head_method,
                                                     bool idempotent);

  // Closes idle connections (shutdown).
  void close_idle();

 private:
  struct connection;
  boost::asio::awaitable<std::unique_ptr<connection>> connect(std::string& error, bool& timed_out);
  boost::asio::awaitable<bool> wait_for_slot();
  void release(std::unique_ptr<connection> c, bool reusable);
  static bool quiet(connection& c);

  boost::asio::io_context& ioc_;
  upstream_config cfg_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::size_t max_body_bytes_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::size_t open_ = 0;
  std::deque<boost::asio::steady_timer*> waiters_;
};

}  // namespace dsa::gateway
