// `dsa-bench audit`: durable group-commit throughput of the audit store, append-to-commit latency,
// and verification speed over the file written. Reproducible: fixed seed, sizes from the command
// line. Leaves a store that `dsa audit verify` accepts (the signing key sits next to it).
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
};

double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[i]);
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
  std::printf("checkpoints            %llu written\n",
              static_cast<unsigned long long>(stats.checkpoints + 1));
  if (failed.load() != 0) {
    std::printf("FAILED commits         %llu\n", static_cast<unsigned long long>(failed.load()));
  }

  audit::verify_options vo;
  vo.public_key_pem = store->public_key_pem();
  const auto v0 = clock_type::now();
  auto verified = audit::verify_store(a.db, vo);
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
  return result.intact() && failed.load() == 0 ? 0 : 1;
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
  cmd->callback([a, &status] { status = run(*a); });
}

}  // namespace dsa::bench
