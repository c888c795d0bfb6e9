// kill -9 at random moments: every entry whose commit was acknowledged must be in the file, and
// the file must verify, every time.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>
#include <semaphore>

#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

// The child: appends forever with `in_flight` entries in flight and writes each acknowledged seq
// to `fd` (8-byte writes to a pipe are atomic). Never returns.
[[noreturn]] void child_appender(const store_options& opts, int fd, std::ptrdiff_t in_flight) {
  std::string error;
  auto s = take(store::open(opts), error);
  if (!s) {
    ::_exit(3);
  }
  std::counting_semaphore<1024> window(in_flight);
  for (std::uint64_t i = 0;; ++i) {
    window.acquire();
    s->append(make_entry(i), [&window, fd](const commit_result& r) {
      if (r.ok) {
        std::uint64_t seq = r.seq;
        if (::write(fd, &seq, sizeof seq) != sizeof seq) {
          ::_exit(4);
        }
      }
      window.release();
    });
  }
}

// Reads acknowledgements from `fd`. With a timeout (the child is running) it waits up to
// `timeout_ms` and reads once, so the caller's deadline holds even while a child acknowledges
// without a pause (two entries in flight do); with 0 (the child is dead) it reads all there is.
void drain(int fd, std::uint64_t& acked_max, std::uint64_t& acked_count, int timeout_ms) {
  std::uint64_t buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) {
      return;
    }
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      return;
    }
    for (ssize_t i = 0; i < n / 8; ++i) {
      acked_max = std::max(acked_max, buf[i] + 1);
      ++acked_count;
    }
    if (timeout_ms > 0) {
      return;
    }
  }
}

// `rounds` times: a child appends to the store `opts` names and is killed at a random moment;
// every acknowledged entry must be in the file and the file must verify.
void kill_at_random_moments(const store_options& opts, int rounds, std::uint32_t seed,
                            std::ptrdiff_t in_flight) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> run_ms(20, 400);
  std::uint64_t total_acked = 0;
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_appender(opts, fds[1], in_flight);
    }
    ::close(fds[1]);
    std::uint64_t acked_max = 0, acked_count = 0;
    // The random moment is counted from the first acknowledgement, so every round kills a
    // writer with commits in flight (open() itself is covered by the reopen in the next round).
    const auto ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (acked_count == 0 && std::chrono::steady_clock::now() < ready_deadline) {
      drain(fds[0], acked_max, acked_count, 5);
    }
    REQUIRE(acked_count > 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms(rng));
    while (std::chrono::steady_clock::now() < deadline) {
      drain(fds[0], acked_max, acked_count, 5);
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));  // the child was still running, not failed on its own
    drain(fds[0], acked_max, acked_count, 0);
    ::close(fds[0]);
    total_acked += acked_count;

    std::string error;
    auto r = take(reader::open(opts.db_path), error);
    INFO(error);
    REQUIRE(r);
    // Rows are contiguous (verify checks it), so every seq below the count is present.
    CHECK(r->entry_count() >= acked_max);
    r.reset();
    auto v = verify_store(opts.db_path);
    INFO((v->problems.empty() ? std::string() : v->problems.front().detail));
    REQUIRE(v->intact());
  }
  CHECK(total_acked > 0);
}

}  // namespace

TEST_CASE("SIGKILL at random moments loses no acknowledged entry", "[crash]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.checkpoint_interval = std::chrono::milliseconds(50);
  kill_at_random_moments(opts, 20, 20250622, 512);
}

TEST_CASE("SIGKILL while WAL checkpoints run beside commits loses no acknowledged entry",
          "[crash][wal]") {
  temp_dir dir;
  auto opts = options_in(dir);
  opts.checkpoint_interval = std::chrono::milliseconds(50);
  // A checkpoint falls due every few commits, so most kills land while the checkpointer thread
  // (or the writer, copying what it left) is copying frames into the database file or syncing
  // it. Two entries in flight keep commits small, so the WAL crosses the threshold a few frames
  // at a time and the checkpointer, not the writer's four-times backstop, takes each cycle.
  opts.wal_checkpoint_frames = 8;
  kill_at_random_moments(opts, 15, 20261201, 2);
}
