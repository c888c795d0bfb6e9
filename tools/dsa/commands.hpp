#pragma once

// Subcommand families of the `dsa` command-line tool. Each function adds its subcommands to
// `app`; when one of them runs, its callback stores the process exit status in `status`
// (0 success, 1 a negative finding such as a deny, a lint error or a tampered log, 2 usage or
// input/output error). Nothing here throws past the callback: errors are printed to stderr.

#include <CLI/CLI.hpp>

namespace dsa::cli {

// lint, explain, test, render, diff, register, openapi
void add_policy_commands(CLI::App& app, int& status);
// audit query|verify|prove|verify-proof|stats|export-key|checkpoint|consistency|verify-consistency|
// bundle|verify-bundle|report|agreement|subject|review
void add_audit_commands(CLI::App& app, int& status);

}  // namespace dsa::cli
