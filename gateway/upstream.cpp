#include "gateway/upstream.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdio>
#include <cstring>
#include <optional>

#include "gateway/tls.hpp"

namespace dsa::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::int64_t micros_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t)
      .count();
}
}  // namespace

struct upstream_pool::connection {
  connection(net::io_context& ioc, net::ssl::context* ctx) {
    if (ctx != nullptr) {
      tls.emplace(ioc, *ctx);
    } else {
      plain.emplace(ioc);
    }
    // Beast reads as much as the buffer has room for, and at least 512 bytes: without room
    // reserved every read of an answer took ~512 bytes, one system call and one timer arm each
    // (docs/performance.md §6). One TLS record's worth serves the JSON answers; a streamed body
    // grows it (upstream_body).
    buffer.reserve(16 * 1024);
  }
  beast::tcp_stream& tcp() { return plain ? *plain : tls->next_layer(); }

  // Writes all of `buffers` (taken by value: a coroutine keeps no reference to a temporary) over
  // TLS or not: the error, if any, and the bytes the connection took.
  template <class Buffers>
  net::awaitable<std::tuple<error_code, std::size_t>> write_all(Buffers buffers) {
    if (tls) {
      co_return co_await net::async_write(*tls, buffers, use_tuple);
    }
    co_return co_await net::async_write(*plain, buffers, use_tuple);
  }

  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
};

// True when nothing is pending on `c` beyond what has been parsed: the connection's buffer is
// empty, OpenSSL holds nothing (decrypted or not), and (with `socket`) the socket has nothing
// readable. Bytes
// Asio has read from the socket but not yet written into its BIO pair cannot be inspected; Asio
// writes them as soon as the pair has room, which at a message boundary it has.
bool upstream_pool::quiet(connection& c, bool socket) {
  if (c.buffer.size() != 0) {
    return false;
  }
  if (c.tls) {
    // Decrypted bytes OpenSSL holds, records it has read but not processed, and encrypted bytes
    // Asio has handed to its side of the BIO pair but OpenSSL has not read yet.
    SSL* ssl = c.tls->native_handle();
    if (SSL_pending(ssl) > 0 || SSL_has_pending(ssl) == 1 ||
        BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) {
      return false;
    }
  }
  if (!socket) {
    return true;
  }
  error_code ec;
  const std::size_t available = c.tcp().socket().available(ec);
  return !ec && available == 0;
}

upstream_pool::upstream_pool(net::io_context& ioc, const upstream_config& cfg,
                             std::shared_ptr<net::ssl::context> tls, std::size_t max_body_bytes)
    : ioc_(ioc), cfg_(cfg), tls_(std::move(tls)), max_body_bytes_(max_body_bytes) {}

upstream_pool::~upstream_pool() = default;

void upstream_pool::close_idle() {
  for (auto& c : idle_) {
    error_code ec;
    c->tcp().socket().close(ec);
  }
  open_ -= idle_.size();
  idle_.clear();
}

void upstream_pool::release(std::unique_ptr<connection> c, bool reusable) {
  if (reusable) {
    idle_.push_back(std::move(c));
  } else {
    if (c) {
      error_code ec;
      c->tcp().socket().close(ec);
    }
    --open_;
  }
  if (!waiters_.empty()) {
    waiters_.front()->cancel();  // wakes the oldest waiter; it re-checks for a free slot
    waiters_.pop_front();
  }
}

net::awaitable<bool> upstream_pool::wait_for_slot() {
  // max_connections is a per-thread bound here; a request waits at most the connect timeout for
  // another request on this thread to finish with a connection.
  const auto deadline = std::chrono::steady_clock::now() + cfg_.connect_timeout;
  while (idle_.empty() && open_ >= cfg_.max_connections) {
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return false;
    }
    net::steady_timer timer(ioc_);
    timer.expires_at(deadline);
    waiters_.push_back(&timer);
    co_await timer.async_wait(use_tuple);
    std::erase(waiters_, &timer);
  }
  co_return true;
}

net::awaitable<result<std::unique_ptr<upstream_pool::connection>>> upstream_pool::connect() {
  auto c = std::make_unique<connection>(ioc_, tls_.get());
  tcp::resolver resolver(ioc_);
  auto [rec, results] = co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port),
                                                        tcp::resolver::numeric_service, use_tuple);
  if (rec) {
    co_return fail("resolve " + cfg_.host + ": " + rec.message());
  }
  c->tcp().expires_after(cfg_.connect_timeout);
  auto [cec, ep] = co_await c->tcp().async_connect(results, use_tuple);
  if (cec) {
    co_return fail("connect " + cfg_.authority + ": " + cec.message());
  }
  c->tcp().socket().set_option(tcp::no_delay(true));
  if (c->tls) {
    if (!set_upstream_host(c->tls->native_handle(), cfg_.host)) {
      co_return fail("cannot set the upstream host name for verification");
    }
    auto [hec] = co_await c->tls->async_handshake(net::ssl::stream_base::client, use_tuple);
    if (hec) {
      co_return fail("TLS handshake with " + cfg_.authority + ": " + hec.message());
    }
  }
  co_return c;
}

// What start() leaves for the body: the connection and a parser that has read the final head.
struct upstream_pool::head_state {
  std::unique_ptr<connection> c;
  std::optional<http::response_parser<http::empty_body>> parser;
  std::chrono::steady_clock::time_point started;
};

namespace {

// The upstream's fields the gateway may pass on, and the framing it needs, from a final head.
template <class Fields>
void read_head_fields(const Fields& res, upstream_response& out) {
  out.status = static_cast<int>(res.result_int());
  if (auto it = res.find(http::field::content_type); it != res.end()) {
    out.content_type = std::string(it->value());
  }
  if (auto it = res.find(http::field::content_disposition); it != res.end()) {
    out.content_disposition = std::string(it->value());
  }
  if (auto it = res.find(http::field::content_range); it != res.end()) {
    out.content_range = std::string(it->value());
  }
}

}  // namespace

net::awaitable<result<std::unique_ptr<upstream_pool::connection>>> upstream_pool::acquire(
    bool& reused) {
  reused = false;
  if (!co_await wait_for_slot()) {
    co_return fail("all " + std::to_string(cfg_.max_connections) +
                   " upstream connections busy for the connect timeout");
  }
  std::unique_ptr<connection> c;
  while (!idle_.empty() && !c) {
    c = std::move(idle_.back());
    idle_.pop_back();
    if (!quiet(*c, true)) {
      // The upstream sent something unasked while the connection was idle: whatever it is,
      // it answers no request of ours. Close it and take another.
      release(std::move(c), false);
    }
  }
  if (c) {
    reused = true;
    co_return c;
  }
  ++open_;
  result<std::unique_ptr<connection>> made = co_await connect();
  if (!made) {
    release(nullptr, false);
  }
  co_return made;
}

net::awaitable<void> upstream_pool::read_final_head(head_state& st, bool head_method,
                                                    upstream_response& out, bool& got_some) {
  // Interim (1xx) responses are read past and never relayed (RFC 9110 §15.2); Beast parses
  // each as a complete message without a body, so every message gets a parser of its own and
  // the bytes after it stay in the connection's buffer for the next. 101 is refused: the
  // gateway never asks for an upgrade. A bounded number of interim responses, all within the
  // response timeout the caller set. Only the head is read here; the body's limit is the
  // caller's (no limit on this parser, so a declared length never fails the head).
  constexpr int max_interim = 8;
  connection& c = *st.c;
  std::optional<http::response_parser<http::empty_body>>& parser = st.parser;
  error_code rec;
  got_some = false;
  for (int interim = 0;; ++interim) {
    parser.emplace();
    parser->header_limit(64 * 1024);
    parser->body_limit(boost::none);
    if (head_method) {
      parser->skip(true);
    }
    if (c.tls) {
      std::tie(rec, std::ignore) =
          co_await http::async_read_header(*c.tls, c.buffer, *parser, use_tuple);
    } else {
      std::tie(rec, std::ignore) =
          co_await http::async_read_header(*c.plain, c.buffer, *parser, use_tuple);
    }
    got_some = got_some || parser->got_some();
    if (rec) {
      break;
    }
    const unsigned status = parser->get().result_int();
    if (status >= 200) {
      break;
    }
    if (status == 101 || interim + 1 >= max_interim) {
      out.latency_us = micros_since(st.started);
      release(std::move(st.c), false);
      out.why = policy::reason::upstream_unavailable;
      out.error = status == 101 ? "the upstream switched protocols (101) unasked"
                                : "the upstream sent more than " + std::to_string(max_interim) +
                                      " interim (1xx) responses";
      co_return;
    }
  }
  out.latency_us = micros_since(st.started);
  if (rec) {
    release(std::move(st.c), false);
    out.why = rec == beast::error::timeout ? policy::reason::upstream_timeout
                                           : policy::reason::upstream_unavailable;
    out.error = "read from " + cfg_.authority + ": " + rec.message();
    co_return;
  }
  out.why = policy::reason::allowed;
  read_head_fields(parser->get(), out);
  if (auto len = parser->content_length()) {
    out.content_length = *len;
  }
}

net::awaitable<upstream_response> upstream_pool::start(const std::string& head,
                                                       const std::string& body, bool head_method,
                                                       bool idempotent, head_state& st) {
  upstream_response out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = false;
    result<std::unique_ptr<connection>> got = co_await acquire(reused);
    if (!got) {
      // docs/design.md §4: a connect failure or connect timeout is upstream_unavailable (502).
      out.why = policy::reason::upstream_unavailable;
      out.error = got.error();
      co_return out;
    }
    std::unique_ptr<connection> c = std::move(got).value();

    const auto started = std::chrono::steady_clock::now();
    c->tcp().expires_after(cfg_.response_timeout);
    std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(body)};
    auto [wec, wn] = co_await c->write_all(bufs);
    if (wec) {
      release(std::move(c), false);
      if (reused && idempotent && wec != beast::error::timeout) {
        continue;
      }
      out.why = wec == beast::error::timeout ? policy::reason::upstream_timeout
                                             : policy::reason::upstream_unavailable;
      out.error = "write to " + cfg_.authority + ": " + wec.message();
      co_return out;
    }

    st.c = std::move(c);
    st.started = started;
    bool got_some = false;
    co_await read_final_head(st, head_method, out, got_some);
    if (out.why != policy::reason::allowed && reused && idempotent && !got_some &&
        out.why != policy::reason::upstream_timeout && !st.c) {
      out = upstream_response{};
      continue;  // a keep-alive connection the upstream had closed
    }
    co_return out;
  }
  co_return out;
}

net::awaitable<upstream_response> upstream_pool::exchange(const std::string& head,
                                                          const std::string& body, bool head_method,
                                                          bool idempotent) {
  head_state st;
  upstream_response out = co_await start(head, body, head_method, idempotent, st);
  if (out.why != policy::reason::allowed) {
    co_return out;
  }
  std::unique_ptr<connection> c = std::move(st.c);
  if (out.content_length && *out.content_length > max_body_bytes_) {
    // Declared over the limit: refused without reading a byte of it.
    release(std::move(c), false);
    out.why = policy::reason::response_too_large;
    out.error = "upstream body over limits.max_body_bytes";
    co_return out;
  }
  http::response_parser<http::string_body> parser(std::move(*st.parser));
  parser.body_limit(max_body_bytes_);
  error_code rec;
  if (!parser.is_done()) {
    if (c->tls) {
      std::tie(rec, std::ignore) = co_await http::async_read(*c->tls, c->buffer, parser, use_tuple);
    } else {
      std::tie(rec, std::ignore) =
          co_await http::async_read(*c->plain, c->buffer, parser, use_tuple);
    }
  }
  out.latency_us = micros_since(st.started);
  if (rec) {
    release(std::move(c), false);
    if (rec == http::error::body_limit) {
      out.why = policy::reason::response_too_large;
      out.error = "upstream body over limits.max_body_bytes";
      co_return out;
    }
    out.why = rec == beast::error::timeout ? policy::reason::upstream_timeout
                                           : policy::reason::upstream_unavailable;
    out.error = "read from " + cfg_.authority + ": " + rec.message();
    co_return out;
  }
  auto res = parser.release();
  out.body = std::move(res.body());
  // Back to the pool only at an exact message boundary: the upstream keeps the connection
  // open, the message was not delimited by closing, and nothing beyond it has arrived. Bytes
  // after the response (a second response, a body the framing did not count) would otherwise
  // be read as the answer to the next request — possibly another partner's.
  const bool reusable = res.keep_alive() && !parser.need_eof() && quiet(*c, false);
  c->tcp().expires_never();
  release(std::move(c), reusable);
  co_return out;
}

net::awaitable<upstream_response> upstream_pool::open(const std::string& head,
                                                      const std::string& body, bool head_method,
                                                      bool idempotent,
                                                      std::unique_ptr<upstream_body>& out_body) {
  auto st = std::make_unique<head_state>();
  upstream_response out = co_await start(head, body, head_method, idempotent, *st);
  if (out.why != policy::reason::allowed) {
    co_return out;
  }
  open_body(std::move(st), out, out_body);
  co_return out;
}

void upstream_pool::open_body(std::unique_ptr<head_state> st, upstream_response& out,
                              std::unique_ptr<upstream_body>& out_body) {
  if (st->parser->is_done()) {
    // No body (204, 304, a HEAD answer, Content-Length: 0): the exchange is over.
    const bool reusable =
        st->parser->get().keep_alive() && !st->parser->need_eof() && quiet(*st->c, false);
    st->c->tcp().expires_never();
    release(std::move(st->c), reusable);
    return;
  }
  out.body_follows = true;
  out_body = std::make_unique<upstream_body>(*this, std::move(st));
}

net::awaitable<upstream_response> upstream_pool::begin_upload(
    const std::string& head, bool chunked, std::unique_ptr<upstream_upload>& out_upload) {
  upstream_response out;
  bool reused = false;
  result<std::unique_ptr<connection>> got = co_await acquire(reused);
  if (!got) {
    out.why = policy::reason::upstream_unavailable;
    out.error = got.error();
    co_return out;
  }
  auto st = std::make_unique<head_state>();
  st->c = std::move(got).value();
  st->started = std::chrono::steady_clock::now();
  connection& c = *st->c;
  c.tcp().expires_after(cfg_.response_timeout);
  const net::const_buffer head_buffer = net::buffer(head);
  auto [wec, wn] = co_await c.write_all(head_buffer);
  if (wec) {
    release(std::move(st->c), false);
    out.why = wec == beast::error::timeout ? policy::reason::upstream_timeout
                                           : policy::reason::upstream_unavailable;
    out.error = "write to " + cfg_.authority + ": " + wec.message();
    co_return out;
  }
  out.why = policy::reason::allowed;
  out_upload = std::make_unique<upstream_upload>(*this, std::move(st), chunked);
  co_return out;
}

// The body parser: the head's parser moved to a buffer_body, which reads into the caller's
// buffer; kept beside the connection so one allocation holds both.
struct upstream_body::parser_state {
  explicit parser_state(http::response_parser<http::empty_body>&& head) : parser(std::move(head)) {}
  http::response_parser<http::buffer_body> parser;
};

upstream_body::upstream_body(upstream_pool& pool, std::unique_ptr<upstream_pool::head_state> st)
    : pool_(pool),
      st_(std::move(st)),
      body_(std::make_unique<parser_state>(std::move(*st_->parser))) {
  st_->parser.reset();
  // A streamed body is read in pieces of up to 64 KiB (session.cpp relays 64 KiB at a time):
  // room for that much per read keeps system calls and timer arms per MiB low. It stays with the
  // connection when it goes back to the pool, within the pool's bound on connections.
  st_->c->buffer.reserve(64 * 1024);
}

upstream_body::~upstream_body() {
  if (!st_ || !st_->c) {
    return;
  }
  // Back to the pool only when the body was read to its end at an exact message boundary (as in
  // exchange); a stream cut by either side leaves the connection mid-message.
  bool reusable = false;
  if (ended_) {
    reusable = body_->parser.get().keep_alive() && !body_->parser.need_eof() &&
               upstream_pool::quiet(*st_->c, false);
  }
  st_->c->tcp().expires_never();
  pool_.release(std::move(st_->c), reusable);
}

net::awaitable<upstream_body::piece> upstream_body::read_some(char* to, std::size_t size) {
  piece out;
  if (ended_ || size == 0) {
    co_return out;
  }
  upstream_pool::connection& c = *st_->c;
  auto& parser = body_->parser;
  parser.get().body().data = to;
  parser.get().body().size = size;
  c.tcp().expires_after(pool_.cfg_.response_timeout);
  error_code ec;
  if (c.tls) {
    std::tie(ec, std::ignore) = co_await http::async_read(*c.tls, c.buffer, parser, use_tuple);
  } else {
    std::tie(ec, std::ignore) = co_await http::async_read(*c.plain, c.buffer, parser, use_tuple);
  }
  if (ec == http::error::need_buffer) {
    ec = {};
  }
  out.size = size - parser.get().body().size;
  if (ec) {
    out.timed_out = ec == beast::error::timeout;
    out.error = "read from " + pool_.cfg_.authority + ": " + ec.message();
    co_return out;
  }
  if (parser.is_done()) {
    ended_ = true;
  }
  co_return out;
}

upstream_upload::upstream_upload(upstream_pool& pool, std::unique_ptr<upstream_pool::head_state> st,
                                 bool chunked)
    : pool_(pool), st_(std::move(st)), chunked_(chunked) {}

upstream_upload::~upstream_upload() {
  if (st_ && st_->c) {
    // Cut before finish(): the request is incomplete, so the connection is closed (without a
    // TLS close_notify, which would not make the body any more complete) and never reused.
    pool_.release(std::move(st_->c), false);
  }
}

net::awaitable<upstream_upload::written> upstream_upload::write(char* data, std::size_t size) {
  written out;
  if (!st_ || !st_->c || size == 0) {
    co_return out;
  }
  char* start = data;
  std::size_t total = size;
  if (chunked_) {
    char line[frame_before];
    const int len = std::snprintf(line, sizeof line, "%zx\r\n", size);
    start = data - len;
    std::memcpy(start, line, static_cast<std::size_t>(len));
    data[size] = '\r';
    data[size + 1] = '\n';
    total = size + static_cast<std::size_t>(len) + 2;
  }
  upstream_pool::connection& c = *st_->c;
  c.tcp().expires_after(pool_.cfg_.response_timeout);
  const net::const_buffer piece = net::buffer(start, total);
  auto [ec, n] = co_await c.write_all(piece);
  // The body bytes among those written: exactly what the upstream's connection took.
  const std::size_t framing = static_cast<std::size_t>(data - start);
  out.bytes = std::min(size, n > framing ? n - framing : 0);
  if (ec) {
    out.timed_out = ec == beast::error::timeout;
    out.error = "write to " + pool_.cfg_.authority + ": " + ec.message();
  }
  co_return out;
}

net::awaitable<upstream_response> upstream_upload::finish(
    bool head_method, std::unique_ptr<upstream_body>& out_body) {
  upstream_response out;
  std::unique_ptr<upstream_pool::head_state> st = std::move(st_);
  upstream_pool::connection& c = *st->c;
  c.tcp().expires_after(pool_.cfg_.response_timeout);
  if (chunked_) {
    static constexpr std::string_view last = "0\r\n\r\n";
    const net::const_buffer last_chunk = net::buffer(last);
    auto [ec, en] = co_await c.write_all(last_chunk);
    if (ec) {
      out.latency_us = micros_since(st->started);
      pool_.release(std::move(st->c), false);
      out.why = ec == beast::error::timeout ? policy::reason::upstream_timeout
                                            : policy::reason::upstream_unavailable;
      out.error = "write to " + pool_.cfg_.authority + ": " + ec.message();
      co_return out;
    }
  }
  bool got_some = false;
  co_await pool_.read_final_head(*st, head_method, out, got_some);
  if (out.why != policy::reason::allowed) {
    co_return out;
  }
  pool_.open_body(std::move(st), out, out_body);
  co_return out;
}

}  // namespace dsa::gateway
