#pragma once

// Running the real `dsa` binary in the policy tests: a command line in, the exit status and
// everything it printed out.

#include <sstream>
#include <string>

#include "tests/common/run_dsa.hpp"

namespace dsa::policy::testing {

using dsa::test::run_result;

inline run_result run(const std::string& args) { return dsa::test::run_dsa(args); }

inline std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    n += line.find(needle) != std::string::npos ? 1 : 0;
  }
  return n;
}

}  // namespace dsa::policy::testing
