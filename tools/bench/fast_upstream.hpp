#pragma once

// The upstream of `dsa-bench http --compare-nginx`, inside dsa-bench: plain HTTP/1.1 on
// 127.0.0.1:0, on a thread of its own (so its CPU time can be read apart from the client's),
// answering every GET /asb/v1/cases/… with the same ~1 KiB JSON case record and anything else with
// 404. Keep-alive and pipelining; no request bodies (the benchmark sends none). Both sides of the
// comparison (dsa-gateway and nginx) proxy to it, so it costs them the same.
//
// With a stream size (`--stream-mib`), GET /asb/v1/cases/ASB-2026-000123/bundle (stream_path in
// gateway_rig.hpp) is answered with that many bytes of application/octet-stream and a
// Content-Length: a 1 MiB block of pseudo-random bytes, generated once, written again and again,
// so the body is never held whole.

#include <sys/types.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

namespace dsa::bench {

class fast_upstream {
 public:
  // Listening once constructed; the destructor stops the thread.
  // `stream_bytes` 0: no stream (the stream path is then answered like any other case path).
  explicit fast_upstream(std::uint64_t stream_bytes = 0);
  ~fast_upstream();
  fast_upstream(const fast_upstream&) = delete;
  fast_upstream& operator=(const fast_upstream&) = delete;

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  // Bytes of the JSON body it answers with.
  std::size_t body_size() const;
  // The stream path's body: its size and the lowercase hex SHA-256 of all of it.
  std::uint64_t stream_bytes() const { return stream_bytes_; }
  const std::string& stream_sha256() const { return stream_sha256_; }
  // The serving thread's id (0 until the thread has started).
  pid_t tid() const { return tid_.load(); }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::awaitable<bool> send_stream(boost::asio::ip::tcp::socket& socket);

  std::string ok_, not_found_;
  std::uint64_t stream_bytes_ = 0;
  std::string stream_head_, stream_block_, stream_sha256_;
  std::thread thread_;
  std::atomic<pid_t> tid_{0};
};

}  // namespace dsa::bench
