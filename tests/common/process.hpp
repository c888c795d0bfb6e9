#pragma once

// Child processes for the integration tests and for `dsa-bench http`: the real dsa-gateway, the
// sample upstream, nginx, dsa-bench itself. One class, so that a test and the benchmark start,
// read, stop and judge a process the same way.
//
// Contract: the child runs argv[0] (looked up on PATH) with its stdout on a pipe that the owner
// reads line by line and its stderr appended to a file. It gets SIGKILL if the owning process
// dies without running destructors (a crash, a signal), so it never lingers on its ports. Every
// wait is bounded. Not thread-safe: one owner thread per process object.

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dsa::test {

class process {
 public:
  struct options {
    // Sent by the destructor to a child that is still running; SIGKILL follows after `grace`.
    // SIGKILL suits a test (nothing to wait for); a parent of its own children (nginx's master)
    // needs SIGTERM so that it takes its workers down with it.
    int final_signal = SIGKILL;
    std::chrono::milliseconds grace{5000};
  };

  // Starts the child. Throws std::system_error when the pipe or the fork fails; a program that
  // cannot be executed shows as an exit status of 127.
  process(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file);
  process(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file,
          options opts);
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  // The child's pid while it has not been reaped, else -1.
  pid_t pid() const { return pid_; }

  // True while the child runs; false once it has exited (its status is then kept for stop() and
  // exit_status()).
  [[nodiscard]] bool running();

  // The next stdout line without its line end, or nullopt at EOF or after `timeout`.
  [[nodiscard]] std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  // Sends `sig` (0: send nothing, only wait) and waits up to `timeout` for the exit; SIGKILL
  // after that. Returns the exit status: the code it exited with, or 128 + the signal that ended
  // it. Once reaped, returns the same status again.
  int stop(int sig, std::chrono::milliseconds timeout);

  // The status stop() returned or running() observed; -1 while the child has not been reaped.
  int exit_status() const { return status_; }

  // That status in words, for failure messages: "exit 0", "exit 3", "killed by signal 11
  // (Segmentation fault)", "still running".
  [[nodiscard]] std::string describe_exit() const;

 private:
  void reaped(int wait_status);

  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
  int status_ = -1;
  int signal_ = 0;  // the signal that ended the child, 0 if it exited
  options opts_;
};

// The whole content of a file ("" when it cannot be read): logs shown on failure.
[[nodiscard]] std::string read_text(const std::filesystem::path& p);

}  // namespace dsa::test
