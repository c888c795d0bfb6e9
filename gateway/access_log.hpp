#pragma once

// The access log (docs/operations.md, section 8): one JSON line per answered request, in a file
// of its own, for the edge-proxy view an nginx or HAProxy admin expects — who asked for what,
// what they got, how long it took. It is neither the audit store (the record that counts) nor the
// diagnostic log on stderr. A line never carries case references, acting users, query strings or
// bodies: a request that matched an endpoint is logged with the endpoint's path template (the
// session fills `path` so); any other path is logged without its query, and any segment equal to
// the request's case reference or acting user is replaced by `{case_ref}` / `{acting_user}`.
//
// Line format (keys in this order):
//   {"time":"2026-11-22T09:14:03.123456Z","client":"10.20.1.5:51234","request_id":"…",
//    "requester":"northshire-police","method":"GET","path":"/asb/v1/cases/{case_id}",
//    "endpoint":"asb-case","status":200,"reason":"allowed","bytes":312,"duration_us":4127}
//
// Thread safety: write() and reopen() may be called from any thread; a line is written with one
// fwrite under a mutex, so lines never interleave. No Asio.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace dsa::gateway {

struct access_record {
  std::int64_t time_us = 0;  // Unix microseconds when the request arrived
  std::string client;        // address:port of the TCP peer
  std::string request_id, requester, method, path, endpoint, reason;
  std::string case_ref, acting_user;  // used only to scrub `path`; never written
  int status = 0;
  std::int64_t bytes = 0;  // response body bytes sent
  std::int64_t duration_us = 0;
};

// The JSON line for `r` (with its newline).
[[nodiscard]] std::string format_access_line(const access_record& r);

// `path` without its query string, with segments equal to `case_ref` or `acting_user` (when
// non-empty) replaced by `{case_ref}` and `{acting_user}`.
[[nodiscard]] std::string scrub_path(std::string_view path, std::string_view case_ref,
                                     std::string_view acting_user);

class access_log {
 public:
  access_log() = default;
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  // Opens `path` for appending (created 0640 under the unit's UMask), closing any file open
  // now; an empty path closes the log. An error when the file cannot be opened, in which case
  // the log in use is unchanged. A reload calls it again, which also reopens a file that
  // logrotate has moved away.
  [[nodiscard]] result<void> open(const std::filesystem::path& path);

  // Lock-free, so that a session builds a record only when one will be written.
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void write(const access_record& r);

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  std::atomic<bool> enabled_{false};
};

}  // namespace dsa::gateway
