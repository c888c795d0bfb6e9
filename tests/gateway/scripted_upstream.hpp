#pragma once

// A programmable hostile upstream for integration tests: an HTTP server (plain, or TLS with a
// certificate the test names) on 127.0.0.1 port 0 whose every connection runs a script the test
// writes (read a request, write any bytes — interim
// responses, two responses for one request, unsolicited bytes while idle, a 206 nobody asked
// for). It records every request exactly as received. Bounded: reads time out after 5 s, the
// acceptor polls a stop flag, and the destructor closes everything and joins every thread.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace dsa::gateway::testing {

class scripted_upstream;

// One accepted connection, as a script sees it.
class upstream_connection {
 public:
  upstream_connection(scripted_upstream& owner, int fd, int index, SSL* ssl)
      : owner_(owner), fd_(fd), index_(index), ssl_(ssl) {}

  // The connection's number, from 0 in accept order.
  int index() const { return index_; }

  // The next request (head and a Content-Length body) as received; nullopt at EOF or timeout.
  inline std::optional<std::string> read_request();

  // The next request's head only (recorded as a request of its own), leaving its body to
  // read_some: for bodies too large to hold (uploads). nullopt at EOF or timeout.
  inline std::optional<std::string> read_head();

  // Bytes after the head: those already received, else the next to arrive; empty at EOF, error
  // or timeout.
  inline std::string read_some();

  // Tells the test something observable happened (see scripted_upstream::wait_for).
  inline void signal(const std::string& event);

  // Writes `bytes` whole (over TLS: as one record where it fits); false when the peer has gone.
  bool write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ssl_ != nullptr
                            ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                            : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

 private:
  scripted_upstream& owner_;
  int fd_;
  int index_;
  SSL* ssl_;  // null for plain HTTP
  std::string buf_;
};

class scripted_upstream {
 public:
  using script = std::function<void(upstream_connection&)>;

  // Plain HTTP, or TLS with `certificate` and `key` (PEM files) when they are given.
  explicit scripted_upstream(script s, const std::string& certificate = {},
                             const std::string& key = {})
      : script_(std::move(s)) {
    if (!certificate.empty()) {
      tls_ = SSL_CTX_new(TLS_server_method());
      if (SSL_CTX_use_certificate_chain_file(tls_, certificate.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(tls_, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        throw std::runtime_error("scripted upstream: cannot load " + certificate);
      }
    }
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("scripted upstream: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~scripted_upstream() {
    stop_ = true;
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int fd : fds_) {
        ::shutdown(fd, SHUT_RDWR);
      }
    }
    for (auto& t : threads_) {
      t.join();
    }
    for (int fd : fds_) {
      ::close(fd);
    }
    ::close(listen_fd_);
    if (tls_ != nullptr) {
      SSL_CTX_free(tls_);
    }
  }
  scripted_upstream(const scripted_upstream&) = delete;
  scripted_upstream& operator=(const scripted_upstream&) = delete;

  int port() const { return port_; }

  // Every request received so far, in arrival order.
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(fds_.size());
  }

  // Scripts call this to say something observable happened (e.g. "unsolicited bytes written");
  // tests wait for it instead of sleeping.
  void signal(const std::string& event) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(event);
    cv_.notify_all();
  }
  bool wait_for(const std::string& event, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (e == event) {
          return true;
        }
      }
      return false;
    });
  }

 private:
  friend class upstream_connection;

  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        continue;
      }
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      int index = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        index = static_cast<int>(fds_.size());
        fds_.push_back(fd);
      }
      threads_.emplace_back([this, fd, index] {
        SSL* ssl = nullptr;
        if (tls_ != nullptr) {
          ssl = SSL_new(tls_);
          SSL_set_fd(ssl, fd);
          if (SSL_accept(ssl) != 1) {
            ERR_clear_error();
            SSL_free(ssl);
            ::shutdown(fd, SHUT_RDWR);
            return;
          }
        }
        upstream_connection c(*this, fd, index, ssl);
        script_(c);
        if (ssl != nullptr) {
          SSL_free(ssl);
          ERR_clear_error();
        }
        ::shutdown(fd, SHUT_RDWR);
      });
    }
  }

  void record(std::string request) {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(std::move(request));
  }

  script script_;
  SSL_CTX* tls_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> threads_;  // touched only by the acceptor thread, then the destructor
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> fds_;
  std::vector<std::string> requests_;
  std::vector<std::string> events_;
};

void upstream_connection::signal(const std::string& event) { owner_.signal(event); }

std::optional<std::string> upstream_connection::read_request() {
  for (;;) {
    const auto end = buf_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      std::string head = buf_.substr(0, end + 4);
      std::string lower = head;
      for (char& c : lower) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      const auto cl = lower.find("\r\ncontent-length:");
      if (cl != std::string::npos) {
        length = std::stoul(lower.substr(cl + 17));
      }
      if (buf_.size() >= end + 4 + length) {
        std::string request = buf_.substr(0, end + 4 + length);
        buf_.erase(0, end + 4 + length);
        owner_.record(request);
        return request;
      }
    }
    char tmp[8192];
    const ssize_t n =
        ssl_ != nullptr ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      return std::nullopt;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

std::optional<std::string> upstream_connection::read_head() {
  for (;;) {
    const auto end = buf_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string head = buf_.substr(0, end + 4);
      buf_.erase(0, end + 4);
      owner_.record(head);
      return head;
    }
    std::string more = read_some();
    if (more.empty()) {
      return std::nullopt;
    }
    buf_ += more;
  }
}

std::string upstream_connection::read_some() {
  if (!buf_.empty()) {
    std::string out;
    out.swap(buf_);
    return out;
  }
  char tmp[65536];
  const ssize_t n =
      ssl_ != nullptr ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    return {};
  }
  return std::string(tmp, static_cast<std::size_t>(n));
}

// A complete HTTP/1.1 response with a Content-Length body.
inline std::string http_response(int status, std::string_view reason, std::string_view body,
                                 std::string_view extra_fields = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + std::string(extra_fields) + "\r\n" + std::string(body);
}

}  // namespace dsa::gateway::testing
