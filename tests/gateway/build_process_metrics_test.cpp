// What an edge-proxy admin reads off a running gateway (docs/operations.md, section 7): the
// version of every binary, dsa_build_info, the process_* families read from /proc/self, the
// requester label on request counts and the passive upstream-up gauge.
#include <ctime>
#include <fstream>
#include <iterator>
#include <regex>

#include "gateway/metrics.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

// The version in the top-level CMakeLists.txt: project(dsa_gateway VERSION x.y.z …).
std::string project_version() {
  const std::string text = read_file(fs::path(DSA_SOURCE_DIR) / "CMakeLists.txt");
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex(R"(project\(dsa_gateway VERSION ([0-9.]+))")));
  return m[1];
}

std::string metrics_of(const rig& w) {
  auto [status, body] = admin_get(w.gw->admin_port(), "/metrics");
  REQUIRE(status == 200);
  return body;
}

std::size_t fds_of(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

// utime + stime of `pid` in seconds, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double vm_rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stod(line.substr(6)) * 1024;  // kB
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("every binary prints the project version when asked (--version)", "[gateway][version]") {
  const std::string version = project_version();
  for (const std::string name : {"gateway/dsa-gateway", "tools/dsa", "tools/dsa-bench"}) {
    std::string out;
    INFO(name);
    CHECK(run_command("'" + std::string(DSA_BINARY_DIR) + "/" + name + "' --version", &out) == 0);
    const std::string binary = name.substr(name.find('/') + 1);
    CHECK(out == binary + " " + version + "\n");
  }
}

TEST_CASE("metrics: build info, process figures from /proc, requester label, upstream up",
          "[gateway][integration][metrics]") {
  const double started = static_cast<double>(std::time(nullptr));
  rig w;
  const double cpu_before = cpu_seconds(w.gw->pid());
  std::string m = metrics_of(w);
  const double cpu_after = cpu_seconds(w.gw->pid());
  INFO(m);
  CHECK(m.find("dsa_build_info{version=\"" + project_version() + "\",openssl=\"OpenSSL 3") !=
        std::string::npos);
  for (const std::string family :
       {"dsa_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_virtual_memory_bytes", "process_start_time_seconds", "process_open_fds",
        "process_max_fds", "dsa_upstream_up", "dsa_upstream_last_failure_timestamp_seconds",
        "dsa_reloads_total", "dsa_last_reload_timestamp_seconds"}) {
    INFO(family);
    CHECK(m.find("# TYPE " + family + " ") != std::string::npos);
  }
  const auto cpu = sample(m, "process_cpu_seconds_total");
  REQUIRE(cpu);
  CHECK(*cpu >= cpu_before);  // the gateway's own utime + stime, read between the two
  CHECK(*cpu <= cpu_after);
  const auto rss = sample(m, "process_resident_memory_bytes");
  REQUIRE(rss);
  const double rss_now = vm_rss_bytes(w.gw->pid());
  CHECK(*rss > rss_now * 0.5);
  CHECK(*rss < rss_now * 2);
  const auto start = sample(m, "process_start_time_seconds");
  REQUIRE(start);
  CHECK(*start >= started - 2);
  CHECK(*start <= static_cast<double>(std::time(nullptr)) + 2);
  const auto fds = sample(m, "process_open_fds");
  REQUIRE(fds);
  const auto fds_now = static_cast<double>(fds_of(w.gw->pid()));
  CHECK(*fds >= fds_now - 3);  // the admin connection and its peers come and go
  CHECK(*fds <= fds_now + 3);
  CHECK(sample(m, "process_max_fds") >= *fds);
  CHECK(sample(m, R"(dsa_upstream_up{upstream="council-asb"})") == 1);
  CHECK(sample(m, R"(dsa_upstream_last_failure_timestamp_seconds{upstream="council-asb"})") == 0);

  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(request()));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  m = metrics_of(w);
  CHECK(sample(m, R"(dsa_requests_total{decision="allow",reason="allowed",agreement="test-gw",)"
                  R"(requester="police"})") == 1);
  CHECK(sample(m, R"(dsa_upstream_up{upstream="council-asb"})") == 1);

  w.up.reset();  // the upstream goes away: the next exchange fails and the gauge drops
  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(request()));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 502);
  }
  m = metrics_of(w);
  CHECK(sample(m, R"(dsa_upstream_up{upstream="council-asb"})") == 0);
  CHECK(sample(m, R"(dsa_upstream_last_failure_timestamp_seconds{upstream="council-asb"})") >=
        started);
  CHECK(sample(m, R"(dsa_requests_total{decision="error",reason="upstream_unavailable",)"
                  R"(agreement="test-gw",requester="police"})") == 1);
}

TEST_CASE("the requester label is bounded", "[gateway][metrics]") {
  dsa::gateway::metrics stats;
  for (std::size_t i = 0; i < dsa::gateway::metrics::max_requester_labels + 10; ++i) {
    stats.count_request("deny", "no_agreement", "", "party-" + std::to_string(i), 10);
  }
  const std::string m = stats.render("");
  CHECK(sample(m, R"(dsa_requests_total{decision="deny",reason="no_agreement",agreement="",)"
                  R"(requester="other"})") == 10);
  CHECK(sample(m, R"(dsa_requests_total{decision="deny",reason="no_agreement",agreement="",)"
                  R"(requester="party-0"})") == 1);
}
