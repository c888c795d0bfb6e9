#pragma once

// Loopback sockets for the integration tests and `dsa-bench http`: connecting to a port a child
// listens on, waiting until it does, picking a free one, and one plain HTTP GET (the gateway's
// admin listener). 127.0.0.1 only; every call is bounded in time; nothing throws.

#include <chrono>
#include <string>

namespace dsa::test {

// A TCP connection to 127.0.0.1:port with `io_timeout` on every read and write, or -1 when
// nothing accepts it. The caller closes the descriptor.
[[nodiscard]] int connect_loopback(int port,
                                   std::chrono::seconds io_timeout = std::chrono::seconds(5));

// True once 127.0.0.1:port accepts a connection; false if it still does not after `limit`.
// For children that announce nothing on stdout (nginx).
[[nodiscard]] bool wait_for_port(int port, std::chrono::milliseconds limit);

// A loopback port nothing listens on (bound to port 0, then closed). Another process may take
// it before the caller binds it; on a test machine that is rare enough to fail loudly.
[[nodiscard]] int unused_port();

struct http_reply {
  int status = 0;  // 0: no connection or no HTTP answer
  std::string body;
};

// GET `path` over plain HTTP/1.1 with Connection: close; the body is everything after the head.
[[nodiscard]] http_reply loopback_get(int port, const std::string& path);

}  // namespace dsa::test
