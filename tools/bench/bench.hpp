#pragma once

// Subcommands of `dsa-bench`. Each benchmark is reproducible (fixed seeds, fixed sizes given on
// the command line) and prints its figures to stdout; the exit status is 0 when it ran, 2 on a
// usage or setup error. Benchmarks measure; they never assert a bar.

#include <CLI/CLI.hpp>

namespace dsa::bench {

void add_policy_bench(CLI::App& app, int& status);
void add_audit_bench(CLI::App& app, int& status);
void add_http_bench(CLI::App& app, int& status);

}  // namespace dsa::bench
