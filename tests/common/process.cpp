#include "tests/common/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace dsa::test {

process::process(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file)
    : process(argv, stderr_file, options{}) {}

process::process(const std::vector<std::string>& argv, const std::filesystem::path& stderr_file,
                 options opts)
    : opts_(opts) {
  if (argv.empty()) {
    throw std::invalid_argument("process: empty argv");
  }
  int out[2];
  if (pipe(out) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe for " + argv[0]);
  }
  // Built before the fork: the child only calls async-signal-safe functions.
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  // Signals stay blocked from before the fork until the child has put back the default action
  // of every signal its parent handles: a stop() that comes before the exec must end the child,
  // not run the parent's handlers in it (Catch2's, which would report a failure of the parent's
  // test on the parent's stdout). Ignored signals stay ignored, as they would across exec.
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  pid_ = fork();
  if (pid_ < 0) {
    const int e = errno;
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    close(out[0]);
    close(out[1]);
    throw std::system_error(e, std::generic_category(), "fork for " + argv[0]);
  }
  if (pid_ == 0) {
    for (int sig = 1; sig < NSIG; ++sig) {
      struct sigaction current {};
      if (sigaction(sig, nullptr, &current) == 0 && current.sa_handler != SIG_IGN &&
          current.sa_handler != SIG_DFL) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, nullptr);
      }
    }
    sigprocmask(SIG_SETMASK, &before, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    const int err = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) {
      dup2(err, 2);
    }
    close(out[0]);
    close(out[1]);
    execvp(args[0], args.data());
    _exit(127);
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  close(out[1]);
  out_ = out[0];
}

process::~process() {
  stop(opts_.final_signal, opts_.grace);
  if (out_ >= 0) {
    close(out_);
  }
}

void process::reaped(int wait_status) {
  pid_ = -1;
  if (WIFSIGNALED(wait_status)) {
    signal_ = WTERMSIG(wait_status);
    status_ = 128 + signal_;
  } else {
    status_ = WEXITSTATUS(wait_status);
  }
}

bool process::running() {
  if (pid_ <= 0) {
    return false;
  }
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    reaped(st);
    return false;
  }
  return true;
}

std::optional<std::string> process::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      return line;
    }
    // Rounded up, so that a line that never comes is waited for the whole timeout.
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_ < 0) {
      return std::nullopt;
    }
    pollfd p{out_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return std::nullopt;
    }
    char tmp[4096];
    const ssize_t n = read(out_, tmp, sizeof tmp);
    if (n <= 0) {
      return std::nullopt;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

int process::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return status_;
  }
  if (sig != 0) {
    kill(pid_, sig);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  reaped(st);
  return status_;
}

std::string process::describe_exit() const {
  if (status_ < 0) {
    return "still running";
  }
  if (signal_ != 0) {
    return "killed by signal " + std::to_string(signal_) + " (" + strsignal(signal_) + ")";
  }
  return "exit " + std::to_string(status_);
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace dsa::test
