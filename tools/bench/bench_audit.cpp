// `dsa-bench audit`: durable group-commit throughput of the audit store, append-to-commit latency,
// and verification speed over the file written. Reproducible: fixed seed, sizes from the command
// line. Leaves a store that `dsa audit verify` accepts (the signing key sits next to it).
// With --rate it appends at a fixed rate from one thread instead (an open loop, as the gateway's
// requests arrive at a steady load) and reports the latency a response would wait, the writer's
// commit and WAL checkpoint times, and the writer thread's CPU per entry (docs/performance.md §8).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <semaphore>
#include <thread>
#include <vector>

#include "audit/store.hpp"
#include "audit/verify.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/cpu_time.hpp"
#include "tools/bench/sample_entry.hpp"

namespace dsa::bench {
namespace {

namespace audit = dsa::audit;
using clock_type = std::chrono::steady_clock;

struct audit_args {
  std::string db, key;
  std::uint64_t entries = 200000;
  unsigned threads = 2;
  std::size_t in_flight = 8192;
  std::size_t max_batch = 4096;
  double rate = 0;  // entries/s from one thread, open loop; 0 = as fast as the window allows
};

double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[i]);
}

// CPU time of this process's audit writer thread ("dsa-audit"), in microseconds.
std::int64_t writer_cpu_us() {
  std::int64_t us = 0;
  for (const auto& [tid, t] : threads_cpu(::getpid())) {
    if (t.name == "dsa-audit") {
      us += t.us;
    }
  }
  return us;
}

// One line per duration histogram of store_stats: the share of samples at or under each bound.
void print_buckets(
    const char* what,
    const std::array<std::uint64_t, audit::store_stats::bucket_bounds_us.size() + 1>& cumulative,
    std::int64_t sum_us, std::int64_t max_us) {
  const std::uint64_t n = cumulative.back();
  std::printf("%-22s %llu", what, static_cast<unsigned long long>(n));
  if (n == 0) {
    std::printf("\n");
    return;
  }
  std::printf("  mean %.0f us  max %lld us  |",
              static_cast<double>(sum_us) / static_cast<double>(n), static_cast<long long>(max_us));
  for (std::size_t i = 0; i < audit::store_stats::bucket_bounds_us.size(); ++i) {
    const double share = 100.0 * static_cast<double>(cumulative[i]) / static_cast<double>(n);
    std::printf(" <=%lldus %.1f%%", static_cast<long long>(audit::store_stats::bucket_bounds_us[i]),
                share);
    if (cumulative[i] == n) {
      break;
    }
  }
  std::printf("\n");
}

// Verifies the store the run wrote and prints verify entries/s; 0 when it is intact and `ok`.
int verify_written(const std::string& db, const std::string& public_key_pem, bool ok) {
  audit::verify_options vo;
  vo.public_key_pem = public_key_pem;
  const auto v0 = clock_type::now();
  auto verified = audit::verify_store(db, vo);
  const double verify_seconds = std::chrono::duration<double>(clock_type::now() - v0).count();
  if (!verified) {
    std::cerr << "dsa-bench audit: verify: " << verified.error() << "\n";
    return 2;
  }
  const audit::verify_result& result = *verified;
  std::printf("verify entries/s       %.0f  (%llu entries, %llu checkpoints, %.2f s, %s)\n",
              static_cast<double>(result.entries) / verify_seconds,
              static_cast<unsigned long long>(result.entries),
              static_cast<unsigned long long>(result.checkpoints), verify_seconds,
              result.intact() ? "intact" : "NOT INTACT");
  return result.intact() && ok ? 0 : 1;
}

// --rate: entry i is due at start + i / rate; its latency runs from when it was due to its
// callback, so a writer that falls behind shows as queueing rather than as a slower producer.
int run_rate(const audit_args& a, audit::store& store, std::vector<audit::entry>& entries) {
  const std::uint64_t n = entries.size();
  std::vector<std::int64_t> latency_us(n);
  std::atomic<std::uint64_t> done{0}, failed{0};
  std::mutex finished_mu;
  std::condition_variable finished_cv;
  const auto period = std::chrono::duration<double>(1.0 / a.rate);
  const audit::store_stats before = store.stats();
  const std::int64_t cpu_before = writer_cpu_us();
  const auto t0 = clock_type::now() + std::chrono::milliseconds(10);
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto due =
        t0 + std::chrono::duration_cast<clock_type::duration>(period * static_cast<double>(i));
    std::this_thread::sleep_until(due);
    store.append(std::move(entries[i]), [&, i, due](const audit::commit_result& r) {
      latency_us[i] =
          std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - due).count();
      if (!r.ok) {
        failed.fetch_add(1);
      }
      if (done.fetch_add(1) + 1 == n) {
        std::lock_guard lock(finished_mu);
        finished_cv.notify_all();
      }
    });
  }
  {
    std::unique_lock lock(finished_mu);
    finished_cv.wait(lock, [&] { return done.load() == n; });
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  const std::int64_t cpu_after = writer_cpu_us();
  const audit::store_stats s = store.stats();
  std::sort(latency_us.begin(), latency_us.end());
  const std::uint64_t batches = s.batches - before.batches;
  std::printf("open loop              %.0f entries/s target, %llu entries in %.2f s\n", a.rate,
              static_cast<unsigned long long>(n), seconds);
  std::printf(
      "append->commit latency p50 %.0f us  p99 %.0f us  p99.9 %.0f us  max %.0f us (from when "
      "each entry was due)\n",
      percentile(latency_us, 0.50), percentile(latency_us, 0.99), percentile(latency_us, 0.999),
      percentile(latency_us, 1.0));
  std::printf("batches                %llu  (mean %.2f entries)\n",
              static_cast<unsigned long long>(batches),
              batches ? static_cast<double>(n) / static_cast<double>(batches) : 0.0);
  print_buckets("commits (BEGIN..COMMIT)", s.commit_us_buckets, s.commit_us_sum, s.commit_us_max);
  print_buckets("WAL checkpoints", s.wal_checkpoint_us_buckets, s.wal_checkpoint_us_sum,
                s.wal_checkpoint_us_max);
  std::printf("                       %llu of them on the writer thread\n",
              static_cast<unsigned long long>(s.wal_checkpoints_by_writer));
  std::printf(
      "writer CPU             %.1f us/entry, %.1f us/commit (thread dsa-audit, /proc)\n",
      static_cast<double>(cpu_after - cpu_before) / static_cast<double>(n),
      batches ? static_cast<double>(cpu_after - cpu_before) / static_cast<double>(batches) : 0.0);
  if (failed.load() != 0) {
    std::printf("FAILED commits         %llu\n", static_cast<unsigned long long>(failed.load()));
  }
  return failed.load() == 0 ? 0 : 1;
}

int run(const audit_args& a) {
  if (a.entries == 0 || a.threads == 0 || a.in_flight == 0) {
    std::cerr << "dsa-bench audit: --entries, --threads and --in-flight must be positive\n";
    return 2;
  }
  audit::store_options options;
  options.db_path = a.db;
  options.signing_key_path = a.key.empty() ? a.db + ".key" : a.key;
  options.max_batch = a.max_batch;
  auto opened = audit::store::open(options);
  if (!opened) {
    std::cerr << "dsa-bench audit: " << opened.error() << "\n";
    return 2;
  }
  const std::unique_ptr<audit::store> store = std::move(opened).value();
  const std::uint64_t existing = store->size();
  std::printf(
      "audit store %s: %llu existing entries; appending %llu with %u threads, %zu in "
      "flight, batches up to %zu\n",
      a.db.c_str(), static_cast<unsigned long long>(existing),
      static_cast<unsigned long long>(a.entries), a.threads, a.in_flight, a.max_batch);

  // Entries are built before the clock starts: the bench measures the store, not the generator.
  std::vector<audit::entry> entries;
  entries.reserve(a.entries);
  std::mt19937_64 rng(20250601);
  std::size_t bytes = 0;
  for (std::uint64_t i = 0; i < a.entries; ++i) {
    entries.push_back(realistic_entry(rng, i));
    bytes += audit::to_json(entries.back()).size();
  }
  if (a.rate > 0) {
    const bool ok = run_rate(a, *store, entries) == 0;
    store->close();
    return verify_written(a.db, store->public_key_pem(), ok);
  }
  const std::int64_t cpu_before = writer_cpu_us();
  std::vector<clock_type::time_point> started(a.entries);
  std::vector<std::int64_t> latency_us(a.entries);
  std::atomic<std::uint64_t> done{0}, failed{0};
  std::mutex finished_mu;
  std::condition_variable finished_cv;

  const auto t0 = clock_type::now();
  std::vector<std::thread> producers;
  for (unsigned t = 0; t < a.threads; ++t) {
    producers.emplace_back([&, t] {
      std::counting_semaphore<1 << 20> window(
          static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, a.in_flight / a.threads)));
      std::atomic<std::uint64_t> outstanding{0};
      for (std::uint64_t i = t; i < a.entries; i += a.threads) {
        window.acquire();
        started[i] = clock_type::now();
        outstanding.fetch_add(1);
        store->append(std::move(entries[i]), [&, i](const audit::commit_result& r) {
          latency_us[i] =
              std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - started[i])
                  .count();
          if (!r.ok) {
            failed.fetch_add(1);
          }
          window.release();
          outstanding.fetch_sub(1);
          if (done.fetch_add(1) + 1 == a.entries) {
            std::lock_guard lock(finished_mu);
            finished_cv.notify_all();
          }
        });
      }
      // The window and counter live on this thread's stack: wait for its last callbacks.
      while (outstanding.load() != 0) {
        std::this_thread::yield();
      }
    });
  }
  {
    std::unique_lock lock(finished_mu);
    finished_cv.wait(lock, [&] { return done.load() == a.entries; });
  }
  const auto t1 = clock_type::now();
  for (auto& p : producers) {
    p.join();
  }
  const audit::store_stats stats = store->stats();
  const std::int64_t cpu_after = writer_cpu_us();
  store->close();
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  std::sort(latency_us.begin(), latency_us.end());

  std::printf("durable entries/s      %.0f  (%llu entries, mean %.0f bytes, %.2f s)\n",
              static_cast<double>(a.entries) / seconds, static_cast<unsigned long long>(a.entries),
              static_cast<double>(bytes) / static_cast<double>(a.entries), seconds);
  std::printf("append->commit latency p50 %.0f us  p99 %.0f us  max %.0f us\n",
              percentile(latency_us, 0.50), percentile(latency_us, 0.99),
              percentile(latency_us, 1.0));
  std::printf(
      "batches                %llu  (mean %.0f entries, max %llu; mean commit %.0f us)\n",
      static_cast<unsigned long long>(stats.batches),
      stats.batches ? static_cast<double>(stats.entries) / static_cast<double>(stats.batches) : 0.0,
      static_cast<unsigned long long>(stats.max_batch_size),
      stats.batches ? static_cast<double>(stats.commit_us_sum) / static_cast<double>(stats.batches)
                    : 0.0);
  print_buckets("commits (BEGIN..COMMIT)", stats.commit_us_buckets, stats.commit_us_sum,
                stats.commit_us_max);
  print_buckets("WAL checkpoints", stats.wal_checkpoint_us_buckets, stats.wal_checkpoint_us_sum,
                stats.wal_checkpoint_us_max);
  std::printf("                       %llu of them on the writer thread\n",
              static_cast<unsigned long long>(stats.wal_checkpoints_by_writer));
  std::printf("writer CPU             %.1f us/entry (thread dsa-audit, /proc)\n",
              static_cast<double>(cpu_after - cpu_before) / static_cast<double>(a.entries));
  std::printf("checkpoints            %llu written\n",
              static_cast<unsigned long long>(stats.checkpoints + 1));
  if (failed.load() != 0) {
    std::printf("FAILED commits         %llu\n", static_cast<unsigned long long>(failed.load()));
  }

  return verify_written(a.db, store->public_key_pem(), failed.load() == 0);
}

}  // namespace

void add_audit_bench(CLI::App& app, int& status) {
  auto a = std::make_shared<audit_args>();
  CLI::App* cmd = app.add_subcommand(
      "audit",
      "Audit store: durable entries/s with group commit, append-to-commit latency, then verify "
      "entries/s over the same file. Appends to the store if it exists.");
  cmd->add_option("--db", a->db, "Audit store to write (created if absent)")->required();
  cmd->add_option("--key", a->key, "Signing key (default: DB.key, created if absent)");
  cmd->add_option("--entries", a->entries, "Entries to append (default 200000)");
  cmd->add_option("--threads", a->threads, "Appending threads (default 2)");
  cmd->add_option("--in-flight", a->in_flight,
                  "Appends awaiting their commit, across all threads (default 8192)");
  cmd->add_option("--max-batch", a->max_batch, "Most entries per commit (default 4096)");
  cmd->add_option("--rate", a->rate,
                  "Append at this many entries/s from one thread (open loop) and report the "
                  "latency from when each was due, commit and WAL checkpoint times and the "
                  "writer's CPU per entry, instead of the throughput run")
      ->check(CLI::Range(1.0, 1e6));
  cmd->callback([a, &status] { status = run(*a); });
}

}  // namespace dsa::bench
