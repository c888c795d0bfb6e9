#pragma once

// Runs the real `dsa audit …` binary for the command-line tests (cli_test.cpp,
// streamed_disclosure_test.cpp).

#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

namespace dsa::audit::test {

struct run_result {
  int status = -1;
  std::string output;  // stdout and stderr
};

// `dsa audit ARGS`, bounded by timeout(1); its exit status and everything it printed.
inline run_result run(const std::string& args) {
  const std::string cmd =
      "timeout 60 " + std::string(DSA_BINARY_DIR) + "/tools/dsa audit " + args + " 2>&1";
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

// A path quoted for the shell.
inline std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace dsa::audit::test
