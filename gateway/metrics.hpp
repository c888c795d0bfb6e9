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
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "gateway/config.hpp"

namespace dsa::audit {
struct store_stats;
}

namespace dsa::gateway {

// A latency histogram with fixed buckets (seconds), lock-free to observe.
class latency_histogram {
 public:
  static constexpr std::array<double, 14> bounds_s{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  void observe(std::int64_t micros);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  // Appends the _bucket, _sum and _count lines of `name`; `labels` is empty or `key="value"`.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds_s.size() + 1> buckets_{};  // not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> sum_us_{0};
};

class metrics {
 public:
  // `requester` is the party id (empty when unknown): party ids come from the loaded agreements,
  // so the label is bounded by them, and by max_requester_labels besides (later ones share
  // requester="other").
  void count_request(std::string_view decision, std::string_view reason, std::string_view agreement,
                     std::string_view requester, std::int64_t latency_us);
  static constexpr std::size_t max_requester_labels = 256;
  void count_handshake_failure(std::string_view reason);
  // Registers an upstream's latency histogram and health gauge (again for a name known already
  // is a no-op). Start-up and every accepted reload call it; a name a reload removed keeps its
  // series.
  void add_upstream(const std::string& name);
  // Time from the first byte written to the upstream to the end of its response, for every
  // exchange that got a response or failed (timeouts included). Unknown names are ignored.
  void observe_upstream(const std::string& name, std::int64_t latency_us);
  // Passive health: whether the last exchange with `name` got a response (any status) or failed
  // to connect, timed out or broke off. Unknown names are ignored.
  void mark_upstream(const std::string& name, bool answered);
  // One `expiry_warning` log line was written about `what` (validity.until, review.due, ...).
  void count_expiry_warning(std::string_view what);
  void connection_opened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void connection_closed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t open_connections() const {
    return open_connections_.load(std::memory_order_relaxed);
  }
  // How many keys of the config file on disk differ from the running ones and wait for a restart.
  void set_restart_required(std::size_t keys) {
    restart_required_.store(static_cast<std::int64_t>(keys), std::memory_order_relaxed);
  }
  // An emergency disclosure was committed under `permission` of `agreement` (docs/operations.md,
  // "Emergency disclosures"); the labels are ids from the loaded agreements, so bounded by them.
  void count_emergency_disclosure(std::string_view agreement, std::string_view permission);
  // A review entry was committed with `outcome` (justified, not_justified, needs_escalation).
  void count_emergency_review(std::string_view outcome);
  // A CRL fetch for `anchor` ended: ok, failed (nothing fetched) or rejected (fetched, refused).
  void count_crl_fetch(const std::string& anchor, std::string_view result, std::int64_t unix_s);
  // A SIGHUP reload finished: accepted (the new set is in force) or rejected (the old one kept).
  void count_reload(bool accepted, std::int64_t unix_seconds);
  void count_rejected_connection() {
    rejected_connections_.fetch_add(1, std::memory_order_relaxed);
  }

  // The Prometheus exposition; `extra` is appended as is (audit and agreement gauges).
  std::string render(std::string_view extra) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::uint64_t> requests_;
  std::set<std::string> requesters_;  // the requester label values in use
  std::map<std::string, std::uint64_t> handshake_failures_;
  std::map<std::string, std::uint64_t> expiry_warnings_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> emergency_disclosures_;
  std::map<std::string, std::uint64_t> emergency_reviews_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> crl_fetches_;
  std::map<std::string, std::int64_t> crl_last_ok_;
  latency_histogram latency_;
  struct upstream_stats {
    latency_histogram latency;
    std::atomic<int> up{1};  // until an exchange says otherwise
    std::atomic<std::int64_t> last_failure_unix{0};
  };
  mutable std::shared_mutex upstreams_mu_;  // shared to observe and render, unique to add
  std::map<std::string, std::unique_ptr<upstream_stats>> upstreams_;
  std::atomic<std::int64_t> restart_required_{0};
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::uint64_t> rejected_connections_{0};
  std::atomic<std::uint64_t> reloads_accepted_{0}, reloads_rejected_{0};
  std::atomic<std::int64_t> last_reload_unix_{0}, last_accepted_reload_unix_{0};
};

// One JSON line on stderr: {"time":"…","level":…,"event":…, …fields}. Never pass case
// references, acting users or bodies in `fields`: logs leave the audit boundary. Lines less
// severe than the threshold (set_log_level, log.level in the config) are not written.
void log_event(std::string_view level, std::string_view event, boost::json::object fields = {});

// The least severe level log_event writes (default info); any thread, any time (a reload).
void set_log_level(log_level level);

// The audit store's gauges and counters (writable, entries, commit latency, batches) as
// Prometheus text with HELP and TYPE lines.
std::string render_audit_metrics(const audit::store_stats& s, bool writable, std::uint64_t entries);

// The dsa_agreements_loaded gauge.
std::string render_agreement_metrics(std::size_t loaded);

// dsa_build_info (version, OpenSSL) and the process_* families Prometheus client libraries
// export (CPU seconds, resident and virtual memory, open and maximum file descriptors, start
// time), read from /proc/self.
std::string render_process_metrics();

// Prometheus label-value escaping.
std::string prometheus_escape(std::string_view s);

}  // namespace dsa::gateway
