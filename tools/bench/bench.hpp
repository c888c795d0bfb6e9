#pragma once

// Subcommands of `dsa-bench`. Each benchmark is reproducible (fixed seeds, fixed sizes given on
// the command line) and prints its figures to stdout; the exit status is 0 when it ran, 2 on a
// usage or setup error, 1 when what it measured failed (an audit store that does not verify, a
// gateway that did not exit 0 after the run). Benchmarks measure; they never assert a bar.
// How to run them and today's figures: docs/performance.md.

#include <CLI/CLI.hpp>

namespace dsa::bench {

void add_policy_bench(CLI::App& app, int& status);
void add_audit_bench(CLI::App& app, int& status);
void add_http_bench(CLI::App& app, int& status);
void add_memory_bench(CLI::App& app, int& status);

}  // namespace dsa::bench
