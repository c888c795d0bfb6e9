#pragma once

// Counters the admin listener exposes as Prometheus text (/metrics) and the JSON-lines log on
// stderr. No Asio: sessions and the admin handler share one instance across I/O threads.
//
// Thread safety: every member function may be called from any thread. Request counters sit
// behind one mutex (a map insert per request is cheap beside a TLS record and an fsync batch);
// gauges and histogram buckets are atomics.

#include <array>
#include <atomic>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace dsa::gateway {

class metrics {
 public:
  static constexpr std::array<double, 14> latency_bounds_s{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  void count_request(std::string_view decision, std::string_view reason, std::string_view agreement,
                     std::int64_t latency_us);
  void count_handshake_failure(std::string_view reason);
  void connection_opened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t open_connections() const {
    return open_connections_.load(std::memory_order_relaxed);
  }
  void count_rejected_connection() {
    rejected_connections_.fetch_add(1, std::memory_order_relaxed);
  }

  // The Prometheus exposition; `extra` is appended as is (audit and agreement gauges).
  std::string render(std::string_view extra) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> requests_;
  std::map<std::string, std::uint64_t> handshake_failures_;
  std::array<std::atomic<std::uint64_t>, latency_bounds_s.size() + 1> latency_buckets_{};
  std::atomic<std::uint64_t> latency_count_{0};
  std::atomic<std::int64_t> latency_sum_us_{0};
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::uint64_t> rejected_connections_{0};
};

// One JSON line on stderr: {"time":"…","level":…,"event":…, …fields}. Never pass case
// references, acting users or bodies in `fields`: logs leave the audit boundary.
void log_event(std::string_view level, std::string_view event, boost::json::object fields = {});

// Prometheus label-value escaping.
std::string prometheus_escape(std::string_view s);

}  // namespace dsa::gateway
