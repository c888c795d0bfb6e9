#pragma once

// A client connection's TLS, run by OpenSSL directly on the socket (docs/design.md §5.1, "TLS on
// the socket"), as nginx and HAProxy do: SSL_read and SSL_write on the non-blocking descriptor,
// and Asio only to wait until the socket is readable or writable. Asio's ssl::stream instead
// passes every byte through a memory BIO pair: four 17 KiB buffers per connection (68 KiB, most
// of an idle connection's memory) and two extra copies of every byte each way. Included by
// session.cpp only (the Beast/Asio layout of docs/design.md §2).
//
// The interface is the subset of beast::ssl_stream<beast::tcp_stream> the session uses, so it
// reads the same: async_handshake, async_read_some, async_write_some (for net::async_write and
// http::async_read), async_shutdown, native_handle(), and next_layer() for the deadline
// (expires_after), cancel() and socket(). One operation at a time: a session never reads and
// writes at once.
//
// Deadlines work as beast::tcp_stream's: expires_after(d) before an operation bounds it; when it
// passes while the operation waits for the socket, the operation ends with beast::error::timeout.
// The timer is armed only when an operation has to wait, and is left running between operations
// rather than cancelled after each (a cancel and a re-arm are a syscall each).
//
// Error codes are those of Asio's engine, which the session's checks were written against:
// a clean close_notify is net::error::eof, a TCP end without one net::ssl::error::stream_truncated,
// a TLS failure an error_code in net::error::get_ssl_category() holding ERR_get_error(), and a
// socket failure its errno in the system category.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>

namespace dsa::gateway {

class tls_stream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using clock = std::chrono::steady_clock;

  // Takes the accepted socket; the handshake (server side) is still to come.
  tls_stream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx)
      : socket_(std::move(socket)), timer_(socket_.get_executor()) {
    ssl_ = SSL_new(ctx.native_handle());
    if (ssl_ == nullptr) {
      throw std::runtime_error("SSL_new failed");
    }
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
    SSL_set_accept_state(ssl_);
    // Partial writes: SSL_write returns after each record it could send, as a socket write
    // does; read-ahead: one recv fills OpenSSL's buffer with every record waiting, not one
    // header and then one body per record. Buffers are given back while the connection idles.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                           SSL_MODE_RELEASE_BUFFERS);
    SSL_set_read_ahead(ssl_, 1);
  }
  ~tls_stream() { SSL_free(ssl_); }
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  SSL* native_handle() { return ssl_; }
  // The layer below, as Beast names it: this stream carries the socket and the deadline itself.
  tls_stream& next_layer() { return *this; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  // Bounds the operations that follow until the next call (beast::tcp_stream::expires_after).
  void expires_after(clock::duration d) { deadline_ = clock::now() + d; }
  // Ends a waiting operation now with operation_aborted (a drain closing idle connections).
  void cancel() {
    boost::system::error_code ec;
    socket_.cancel(ec);
  }

  template <class Token>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type, Token&& token) {
    return start([](SSL* s, std::size_t&) { return SSL_do_handshake(s); },
                 std::forward<Token>(token));
  }

  // Sends close_notify and waits for the peer's (as Asio's async_shutdown does).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return start(
        [](SSL* s, std::size_t&) {
          // 0: our close_notify is sent, the peer's not yet read; the second call reads it.
          const int r = SSL_shutdown(s);
          return r == 0 ? SSL_shutdown(s) : r;
        },
        std::forward<Token>(token));
  }

  // Completes when a read would find something (the socket is readable, or OpenSSL holds
  // bytes already), without a buffer: an idle connection holds none while it waits
  // (docs/performance.md §7).
  template <class Token>
  auto async_wait_readable(Token&& token) {
    return start(
        [first = true](SSL* s, std::size_t&) mutable {
          if (SSL_has_pending(s) == 1 || !first) {
            return 1;
          }
          first = false;
          return wait_for_read;
        },
        std::forward<Token>(token));
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    const boost::asio::mutable_buffer b = first_buffer(buffers);
    return start_sized(
        [b](SSL* s, std::size_t& n) {
          // Every record already buffered (read-ahead) in one operation, but no further recv
          // once something has been read: that would be a syscall that finds nothing.
          auto* p = static_cast<unsigned char*>(b.data());
          int ret = 1;
          while (n < b.size() && (n == 0 || SSL_has_pending(s) == 1)) {
            std::size_t got = 0;
            ret = SSL_read_ex(s, p + n, b.size() - n, &got);
            if (ret <= 0) {
              break;
            }
            n += got;
          }
          return n > 0 ? 1 : ret;
        },
        std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    const boost::asio::const_buffer b = first_buffer(buffers);
    return start_sized(
        [b](SSL* s, std::size_t& n) {
          // Record after record (partial writes) until all is sent or the socket is full; what
          // was sent is reported and a record refused by a full socket is offered again by the
          // next call, which starts at the same byte (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
          const auto* p = static_cast<const unsigned char*>(b.data());
          int ret = 1;
          while (n < b.size()) {
            std::size_t put = 0;
            ret = SSL_write_ex(s, p + n, b.size() - n, &put);
            if (ret <= 0) {
              break;
            }
            n += put;
          }
          return n > 0 || b.size() == 0 ? 1 : ret;
        },
        std::forward<Token>(token));
  }

 private:
  // What an attempt returns to wait for the socket to be readable without an OpenSSL call.
  static constexpr int wait_for_read = -1000;

  template <class Buffers>
  static auto first_buffer(const Buffers& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end; ++it) {
      if (boost::asio::buffer_size(*it) > 0) {
        return *it;
      }
    }
    using buffer = std::decay_t<decltype(*it)>;
    return buffer();
  }

  // One TLS call, retried each time the socket becomes ready for what OpenSSL wants.
  // Sized: completes with (error_code, bytes), as read_some and write_some; otherwise with
  // (error_code), as handshake and shutdown.
  template <class Attempt, bool Sized>
  struct op {
    tls_stream& s;
    Attempt attempt;
    enum class state { first, waited, posted } at = state::first;
    boost::system::error_code result_ec{};
    std::size_t result_n = 0;

    template <class Self>
    static void deliver(Self& self, boost::system::error_code ec, std::size_t n) {
      if constexpr (Sized) {
        self.complete(ec, n);
      } else {
        self.complete(ec);
      }
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      if (at == state::posted) {
        deliver(self, result_ec, result_n);
        return;
      }
      if (at == state::waited) {
        s.waiting_ = false;
        if (s.timed_out_) {
          deliver(self, boost::beast::error::timeout, 0);
          return;
        }
        if (ec) {
          deliver(self, ec, 0);
          return;
        }
      }
      ERR_clear_error();
      errno = 0;
      std::size_t n = 0;
      const int ret = attempt(s.ssl_, n);
      const int sys = errno;
      if (ret > 0) {
        finish(self, {}, n);
        return;
      }
      const int err = ret == wait_for_read ? SSL_ERROR_WANT_READ : SSL_get_error(s.ssl_, ret);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (s.deadline_ <= clock::now()) {
          finish(self, boost::beast::error::timeout, 0);
          return;
        }
        at = state::waited;
        s.arm_timer();
        s.waiting_ = true;
        const auto what = err == SSL_ERROR_WANT_READ ? boost::asio::ip::tcp::socket::wait_read
                                                     : boost::asio::ip::tcp::socket::wait_write;
        s.socket_.async_wait(what, std::move(self));
        return;
      }
      finish(self, s.error_of(err, sys), 0);
    }

    // A result known without waiting is delivered through the executor, never from inside the
    // initiating call (as Asio's own sockets do), so a loop of quick reads cannot grow the stack.
    template <class Self>
    void finish(Self& self, boost::system::error_code ec, std::size_t n) {
      if (at == state::waited) {
        deliver(self, ec, n);
        return;
      }
      at = state::posted;
      result_ec = ec;
      result_n = n;
      boost::asio::post(s.socket_.get_executor(), std::move(self));
    }
  };

  template <class Attempt, class Token>
  auto start_sized(Attempt attempt, Token&& token) {
    timed_out_ = false;
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        op<Attempt, true>{*this, std::move(attempt)}, token, socket_);
  }

  template <class Attempt, class Token>
  auto start(Attempt attempt, Token&& token) {
    timed_out_ = false;
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        op<Attempt, false>{*this, std::move(attempt)}, token, socket_);
  }

  // The error an operation ends with, as Asio's SSL engine reports it.
  static boost::system::error_code error_of(int err, int sys) {
    namespace ssl_error = boost::asio::ssl::error;
    if (err == SSL_ERROR_ZERO_RETURN) {
      return boost::asio::error::eof;
    }
    const unsigned long e = ERR_peek_error();
    if (err == SSL_ERROR_SSL) {
      ERR_clear_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return ssl_error::stream_truncated;
      }
      return {static_cast<int>(e), boost::asio::error::get_ssl_category()};
    }
    if (err == SSL_ERROR_SYSCALL) {
      ERR_clear_error();
      if (e == 0 && sys != 0) {
        return {sys, boost::system::system_category()};
      }
      // The peer ended TCP without close_notify.
      return ssl_error::stream_truncated;
    }
    return ssl_error::unexpected_result;
  }

  // The deadline's timer runs while an operation waits. A timer still pending from an earlier,
  // later-or-equal deadline is reused; one due too late is moved. When it fires it ends a
  // waiting operation whose deadline has passed, and re-arms for one that was extended.
  void arm_timer() {
    if (deadline_ == clock::time_point::max()) {
      return;
    }
    if (timer_pending_ && armed_for_ <= deadline_) {
      return;
    }
    armed_for_ = deadline_;
    timer_pending_ = true;
    timer_.expires_at(deadline_);
    timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
      if (ec || alive.expired()) {
        return;  // moved or cancelled; or the stream is gone
      }
      timer_pending_ = false;
      if (!waiting_) {
        return;
      }
      if (clock::now() >= deadline_) {
        timed_out_ = true;
        cancel();
      } else {
        arm_timer();
      }
    });
  }

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  boost::asio::steady_timer timer_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point armed_for_{};
  bool timer_pending_ = false;
  bool waiting_ = false;    // an operation waits for the socket
  bool timed_out_ = false;  // its deadline passed: it ends with beast::error::timeout
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // the timer's handler checks it
};

}  // namespace dsa::gateway
