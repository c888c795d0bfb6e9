#pragma once

// Running the real `dsa` binary in the policy tests: a command line in, the exit status and
// everything it printed out.

#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>
#include <string>

namespace dsa::policy::testing {

struct run_result {
  int status = -1;
  std::string output;  // stdout and stderr
};

inline run_result run(const std::string& args) {
  std::string cmd = std::string(DSA_BINARY_DIR) + "/tools/dsa " + args + " 2>&1";
  run_result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

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
