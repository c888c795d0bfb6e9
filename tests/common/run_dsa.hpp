#pragma once

// Runs the real `dsa` binary of this build tree for the command-line tests (policy and audit):
// the arguments in, the exit status and everything it printed (stdout and stderr) out. Bounded
// by timeout(1), so a hung command fails its test instead of the suite.

#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace dsa::test {

struct run_result {
  int status = -1;     // the exit status; -1 when killed by a signal (timeout included)
  std::string output;  // stdout and stderr
};

// `dsa ARGS` (ARGS as written in a shell).
inline run_result run_dsa(const std::string& args) {
  const std::string cmd =
      "timeout 60 " + std::string(DSA_BINARY_DIR) + "/tools/dsa " + args + " 2>&1";
  run_result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

}  // namespace dsa::test
