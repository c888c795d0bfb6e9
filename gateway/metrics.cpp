#include "metrics.hpp"

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

namespace dsa::gateway {

std::string prometheus_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void metrics::count_request(std::string_view decision, std::string_view reason,
                            std::string_view agreement, std::int64_t latency_us) {
  {
    std::lock_guard lock(mu_);
    ++requests_[{std::string(decision), std::string(reason), std::string(agreement)}];
  }
  const double s = static_cast<double>(latency_us) / 1e6;
  std::size_t i = 0;
  while (i < latency_bounds_s.size() && s > latency_bounds_s[i]) {
    ++i;
  }
  latency_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(latency_us, std::memory_order_relaxed);
}

void metrics::count_handshake_failure(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++handshake_failures_[std::string(reason)];
}

std::string metrics::render(std::string_view extra) const {
  std::string out;
  out.append(
      "# HELP dsa_requests_total HTTP requests answered, by decision, reason and agreement.\n"
      "# TYPE dsa_requests_total counter\n");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      const auto& [decision, reason, agreement] = key;
      out.append("dsa_requests_total{decision=\"" + prometheus_escape(decision) + "\",reason=\"" +
                 prometheus_escape(reason) + "\",agreement=\"" + prometheus_escape(agreement) +
                 "\"} " + std::to_string(n) + "\n");
    }
    out.append(
        "# HELP dsa_tls_handshake_failures_total Refused TLS handshakes, by reason.\n"
        "# TYPE dsa_tls_handshake_failures_total counter\n");
    for (const auto& [reason, n] : handshake_failures_) {
      out.append("dsa_tls_handshake_failures_total{reason=\"" + prometheus_escape(reason) + "\"} " +
                 std::to_string(n) + "\n");
    }
  }
  out.append(
      "# HELP dsa_request_duration_seconds Time from the end of the request head to the "
      "response being released.\n# TYPE dsa_request_duration_seconds histogram\n");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_buckets_.size(); ++i) {
    cumulative += latency_buckets_[i].load(std::memory_order_relaxed);
    std::string le = i < latency_bounds_s.size() ? std::to_string(latency_bounds_s[i]) : "+Inf";
    if (i < latency_bounds_s.size()) {
      le.erase(le.find_last_not_of('0') + 1);
      if (le.back() == '.') {
        le.pop_back();
      }
    }
    out.append("dsa_request_duration_seconds_bucket{le=\"" + le + "\"} " +
               std::to_string(cumulative) + "\n");
  }
  out.append("dsa_request_duration_seconds_sum " +
             std::to_string(static_cast<double>(latency_sum_us_.load()) / 1e6) + "\n");
  out.append("dsa_request_duration_seconds_count " + std::to_string(latency_count_.load()) + "\n");
  out.append(
      "# HELP dsa_open_connections Client connections open now.\n"
      "# TYPE dsa_open_connections gauge\n");
  out.append("dsa_open_connections " + std::to_string(open_connections()) + "\n");
  out.append(
      "# HELP dsa_rejected_connections_total Connections closed at accept because "
      "limits.max_connections was reached.\n# TYPE dsa_rejected_connections_total counter\n");
  out.append("dsa_rejected_connections_total " + std::to_string(rejected_connections_.load()) +
             "\n");
  out.append(extra);
  return out;
}

void log_event(std::string_view level, std::string_view event, boost::json::object fields) {
  using namespace std::chrono;
  const auto now = time_point_cast<microseconds>(system_clock::now());
  const std::time_t secs = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(now.time_since_epoch().count() % 1000000));
  boost::json::object o;
  o["time"] = stamp;
  o["level"] = level;
  o["event"] = event;
  for (auto& kv : fields) {
    o[kv.key()] = std::move(kv.value());
  }
  std::string line = boost::json::serialize(o);
  line.push_back('\n');
  // One fwrite per line: stdio locks the stream, so lines from I/O threads never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace dsa::gateway
