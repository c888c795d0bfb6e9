#pragma once

// The gateway process: listeners, sessions, admin endpoints, signals (docs/design.md §4–§7). This
// header is free of Asio so that main.cpp and tools stay cheap to compile; everything lives in
// server.cpp.
//
// Lifecycle: create() does every fallible start-up step (agreements, audit store, TLS contexts,
// volume-cap seeding, binding both listeners) and reports the first failure as a message;
// run() prints the `listening https=… admin=…` line, serves until SIGTERM/SIGINT, drains
// in-flight requests for limits.drain_timeout_ms, closes the audit store and returns the exit
// status. SIGHUP reloads the agreements all-or-nothing.

#include <memory>
#include <string>

#include "common/result.hpp"
#include "gateway/config.hpp"

namespace dsa::gateway {

class server {
 public:
  [[nodiscard]] static result<std::unique_ptr<server>> create(const config& cfg);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Blocks until a drain has finished. Returns 0 after a clean shutdown.
  int run();

  struct impl;  // defined in server.cpp; public only so that its session code can name it

 private:
  explicit server(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// `dsa-gateway --check`: validates the config's files and the agreements, prints diagnostics and
// the endpoints served here and elsewhere. Returns the exit status (0 valid, 1 invalid).
int check_config(const config& cfg);

}  // namespace dsa::gateway
