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

#include "common/result.hpp"
#include "gateway/config.hpp"
#include "gateway/upstream_response.hpp"
#include "policy/reason.hpp"

namespace dsa::gateway {

class upstream_body;
class upstream_upload;

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

  // As exchange, but reads only the final response's head (docs/design.md §6, streamed
  // endpoints): when `body_follows`, `body` is set and reads the body piece by piece, holding the
  // connection until it is destroyed. No body limit here: the caller counts what it relays.
  boost::asio::awaitable<upstream_response> open(const std::string& head, const std::string& body,
                                                 bool head_method, bool idempotent,
                                                 std::unique_ptr<upstream_body>& out);

  // A request whose body the caller streams as it arrives from the client (docs/design.md §6,
  // "Streamed uploads"): takes a connection (as exchange does; never retried, an upload is never
  // idempotent) and writes `head`, whose framing is Content-Length or, when `chunked`, chunked.
  // why == allowed: `out` is set and takes the body, then the response head. Never throws.
  boost::asio::awaitable<upstream_response> begin_upload(const std::string& head, bool chunked,
                                                         std::unique_ptr<upstream_upload>& out);

  // Closes idle connections (shutdown).
  void close_idle();

  struct connection;
  struct head_state;

 private:
  friend class upstream_body;
  friend class upstream_upload;
  // Sends the request and reads past interim responses to the final head (with one retry on a
  // fresh connection, as exchange describes). why == allowed: `st` holds the connection and the
  // parser positioned at the start of the body.
  boost::asio::awaitable<upstream_response> start(const std::string& head, const std::string& body,
                                                  bool head_method, bool idempotent,
                                                  head_state& st);
  // A new connection, TLS handshake done: the error says which step failed (resolve, connect,
  // handshake), for the audit's details.
  boost::asio::awaitable<result<std::unique_ptr<connection>>> connect();
  // An idle connection with nothing pending (`reused`), else a new one; waits for a slot first.
  boost::asio::awaitable<result<std::unique_ptr<connection>>> acquire(bool& reused);
  // Reads past interim responses to the final head on `st.c` into `st.parser`, as start()
  // describes; `got_some` says whether any response byte arrived. why == allowed: the head is
  // read. Otherwise the connection has been released (closed) and `out` says why.
  boost::asio::awaitable<void> read_final_head(head_state& st, bool head_method,
                                               upstream_response& out, bool& got_some);
  // After the final head: the exchange ends here when no body follows (the connection goes back
  // to the pool when it is clean), else `out_body` reads it.
  void open_body(std::unique_ptr<head_state> st, upstream_response& out,
                 std::unique_ptr<upstream_body>& out_body);
  boost::asio::awaitable<bool> wait_for_slot();
  void release(std::unique_ptr<connection> c, bool reusable);
  // `socket`: also ask the kernel whether the socket has bytes (a syscall): needed before a
  // reuse, not when a connection is released, since every reuse asks anyway.
  static bool quiet(connection& c, bool socket);

  boost::asio::io_context& ioc_;
  upstream_config cfg_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::size_t max_body_bytes_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::size_t open_ = 0;
  std::deque<boost::asio::steady_timer*> waiters_;
};

// The body of a response opened by upstream_pool::open. Must be used and destroyed on the
// pool's thread; the pool must outlive it (pools live as long as their worker).
class upstream_body {
 public:
  struct piece {
    std::size_t size = 0;  // bytes read into the buffer; 0 with no error: the body has ended
    std::string error;     // non-empty: the upstream failed mid-body (reset, timeout, framing)
    bool timed_out = false;
  };

  upstream_body(upstream_pool& pool, std::unique_ptr<upstream_pool::head_state> st);
  // Returns the connection to the pool only when the body was read to its end at an exact
  // message boundary with nothing pending; otherwise closes it.
  ~upstream_body();
  upstream_body(const upstream_body&) = delete;
  upstream_body& operator=(const upstream_body&) = delete;

  // Reads at most `size` body bytes into `to`, waiting at most the upstream's response timeout.
  boost::asio::awaitable<piece> read_some(char* to, std::size_t size);

 private:
  struct parser_state;

  upstream_pool& pool_;
  std::unique_ptr<upstream_pool::head_state> st_;  // the connection
  std::unique_ptr<parser_state> body_;             // the head's parser, moved to read the body
  bool ended_ = false;
};

// The body of a request opened by upstream_pool::begin_upload, written piece by piece. Must be
// used and destroyed on the pool's thread; the pool must outlive it. Destroyed before finish()
// has run, it closes the connection mid-request: the upstream sees a truncated body (fewer bytes
// than the declared length, or no last chunk), never a clean end, and the connection is never
// reused.
class upstream_upload {
 public:
  struct written {
    std::size_t bytes = 0;  // body bytes the upstream's connection took, even when it failed
    std::string error;      // non-empty: the write failed or timed out
    bool timed_out = false;
  };

  upstream_upload(upstream_pool& pool, std::unique_ptr<upstream_pool::head_state> st, bool chunked);
  ~upstream_upload();
  upstream_upload(const upstream_upload&) = delete;
  upstream_upload& operator=(const upstream_upload&) = delete;

  // Writes `size` body bytes at `data`, waiting at most the upstream's response timeout. When the
  // body is chunked they leave as one chunk, framed in place: the caller leaves `frame_before`
  // bytes of room before `data` and 2 after it, which this may overwrite (docs/design.md §6: one
  // buffer per upload, no copy).
  static constexpr std::size_t frame_before = 16;
  boost::asio::awaitable<written> write(char* data, std::size_t size);

  // Ends the body (the last chunk when chunked) and reads the response head as
  // upstream_pool::open does: when a body follows, `out_body` reads it.
  boost::asio::awaitable<upstream_response> finish(bool head_method,
                                                   std::unique_ptr<upstream_body>& out_body);

 private:
  upstream_pool& pool_;
  std::unique_ptr<upstream_pool::head_state> st_;  // the connection; null once finished
  bool chunked_;
};

}  // namespace dsa::gateway
