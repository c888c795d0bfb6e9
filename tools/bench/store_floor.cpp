#include "tools/bench/store_floor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "audit/store.hpp"
#include "tools/bench/sample_entry.hpp"

namespace dsa::bench {
namespace {

using clock_type = std::chrono::steady_clock;

// Not counted: the first appends also create the store's first checkpoint and grow fresh files.
constexpr std::size_t warm_up = 5;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// The same rank rule as the load report: the value at index p * (n - 1) of the sorted samples.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

std::vector<double> time_store_commits(const std::filesystem::path& sub, std::size_t commits) {
  audit::store_options options;  // the gateway's defaults: checkpoint every second, WAL, FULL sync
  options.db_path = sub / "audit.db";
  options.signing_key_path = sub / "audit-key.pem";
  auto opened = audit::store::open(options);
  if (!opened) {
    throw std::runtime_error("latency floor: " + opened.error());
  }
  std::unique_ptr<audit::store> store = std::move(opened).value();
  std::mt19937_64 rng(20261122);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> out;
  out.reserve(commits);
  for (std::size_t i = 0; i < commits + warm_up; ++i) {
    audit::entry e = realistic_entry(rng, i);
    bool done = false;
    audit::commit_result result;
    const auto t0 = clock_type::now();
    store->append(std::move(e), [&](const audit::commit_result& r) {
      std::lock_guard lock(mu);
      result = r;
      done = true;
      cv.notify_one();
    });
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done; });
    }
    const double ms = ms_since(t0);
    if (!result.ok) {
      throw std::runtime_error("latency floor: commit to " + options.db_path.string() +
                               " failed: " + result.error);
    }
    if (i >= warm_up) {
      out.push_back(ms);
    }
  }
  store->close();
  return out;
}

std::vector<double> time_fdatasync(const std::filesystem::path& sub, std::size_t n) {
  const std::filesystem::path probe = sub / "fsync-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "latency floor: " + probe.string());
  }
  const std::string block(4096, 'x');
  std::vector<double> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n + warm_up; ++i) {
    const auto t0 = clock_type::now();
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      const int e = errno;
      ::close(fd);
      throw std::system_error(e, std::generic_category(),
                              "latency floor: write+fdatasync " + probe.string());
    }
    const double ms = ms_since(t0);
    if (i >= warm_up) {
      out.push_back(ms);
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

store_floor measure_store_floor(const std::filesystem::path& dir, std::size_t commits) {
  const std::filesystem::path sub = dir / "latency-floor";
  std::filesystem::create_directories(sub);
  store_floor f;
  f.dir = dir;
  f.commits = std::max<std::size_t>(1, commits);
  const std::vector<double> c = time_store_commits(sub, f.commits);
  f.commit_p50_ms = percentile(c, 0.5);
  f.commit_p99_ms = percentile(c, 0.99);
  f.commit_max_ms = percentile(c, 1.0);
  const std::vector<double> s = time_fdatasync(sub, f.commits);
  f.fsync_p50_ms = percentile(s, 0.5);
  f.fsync_p99_ms = percentile(s, 0.99);
  std::error_code ec;
  std::filesystem::remove_all(sub, ec);
  return f;
}

void print_store_floor(const store_floor& f) {
  std::printf(
      "  latency floor audit store commit p50 %.3f ms  p99 %.3f ms  max %.3f ms  (%zu one-entry "
      "durable commits of a scratch store in %s, one at a time, before the load)\n",
      f.commit_p50_ms, f.commit_p99_ms, f.commit_max_ms, f.commits, f.dir.c_str());
  std::printf(
      "                disk fdatasync     p50 %.3f ms  p99 %.3f ms  (%zu appends of 4 KiB to a "
      "file there, each followed by fdatasync)\n",
      f.fsync_p50_ms, f.fsync_p99_ms, f.commits);
}

void print_added_p99(const store_floor& f, double gateway_p99_ms, double rate) {
  if (rate <= 0) {
    std::printf(
        "  added p99     not read in a closed loop (its p99 is queueing behind every connection); "
        "run with --rate 1000 to read docs/design.md §9's latency bar\n");
    return;
  }
  std::printf(
      "  added p99     %.3f ms = gateway p99 %.3f ms - store commit p99 %.3f ms, at %.0f req/s "
      "(docs/design.md §9 bar at 1,000 req/s: <= 1 ms)\n",
      gateway_p99_ms - f.commit_p99_ms, gateway_p99_ms, f.commit_p99_ms, rate);
}

}  // namespace dsa::bench
