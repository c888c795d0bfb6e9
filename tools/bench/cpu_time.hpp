#pragma once

// CPU time of the processes under load, read from /proc (user + system, in microseconds, at the
// kernel's clock-tick resolution: 10 ms with USER_HZ 100, so short runs at low rates are coarse).

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dsa::bench {

// Every thread of `pid`, past and present (/proc/PID/stat), in microseconds; 0 if it is gone.
[[nodiscard]] std::int64_t cpu_us(pid_t pid);

struct thread_cpu {
  std::string name;  // the thread's comm (dsa-gateway, dsa-audit, nginx)
  std::int64_t us = 0;
};

// The threads of `pid` alive now, by thread id (/proc/PID/task/TID/stat).
[[nodiscard]] std::map<pid_t, thread_cpu> threads_cpu(pid_t pid);

// The peak resident set of `pid` so far (VmHWM in /proc/PID/status), in KiB; -1 if unreadable.
[[nodiscard]] std::int64_t peak_rss_kib(pid_t pid);

// The resident set of a process now and at its peak, from /proc/PID/status, in KiB (-1 when a
// line is missing or the process is gone). rss = anon + file + shmem.
struct memory_status {
  std::int64_t rss_kib = -1;   // VmRSS
  std::int64_t hwm_kib = -1;   // VmHWM, the peak of VmRSS
  std::int64_t anon_kib = -1;  // RssAnon: heap, stacks, anonymous mappings
  std::int64_t file_kib = -1;  // RssFile: the binary, shared libraries, mapped files
};
[[nodiscard]] memory_status memory_of(pid_t pid);

// The children of a process (nginx's workers), from /proc/PID/task/PID/children.
[[nodiscard]] std::vector<pid_t> children_of(pid_t pid);

}  // namespace dsa::bench
