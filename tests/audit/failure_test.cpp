// Failures of the disk underneath the store: a store that cannot write reports an error to every
// caller of the failed batch, says it is not writable, never reports durable what is not, and
// recovers by itself once writing works again.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <set>

#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "tests/audit/test_util.hpp"

using namespace dsa::audit;
using namespace dsa::audit::test;

namespace {

// Runs `body` in a child process (so it can drop privileges or lower resource limits without
// touching the test runner). The child reports a failed expectation as text on a pipe.
struct child_outcome {
  int status = -1;
  std::string message;
};

child_outcome run_in_child(
    const std::function<void(const std::function<void(bool, const char*)>&)>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto expect = [fd = fds[1]](bool ok, const char* what) {
      if (!ok) {
        ssize_t n = ::write(fd, what, std::strlen(what));
        (void)n;
        ::_exit(1);
      }
    };
    body(expect);
    ::_exit(0);
  }
  ::close(fds[1]);
  child_outcome out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    out.message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

// Root ignores file modes; the read-only scenarios run as `nobody` in a child process.
void drop_root_if_needed(const std::filesystem::path& dir) {
  if (::geteuid() != 0) {
    return;
  }
  passwd* pw = ::getpwnam("nobody");
  uid_t uid = pw != nullptr ? pw->pw_uid : 65534;
  gid_t gid = pw != nullptr ? pw->pw_gid : 65534;
  if (::chown(dir.c_str(), uid, gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
    ::_exit(2);
  }
}

// Appends `n` entries at once (one or a few batches) and waits for every callback.
std::vector<commit_result> append_many(store& s, std::uint64_t first_id, std::size_t n) {
  std::vector<std::promise<commit_result>> promises(n);
  for (std::size_t i = 0; i < n; ++i) {
    s.append(make_entry(first_id + i),
             [&p = promises[i]](const commit_result& r) { p.set_value(r); });
  }
  std::vector<commit_result> out;
  for (auto& p : promises) {
    out.push_back(p.get_future().get());
  }
  return out;
}

}  // namespace

TEST_CASE("a read-only store fails every append, then recovers when made writable", "[failure]") {
  temp_dir dir;
  auto outcome = run_in_child([&](const auto& expect) {
    drop_root_if_needed(dir.path());
    auto opts = options_in(dir);
    std::string error;
    {
      auto s = take(store::open(opts), error);
      expect(s != nullptr, "create store");
      auto r = append_many(*s, 0, 5);
      expect(r.back().ok, "initial appends");
    }
    ::chmod(opts.db_path.c_str(), 0444);
    ::chmod(dir.path().c_str(), 0555);
    auto s = take(store::open(opts), error);
    expect(s != nullptr, "open a write-protected store read-only");
    expect(!s->writable(), "write-protected store is not writable");
    expect(s->size() == 5, "write-protected store loads its entries");
    for (const auto& r : append_many(*s, 5, 20)) {
      expect(!r.ok && !r.error.empty(), "every caller gets an error");
    }
    expect(!s->writable(), "still not writable");
    ::chmod(dir.path().c_str(), 0755);
    ::chmod(opts.db_path.c_str(), 0644);
    auto r = append_many(*s, 25, 3);
    expect(r[0].ok && r[0].seq == 5 && r[2].seq == 7, "recovers after chmod back");
    expect(s->writable(), "writable again");
    s->close();
    auto v = verify_store(opts.db_path);
    expect(v && v->intact() && v->entries == 8, "verifies with exactly the acknowledged entries");
  });
  INFO(outcome.message);
  CHECK(outcome.status == 0);
}

TEST_CASE("a store cannot be created in a read-only directory", "[failure]") {
  temp_dir dir;
  auto outcome = run_in_child([&](const auto& expect) {
    drop_root_if_needed(dir.path());
    auto opts = options_in(dir);
    // The key exists; only the database cannot be created.
    std::string error;
    expect(take(signing_key::load_or_create(opts.signing_key_path), error) != nullptr, "key");
    ::chmod(dir.path().c_str(), 0555);
    auto s = take(store::open(opts), error);
    expect(s == nullptr, "open fails");
    expect(error.find("audit.db") != std::string::npos, "the error names the file");
    ::chmod(dir.path().c_str(), 0755);
  });
  INFO(outcome.message);
  CHECK(outcome.status == 0);
}

namespace {

// Fills the file system under `dir` until writes fail, runs batches into it, frees space and
// checks recovery. `free_space` undoes the filling.
void full_disk_scenario(const store_options& opts, const std::function<void()>& fill,
                        const std::function<void()>& free_space,
                        const std::function<void(bool, const char*)>& expect) {
  std::string error;
  auto s = take(store::open(opts), error);
  expect(s != nullptr, "open store");
  std::set<std::uint64_t> acked;
  for (const auto& r : append_many(*s, 0, 50)) {
    expect(r.ok, "appends before the disk fills");
    acked.insert(r.seq);
  }
  fill();
  bool failed = false;
  std::uint64_t id = 50;
  for (int round = 0; round < 400 && !failed; ++round) {
    auto results = append_many(*s, id, 64);
    id += 64;
    for (const auto& r : results) {
      if (r.ok) {
        expect(acked.insert(r.seq).second, "no seq acknowledged twice");
      } else {
        failed = true;
        expect(!r.error.empty(), "a failed caller is told why");
      }
    }
    if (failed) {
      // Within one append_many, whole batches fail: each failed entry's error is reported and
      // none of them was also acknowledged.
      std::size_t ok = 0;
      for (const auto& r : results) {
        ok += r.ok ? 1 : 0;
      }
      expect(ok < results.size(), "the failed batch reported errors");
    }
  }
  expect(failed, "a full disk makes commits fail");
  expect(!s->writable(), "not writable after a failed commit");
  auto more = append_many(*s, id, 10);
  for (const auto& r : more) {
    expect(!r.ok, "still failing while the disk is full");
  }
  free_space();
  auto after = append_many(*s, id + 10, 10);
  for (const auto& r : after) {
    expect(r.ok, "recovers once space is free");
    acked.insert(r.seq);
  }
  expect(s->writable(), "writable again");
  s->close();
  auto v = verify_store(opts.db_path);
  expect(v && v->intact(), "verifies after recovery");
  auto rd = take(reader::open(opts.db_path), error);
  expect(rd != nullptr, "readable");
  const std::uint64_t count = rd->entry_count();
  for (std::uint64_t seq : acked) {
    expect(seq < count, "every acknowledged entry is present");
  }
}

}  // namespace

TEST_CASE("a full file system fails whole batches and recovers", "[failure]") {
  temp_dir dir;
  const auto mount_point = dir / "small";
  std::filesystem::create_directory(mount_point);
  const bool mounted =
      ::geteuid() == 0 && ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=3m") == 0;
  child_outcome outcome;
  if (mounted) {
    // A real ENOSPC on a tiny tmpfs.
    outcome = run_in_child([&](const auto& expect) {
      store_options opts;
      opts.db_path = mount_point / "audit.db";
      opts.signing_key_path = mount_point / "audit.key";
      const auto filler = mount_point / "filler";
      full_disk_scenario(
          opts,
          [&] {
            std::ofstream f(filler, std::ios::binary);
            std::string block(4096, 'x');
            while (f.write(block.data(), static_cast<std::streamsize>(block.size()))) {
              f.flush();
            }
          },
          [&] { std::filesystem::remove(filler); }, expect);
    });
    ::umount2(mount_point.c_str(), MNT_DETACH);
  } else {
    // No mount privilege: RLIMIT_FSIZE makes writes past a size fail with EFBIG instead.
    outcome = run_in_child([&](const auto& expect) {
      ::signal(SIGXFSZ, SIG_IGN);
      auto opts = options_in(dir);
      rlimit original{};
      ::getrlimit(RLIMIT_FSIZE, &original);
      full_disk_scenario(
          opts,
          [&] {
            rlimit low = original;
            low.rlim_cur = 256 * 1024;
            ::setrlimit(RLIMIT_FSIZE, &low);
          },
          [&] { ::setrlimit(RLIMIT_FSIZE, &original); }, expect);
    });
  }
  INFO((mounted ? "tmpfs: " : "RLIMIT_FSIZE: ") << outcome.message);
  CHECK(outcome.status == 0);
}
