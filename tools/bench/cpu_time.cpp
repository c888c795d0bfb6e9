#include "tools/bench/cpu_time.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace dsa::bench {
namespace {

// utime + stime (fields 14 and 15 of a /proc stat line), in microseconds. `stat` is the whole
// line; the command name in parentheses may hold spaces, so fields count from the last ')'.
std::int64_t stat_cpu_us(const std::string& stat) {
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 > stat.size()) {
    return 0;
  }
  std::istringstream rest(stat.substr(close_paren + 2));
  std::string field;
  std::int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) {
      utime = std::stoll(field);
    } else if (i == 15) {
      stime = std::stoll(field);
    }
  }
  return (utime + stime) * 1000000 / sysconf(_SC_CLK_TCK);
}

std::string read_whole(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::int64_t cpu_us(pid_t pid) {
  return stat_cpu_us(read_whole("/proc/" + std::to_string(pid) + "/stat"));
}

std::map<pid_t, thread_cpu> threads_cpu(pid_t pid) {
  std::map<pid_t, thread_cpu> out;
  std::error_code ec;
  for (const auto& d :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = static_cast<pid_t>(std::atoi(d.path().filename().c_str()));
    const std::string stat = read_whole(d.path() / "stat");
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) {
      continue;
    }
    out[tid] = {stat.substr(open + 1, close - open - 1), stat_cpu_us(stat)};
  }
  return out;
}

std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t c = 0;
  while (in >> c) {
    out.push_back(c);
  }
  return out;
}

std::int64_t peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::atoll(line.c_str() + 6);
    }
  }
  return -1;
}

memory_status memory_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  memory_status m;
  std::string line;
  while (std::getline(in, line)) {
    const auto field = [&](const char* name, std::int64_t& out) {
      const std::size_t n = std::strlen(name);
      if (line.compare(0, n, name) == 0) {
        out = std::atoll(line.c_str() + n);
      }
    };
    field("VmRSS:", m.rss_kib);
    field("VmHWM:", m.hwm_kib);
    field("RssAnon:", m.anon_kib);
    field("RssFile:", m.file_kib);
  }
  return m;
}

}  // namespace dsa::bench
