#pragma once

// Runs the real `dsa audit …` binary for the command-line tests (cli_test.cpp,
// streamed_disclosure_test.cpp).

#include <filesystem>
#include <string>

#include "tests/common/run_dsa.hpp"

namespace dsa::audit::test {

using dsa::test::run_result;

// `dsa audit ARGS`: its exit status and everything it printed.
inline run_result run(const std::string& args) { return dsa::test::run_dsa("audit " + args); }

// A path quoted for the shell.
inline std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace dsa::audit::test
