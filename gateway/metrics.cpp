#include "gateway/metrics.hpp"

#include <openssl/crypto.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <string_view>
#include <type_traits>
#include <vector>

#include "audit/store.hpp"
#include "common/version.hpp"

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

namespace {

// Prometheus bucket bounds printed without trailing zeros ("0.0001", "1", "5").
std::string bound_text(double b) {
  std::string le = std::to_string(b);
  le.erase(le.find_last_not_of('0') + 1);
  if (le.back() == '.') {
    le.pop_back();
  }
  return le;
}

}  // namespace

void latency_histogram::observe(std::int64_t micros) {
  const double s = static_cast<double>(micros) / 1e6;
  std::size_t i = 0;
  while (i < bounds_s.size() && s > bounds_s[i]) {
    ++i;
  }
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(micros, std::memory_order_relaxed);
}

void latency_histogram::render(std::string& out, std::string_view name,
                               std::string_view labels) const {
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  const std::string own = labels.empty() ? std::string() : "{" + std::string(labels) + "}";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_s.size() ? bound_text(bounds_s[i]) : "+Inf";
    out.append(std::string(name) + "_bucket{" + prefix + "le=\"" + le + "\"} " +
               std::to_string(cumulative) + "\n");
  }
  out.append(std::string(name) + "_sum" + own + " " +
             std::to_string(static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6) +
             "\n");
  out.append(std::string(name) + "_count" + own + " " + std::to_string(count()) + "\n");
}

void metrics::count_request(std::string_view decision, std::string_view reason,
                            std::string_view agreement, std::string_view requester,
                            std::int64_t latency_us) {
  {
    std::lock_guard lock(mu_);
    std::string who(requester);
    if (!requesters_.contains(who)) {
      if (requesters_.size() < max_requester_labels) {
        requesters_.insert(who);
      } else {
        who = "other";
      }
    }
    ++requests_[{std::string(decision), std::string(reason), std::string(agreement),
                 std::move(who)}];
  }
  latency_.observe(latency_us);
}

void metrics::add_upstream(const std::string& name) {
  std::unique_lock lock(upstreams_mu_);
  upstreams_.try_emplace(name, std::make_unique<upstream_stats>());
}

void metrics::observe_upstream(const std::string& name, std::int64_t latency_us) {
  std::shared_lock lock(upstreams_mu_);
  auto it = upstreams_.find(name);
  if (it != upstreams_.end()) {
    it->second->latency.observe(latency_us);
  }
}

void metrics::mark_upstream(const std::string& name, bool answered) {
  std::shared_lock lock(upstreams_mu_);
  auto it = upstreams_.find(name);
  if (it == upstreams_.end()) {
    return;
  }
  it->second->up.store(answered ? 1 : 0, std::memory_order_relaxed);
  if (!answered) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    it->second->last_failure_unix.store(
        std::chrono::duration_cast<std::chrono::seconds>(now).count(), std::memory_order_relaxed);
  }
}

void metrics::count_expiry_warning(std::string_view what) {
  std::lock_guard lock(mu_);
  ++expiry_warnings_[std::string(what)];
}

void metrics::count_emergency_disclosure(std::string_view agreement, std::string_view permission) {
  std::lock_guard lock(mu_);
  ++emergency_disclosures_[{std::string(agreement), std::string(permission)}];
}

void metrics::count_emergency_review(std::string_view outcome) {
  std::lock_guard lock(mu_);
  ++emergency_reviews_[std::string(outcome)];
}

void metrics::count_crl_fetch(const std::string& anchor, std::string_view result,
                              std::int64_t unix_s) {
  std::lock_guard lock(mu_);
  ++crl_fetches_[{anchor, std::string(result)}];
  if (result == "ok") {
    crl_last_ok_[anchor] = unix_s;
  }
}

void metrics::count_reload(bool accepted, std::int64_t unix_seconds) {
  (accepted ? reloads_accepted_ : reloads_rejected_).fetch_add(1, std::memory_order_relaxed);
  last_reload_unix_.store(unix_seconds, std::memory_order_relaxed);
  if (accepted) {
    last_accepted_reload_unix_.store(unix_seconds, std::memory_order_relaxed);
  }
}

void metrics::count_handshake_failure(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++handshake_failures_[std::string(reason)];
}

namespace {

// One metric family whose series are the entries of `values`, keyed by one label value (a
// string) or two (a pair): the HELP and TYPE lines, then `name{label="value",…} n` per entry.
template <typename Key, typename Number>
void labelled(std::string& out, std::string_view name, std::string_view type, std::string_view help,
              std::initializer_list<std::string_view> labels, const std::map<Key, Number>& values) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  for (const auto& [key, n] : values) {
    std::vector<std::string_view> label_values;
    if constexpr (std::is_same_v<Key, std::string>) {
      label_values = {key};
    } else {
      label_values = {key.first, key.second};
    }
    out.append(name).append("{");
    auto label = labels.begin();
    for (std::size_t i = 0; i < label_values.size() && label != labels.end(); ++i, ++label) {
      out.append(i == 0 ? "" : ",").append(*label).append("=\"");
      out.append(prometheus_escape(label_values[i])).append("\"");
    }
    out.append("} ").append(std::to_string(n)).append("\n");
  }
}

}  // namespace

std::string metrics::render(std::string_view extra) const {
  std::string out;
  out.append(
      "# HELP dsa_requests_total HTTP requests answered, by decision, reason, agreement and "
      "requester.\n"
      "# TYPE dsa_requests_total counter\n");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      const auto& [decision, reason, agreement, requester] = key;
      out.append("dsa_requests_total{decision=\"" + prometheus_escape(decision) + "\",reason=\"" +
                 prometheus_escape(reason) + "\",agreement=\"" + prometheus_escape(agreement) +
                 "\",requester=\"" + prometheus_escape(requester) + "\"} " + std::to_string(n) +
                 "\n");
    }
    labelled(out, "dsa_tls_handshake_failures_total", "counter",
             "Refused TLS handshakes, by reason.", {"reason"}, handshake_failures_);
    labelled(out, "dsa_expiry_warnings_total", "counter",
             "expiry_warning log lines written, by what falls due (validity.until, review.due, "
             "notAfter, nextUpdate).",
             {"what"}, expiry_warnings_);
    labelled(out, "dsa_emergency_disclosures_total", "counter",
             "Emergency disclosures (DSA-Emergency, allowed under a permission's emergency "
             "terms), by agreement and permission.",
             {"agreement", "permission"}, emergency_disclosures_);
    labelled(out, "dsa_emergency_reviews_total", "counter",
             "Reviews of emergency disclosures recorded through the admin listener, by outcome.",
             {"outcome"}, emergency_reviews_);
    labelled(out, "dsa_crl_fetches_total", "counter",
             "CRL fetches from crl_url, by trust anchor and result: ok (in use now), failed "
             "(nothing fetched), rejected (fetched but refused).",
             {"trust_anchor", "result"}, crl_fetches_);
    labelled(out, "dsa_crl_last_refresh_timestamp_seconds", "gauge",
             "Unix time of the last CRL fetched and put in use, by trust anchor.", {"trust_anchor"},
             crl_last_ok_);
  }
  out.append(
      "# HELP dsa_request_duration_seconds Time from the end of the request head to the "
      "response being released.\n# TYPE dsa_request_duration_seconds histogram\n");
  latency_.render(out, "dsa_request_duration_seconds", "");
  out.append(
      "# HELP dsa_upstream_duration_seconds Time from the first byte sent to an upstream to "
      "the end of its response (or the failure), by upstream.\n"
      "# TYPE dsa_upstream_duration_seconds histogram\n");
  std::shared_lock upstreams_lock(upstreams_mu_);
  for (const auto& [name, u] : upstreams_) {
    u->latency.render(out, "dsa_upstream_duration_seconds",
                      "upstream=\"" + prometheus_escape(name) + "\"");
  }
  out.append(
      "# HELP dsa_upstream_up 0 when the last exchange with the upstream failed (no connection, "
      "timeout, broken response), 1 when it was answered or none has been tried.\n"
      "# TYPE dsa_upstream_up gauge\n");
  for (const auto& [name, u] : upstreams_) {
    out.append("dsa_upstream_up{upstream=\"" + prometheus_escape(name) + "\"} " +
               std::to_string(u->up.load(std::memory_order_relaxed)) + "\n");
  }
  out.append(
      "# HELP dsa_upstream_last_failure_timestamp_seconds Unix time of the last failed exchange "
      "with the upstream (0: none since start).\n"
      "# TYPE dsa_upstream_last_failure_timestamp_seconds gauge\n");
  for (const auto& [name, u] : upstreams_) {
    out.append("dsa_upstream_last_failure_timestamp_seconds{upstream=\"" + prometheus_escape(name) +
               "\"} " + std::to_string(u->last_failure_unix.load(std::memory_order_relaxed)) +
               "\n");
  }
  upstreams_lock.unlock();
  out.append(
      "# HELP dsa_open_connections Client connections open now.\n"
      "# TYPE dsa_open_connections gauge\n");
  out.append("dsa_open_connections " + std::to_string(open_connections()) + "\n");
  out.append(
      "# HELP dsa_rejected_connections_total Connections closed at accept because "
      "limits.max_connections was reached.\n# TYPE dsa_rejected_connections_total counter\n");
  out.append("dsa_rejected_connections_total " + std::to_string(rejected_connections_.load()) +
             "\n");
  out.append(
      "# HELP dsa_reloads_total SIGHUP reloads, by result: accepted (the new set is in force) or "
      "rejected (the previous set kept).\n# TYPE dsa_reloads_total counter\n");
  out.append("dsa_reloads_total{result=\"accepted\"} " + std::to_string(reloads_accepted_.load()) +
             "\n");
  out.append("dsa_reloads_total{result=\"rejected\"} " + std::to_string(reloads_rejected_.load()) +
             "\n");
  out.append(
      "# HELP dsa_last_reload_timestamp_seconds Unix time of the last reload, by result "
      "(0: none since start).\n# TYPE dsa_last_reload_timestamp_seconds gauge\n");
  out.append("dsa_last_reload_timestamp_seconds{result=\"any\"} " +
             std::to_string(last_reload_unix_.load()) + "\n");
  out.append("dsa_last_reload_timestamp_seconds{result=\"accepted\"} " +
             std::to_string(last_accepted_reload_unix_.load()) + "\n");
  out.append(
      "# HELP dsa_config_restart_required Keys of the config file that differ from the running "
      "ones and take effect only after a restart (listen addresses, threads, audit), as of the "
      "last accepted reload.\n# TYPE dsa_config_restart_required gauge\n");
  out.append("dsa_config_restart_required " + std::to_string(restart_required_.load()) + "\n");
  out.append(extra);
  return out;
}

namespace {

std::atomic<int> log_threshold{static_cast<int>(log_level::info)};

int level_rank(std::string_view level) {
  if (level == "error") {
    return static_cast<int>(log_level::error);
  }
  if (level == "warn") {
    return static_cast<int>(log_level::warn);
  }
  return static_cast<int>(log_level::info);
}

}  // namespace

void set_log_level(log_level level) {
  log_threshold.store(static_cast<int>(level), std::memory_order_relaxed);
}

void log_event(std::string_view level, std::string_view event, boost::json::object fields) {
  if (level_rank(level) < log_threshold.load(std::memory_order_relaxed)) {
    return;
  }
  using namespace std::chrono;
  const auto now = time_point_cast<microseconds>(system_clock::now());
  const std::time_t secs = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];  // room for any int the compiler cannot rule out
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

std::string render_audit_metrics(const audit::store_stats& s, bool writable,
                                 std::uint64_t entries) {
  std::string extra;
  extra +=
      "# HELP dsa_audit_writable 1 when the audit store accepts commits.\n"
      "# TYPE dsa_audit_writable gauge\n";
  extra += "dsa_audit_writable " + std::to_string(writable ? 1 : 0) + "\n";
  extra +=
      "# HELP dsa_audit_entries Entries in the audit store.\n"
      "# TYPE dsa_audit_entries gauge\n";
  extra += "dsa_audit_entries " + std::to_string(entries) + "\n";
  extra +=
      "# HELP dsa_audit_commit_duration_seconds Group-commit latency.\n"
      "# TYPE dsa_audit_commit_duration_seconds histogram\n";
  for (std::size_t i = 0; i < s.commit_us_buckets.size(); ++i) {
    const std::string le = i < s.bucket_bounds_us.size()
                               ? std::to_string(static_cast<double>(s.bucket_bounds_us[i]) / 1e6)
                               : "+Inf";
    extra += "dsa_audit_commit_duration_seconds_bucket{le=\"" + le + "\"} " +
             std::to_string(s.commit_us_buckets[i]) + "\n";
  }
  extra += "dsa_audit_commit_duration_seconds_sum " +
           std::to_string(static_cast<double>(s.commit_us_sum) / 1e6) + "\n";
  extra += "dsa_audit_commit_duration_seconds_count " + std::to_string(s.batches) + "\n";
  // Batch sizes as two counters: rate(entries) / rate(batches) is the mean batch size.
  extra +=
      "# HELP dsa_audit_committed_entries_total Entries committed by this process.\n"
      "# TYPE dsa_audit_committed_entries_total counter\n"
      "dsa_audit_committed_entries_total " +
      std::to_string(s.entries) +
      "\n# HELP dsa_audit_batches_total Group commits (batches) that succeeded.\n"
      "# TYPE dsa_audit_batches_total counter\n"
      "dsa_audit_batches_total " +
      std::to_string(s.batches) +
      "\n# HELP dsa_audit_failed_batches_total Group commits that failed (their requests got "
      "503).\n# TYPE dsa_audit_failed_batches_total counter\n"
      "dsa_audit_failed_batches_total " +
      std::to_string(s.failed_batches) +
      "\n# HELP dsa_audit_max_batch_size The largest batch committed by this process.\n"
      "# TYPE dsa_audit_max_batch_size gauge\n"
      "dsa_audit_max_batch_size " +
      std::to_string(s.max_batch_size) + "\n";
  return extra;
}

namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces and parentheses,
// so the split starts after its last ')'); field 3 of proc(5) is element 0.
std::vector<std::string> proc_stat_fields() {
  std::FILE* f = std::fopen("/proc/self/stat", "re");
  if (f == nullptr) {
    return {};
  }
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string_view text(buf, n);
  const auto close = text.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string_view::npos) {
    return fields;
  }
  std::string field;
  for (char c : text.substr(close + 1)) {
    if (c == ' ' || c == '\n') {
      if (!field.empty()) {
        fields.push_back(std::move(field));
        field.clear();
      }
    } else {
      field.push_back(c);
    }
  }
  return fields;
}

// The system boot time (btime in /proc/stat), in Unix seconds; 0 when unreadable.
std::int64_t boot_time() {
  std::FILE* f = std::fopen("/proc/stat", "re");
  if (f == nullptr) {
    return 0;
  }
  char line[512];
  std::int64_t btime = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "btime ", 6) == 0) {
      btime = std::strtoll(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return btime;
}

std::size_t open_fds() {
  std::size_t n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return n > 0 ? n - 1 : 0;  // the iterator's own descriptor
}

std::string number_text(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

}  // namespace

std::string render_process_metrics() {
  std::string out;
  out +=
      "# HELP dsa_build_info The running build: project version and the OpenSSL library in "
      "use.\n# TYPE dsa_build_info gauge\n";
  out += "dsa_build_info{version=\"" + prometheus_escape(common::version()) + "\",openssl=\"" +
         prometheus_escape(OpenSSL_version(OPENSSL_VERSION)) + "\"} 1\n";
  const std::vector<std::string> f = proc_stat_fields();
  // proc(5): utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based, so index n − 3 here).
  if (f.size() > 21) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    const double start = static_cast<double>(boot_time()) + std::stod(f[19]) / ticks;
    const double vsize = std::stod(f[20]);
    const double rss = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
    out +=
        "# HELP process_cpu_seconds_total User and system CPU time of every thread of the "
        "process.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total " +
        number_text(cpu) + "\n";
    out +=
        "# HELP process_resident_memory_bytes Resident memory.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes " +
        number_text(rss) + "\n";
    out +=
        "# HELP process_virtual_memory_bytes Virtual memory.\n"
        "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes " +
        number_text(vsize) + "\n";
    out +=
        "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n"
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds " +
        number_text(start) + "\n";
  }
  out +=
      "# HELP process_open_fds Open file descriptors.\n"
      "# TYPE process_open_fds gauge\nprocess_open_fds " +
      std::to_string(open_fds()) + "\n";
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out +=
        "# HELP process_max_fds The limit on open file descriptors (RLIMIT_NOFILE).\n"
        "# TYPE process_max_fds gauge\nprocess_max_fds " +
        std::to_string(lim.rlim_cur) + "\n";
  }
  return out;
}

std::string render_agreement_metrics(std::size_t loaded) {
  return "# HELP dsa_agreements_loaded Agreements in the current set.\n"
         "# TYPE dsa_agreements_loaded gauge\n"
         "dsa_agreements_loaded " +
         std::to_string(loaded) + "\n";
}

}  // namespace dsa::gateway
