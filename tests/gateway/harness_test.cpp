// The process control the integration tests and dsa-bench share (tests/common/process.hpp), and
// the harness's promise built on it: a test whose gateway did not exit 0, or whose sample
// upstream died, fails even when every response it saw looked right. That promise is checked by
// running this binary on hidden self-check cases in which the gateway or the upstream is killed,
// and reading Catch's report of the harness's own check failing.
#include <csignal>

#include "tests/common/loopback.hpp"
#include "tests/common/process.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using dsa::test::process;

// Everything a child prints on stdout until it closes it (bounded), then its exit status.
std::pair<int, std::string> run_to_end(process& p, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string out;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto line = p.read_line(left);
    if (!line) {
      break;
    }
    out += *line + "\n";
  }
  return {p.stop(0, 10s), out};
}

// True once `pid` has exited (a zombie waiting for its parent, or gone), without reaping it.
bool exited(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close == std::string::npos || stat.compare(close + 2, 1, "Z") == 0;
}

// This test binary, run on one hidden self-check case.
std::pair<int, std::string> run_self_check(const temp_dir& dir, const std::string& name) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  process p({self, name}, dir.path() / "self-check-stderr.log");
  return run_to_end(p, 90s);
}

}  // namespace

TEST_CASE("a child's exit code, or the signal that ended it, is reported as such",
          "[gateway][harness]") {
  temp_dir dir;
  process exits({"sh", "-c", "echo ready; exit 3"}, dir / "stderr.log");
  CHECK(exits.read_line(5s) == std::optional<std::string>("ready"));
  CHECK(exits.stop(0, 5s) == 3);  // signal 0: only wait
  CHECK(exits.describe_exit() == "exit 3");
  CHECK_FALSE(exits.running());

  process sleeper({"sleep", "30"}, dir / "stderr.log");
  CHECK(sleeper.running());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(sleeper.stop(SIGTERM, 5s) == 128 + SIGTERM);
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);  // the exit, not the timeout, ended the wait
  CHECK(sleeper.describe_exit().rfind("killed by signal 15", 0) == 0);

  process missing({dir.path().string() + "/no-such-program"}, dir / "stderr.log");
  CHECK(missing.stop(0, 5s) == 127);
}

TEST_CASE("a child that ignores the stop signal is killed when the wait runs out",
          "[gateway][harness]") {
  temp_dir dir;
  // exec keeps the ignored disposition, so `sleep` itself ignores SIGTERM.
  process stubborn({"sh", "-c", "trap '' TERM; echo up; exec sleep 30"}, dir / "stderr.log");
  REQUIRE(stubborn.read_line(5s) == std::optional<std::string>("up"));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(stubborn.stop(SIGTERM, 300ms) == 128 + SIGKILL);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(stubborn.describe_exit().rfind("killed by signal 9", 0) == 0);
}

TEST_CASE("reading a line and waiting for a port are bounded", "[gateway][harness]") {
  temp_dir dir;
  process quiet({"sleep", "30"}, dir / "stderr.log");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(quiet.read_line(200ms));
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 200ms);
  CHECK(waited < 3s);

  const int port = dsa::test::unused_port();
  REQUIRE(port > 0);
  CHECK_FALSE(dsa::test::wait_for_port(port, 200ms));
  CHECK(dsa::test::connect_loopback(port) == -1);
}

// Hidden ([.]): run only by the test below, which expects them to fail.
TEST_CASE("harness self-check: the gateway is killed during the test", "[.][harness-self-check]") {
  ops::rig w;
  REQUIRE(kill(w.gw->pid(), SIGKILL) == 0);
  REQUIRE(ops::rig::wait_for([&] { return !w.gw->running(); }));
}

TEST_CASE("harness self-check: the sample upstream is killed during the test",
          "[.][harness-self-check]") {
  ops::rig w;
  REQUIRE(kill(w.up->pid(), SIGKILL) == 0);
  // The gateway itself stays up and exits 0; only the upstream's death can fail this case.
  REQUIRE(ops::rig::wait_for([&] { return exited(w.up->pid()); }));
}

TEST_CASE("a test whose gateway died, or whose upstream died, fails", "[gateway][harness]") {
  temp_dir dir;
  {
    auto [status, out] =
        run_self_check(dir, "harness self-check: the gateway is killed during the test");
    INFO(out);
    CHECK(status != 0);
    CHECK(out.find("CHECK( was_running )") != std::string::npos);
    CHECK(out.find("gateway killed by signal 9") != std::string::npos);
  }
  {
    auto [status, out] =
        run_self_check(dir, "harness self-check: the sample upstream is killed during the test");
    INFO(out);
    CHECK(status != 0);
    CHECK(out.find("CHECK( still_running )") != std::string::npos);
    CHECK(out.find("sample upstream killed by signal 9") != std::string::npos);
    CHECK(out.find("CHECK( was_running )") == std::string::npos);  // the gateway exited 0
  }
}
