#pragma once

// The latency floor of the gateway (docs/performance.md, "Latency floor"): a response is released
// only after its audit entry is durably committed, so no gateway on a given disk can answer
// faster than one commit of its store there. This measures that commit on the same directory
// (so the same file system and disk) as the gateway's store, before the load starts, so that
// "added p99 ≤ 1 ms over the store's own fsync p99" (docs/design.md §9) is read off one run.

#include <cstddef>
#include <filesystem>

namespace dsa::bench {

struct store_floor {
  std::filesystem::path dir;
  std::size_t commits = 0;
  // One audit entry appended and waited for, `commits` times in turn: each is a one-entry group
  // commit of a real store (BEGIN..COMMIT, WAL fsync, the checkpoint when one falls due), in ms.
  double commit_p50_ms = 0, commit_p99_ms = 0, commit_max_ms = 0;
  // The disk alone: a 4 KiB append to a file there followed by fdatasync(), in ms.
  double fsync_p50_ms = 0, fsync_p99_ms = 0;
};

// Opens a scratch audit store in `dir` (with the gateway's default store options), times
// `commits` sequential one-entry commits and as many raw fdatasync()s, then removes its files.
// Throws std::runtime_error naming the file when the store cannot be opened or a commit fails.
[[nodiscard]] store_floor measure_store_floor(const std::filesystem::path& dir,
                                              std::size_t commits);

// Prints the two floor lines of the `dsa-bench http` report (indented like the rest of it).
void print_store_floor(const store_floor& f);

// Prints how the gateway's p99 compares with the floor: "added p99" = gateway p99 − store commit
// p99, with the bar. `rate` is the open-loop rate of the run (0 = closed loop, where the p99
// holds queueing and the bar does not apply; the line says so).
void print_added_p99(const store_floor& f, double gateway_p99_ms, double rate);

}  // namespace dsa::bench
