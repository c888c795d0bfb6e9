// `dsa-bench memory`: the memory bar of docs/design.md §9 — the gateway's resident set with 1,000
// agreements loaded and 1,000 idle mTLS keep-alive connections — measured on the real dsa-gateway
// (threads: 1, durable audit, the dev PKI; gateway_rig.hpp), and the same idle connections on
// nginx's worker for comparison (nginx_rig.hpp). Method and figures: docs/performance.md §7.
//
// The agreements are `dsa-bench policy`'s generated ones (agreement_gen.hpp) plus the benchmark
// agreement the client is allowed under; the gateway's "started" log line must count them all.
// Each connection is a real handshake with the dev police certificate and one real request
// answered 200 through the in-process upstream (fast_upstream.hpp), so its buffers have been
// used; then it waits, open, while the resident set is read from /proc/PID/status.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/config.hpp"
#include "tests/common/process.hpp"
#include "tools/bench/agreement_gen.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/cpu_time.hpp"
#include "tools/bench/fast_upstream.hpp"
#include "tools/bench/gateway_rig.hpp"
#include "tools/bench/load.hpp"
#include "tools/bench/nginx_rig.hpp"

namespace dsa::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr double bar_mib = 64;

struct memory_options {
  int agreements = 1000;  // generated, besides the benchmark agreement
  int connections = 1000;
  int parallel = 32;  // handshakes in flight while opening
  int requests = 1;   // per connection, before it goes idle
  double settle_s = 1.0;
  unsigned seed = 20261122;
  bool mappings = false;
  bool skip_nginx = false;
  bool keep_dir = false;
  std::string source_dir = ".";
  std::string gateway_binary;
  std::string nginx_binary;
};

double mib(std::int64_t kib) { return static_cast<double>(kib) / 1024; }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Raises the soft descriptor limit to the hard one (inherited by the gateway and nginx, which
// each hold one descriptor per connection, as this process does). Returns the soft limit now.
rlim_t raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 0;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      return raised.rlim_cur;
    }
  }
  return rl.rlim_cur;
}

// The "agreements" count of the gateway's "started" log line, -1 when there is none.
std::int64_t started_agreements(const fs::path& log) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"started\"") == std::string::npos) {
      continue;
    }
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) {
      continue;
    }
    const boost::json::object& o = v.as_object();
    const auto* event = o.if_contains("event");
    const auto* n = o.if_contains("agreements");
    if (event != nullptr && event->is_string() && event->as_string() == "started" && n != nullptr &&
        n->is_int64()) {
      return n->as_int64();
    }
  }
  return -1;
}

// The resident set of `pid` by mapping (/proc/PID/smaps): anonymous mappings other than the heap
// and stacks are summed as "[anon]", file mappings by path. Largest first.
std::vector<std::pair<std::string, std::int64_t>> rss_by_mapping(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::map<std::string, std::int64_t> by;
  std::string line, current = "[anon]";
  while (std::getline(in, line)) {
    if (line.rfind("Rss:", 0) == 0) {
      by[current] += std::atoll(line.c_str() + 4);
      continue;
    }
    // A mapping's header: "start-end perms offset dev inode [path]"; field lines start with a
    // capitalised name and a colon.
    const auto dash = line.find('-');
    if (dash == std::string::npos || dash == 0 || line.find(':') < dash) {
      continue;
    }
    std::size_t pos = 0;
    for (int field = 0; field < 5 && pos != std::string::npos; ++field) {
      pos = line.find(' ', pos);
      if (pos != std::string::npos) {
        pos = line.find_first_not_of(' ', pos);
      }
    }
    current = pos == std::string::npos ? "[anon]" : line.substr(pos);
    if (current.rfind("[stack", 0) == 0) {
      current = "[stack]";
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> out(by.begin(), by.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

struct phase {
  std::string name;
  memory_status mem;
  std::vector<std::pair<std::string, std::int64_t>> mappings;
};

phase take(const std::string& name, pid_t pid, bool mappings) {
  phase p{name, memory_of(pid), {}};
  if (mappings) {
    p.mappings = rss_by_mapping(pid);
  }
  return p;
}

void print_phases(const std::vector<phase>& phases, int connections) {
  std::printf("                              VmRSS       RssAnon     RssFile     VmHWM\n");
  for (const phase& p : phases) {
    std::printf("  %-26s %7.1f MiB %7.1f MiB %7.1f MiB %7.1f MiB\n", p.name.c_str(),
                mib(p.mem.rss_kib), mib(p.mem.anon_kib), mib(p.mem.file_kib), mib(p.mem.hwm_kib));
  }
  if (phases.size() >= 2 && connections > 0) {
    std::printf(
        "  per idle connection        %7.1f KiB (VmRSS with them open - after start) / %d\n",
        static_cast<double>(phases[1].mem.rss_kib - phases[0].mem.rss_kib) / connections,
        connections);
  }
  for (const phase& p : phases) {
    if (p.mappings.empty()) {
      continue;
    }
    std::printf("  resident by mapping, %s:", p.name.c_str());
    std::int64_t rest = 0;
    for (std::size_t i = 0; i < p.mappings.size(); ++i) {
      if (i < 8) {
        std::printf("%s %s %.1f MiB", i == 0 ? "" : ",", p.mappings[i].first.c_str(),
                    mib(p.mappings[i].second));
      } else {
        rest += p.mappings[i].second;
      }
    }
    std::printf(", the rest %.1f MiB\n", mib(rest));
  }
}

// Opens the idle connections and reports them; false when any was not answered 200 and kept.
bool open_report(const idle_connections& pool, int connections, int requests) {
  const idle_connections::report& r = pool.opened();
  std::printf("  %d of %d connection(s) opened, %d request(s) on each, in %.2f s:", r.connected,
              connections, requests, r.seconds);
  for (const auto& [status, n] : r.statuses) {
    std::printf(" %d x %d", n, status);
  }
  std::printf(", %s\n", r.tls.c_str());
  for (const auto& [text, n] : r.errors) {
    std::printf("  error         %d x %s\n", n, text.c_str());
  }
  const auto ok = r.statuses.find(200);
  return r.errors.empty() && ok != r.statuses.end() && ok->second == connections * requests;
}

void settle(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

struct side {
  std::vector<phase> phases;
  bool ok = true;
};

// dsa-gateway with the generated agreements; false in `s.ok` when a check failed.
side measure_gateway(const memory_options& o, const bench_dir& dir, const fast_upstream& upstream) {
  side s;
  const std::string up = "{url: \"http://127.0.0.1:" + std::to_string(upstream.port()) + "\"}";
  rig_extras extra;
  extra.upstreams.emplace_back("up", up);  // the generated agreements' upstream
  const std::size_t default_limit = gateway::limits_config{}.max_connections;
  const std::size_t needed = static_cast<std::size_t>(o.connections) + 16;
  if (needed > default_limit) {
    extra.yaml = "limits: {max_connections: " + std::to_string(needed) + "}\n";
  }
  std::printf(
      "\n--- dsa-gateway (threads: 1, durable audit, dev PKI; limits.max_connections %zu)\n",
      std::max(default_limit, needed));
  const std::string binary = o.gateway_binary.empty() ? default_gateway_binary() : o.gateway_binary;
  const clock_type::time_point t0 = clock_type::now();
  gateway_rig gw(binary, dir, up, extra);
  const double start_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  const std::int64_t loaded = started_agreements(dir.path() / "gateway.log");
  const std::int64_t want = o.agreements + 1;
  std::printf(
      "  started in %.2f s; its \"started\" log line: %lld agreements (%d generated + "
      "bench-asb)%s\n",
      start_s, static_cast<long long>(loaded), o.agreements,
      loaded == want ? "" : " — NOT ALL LOADED");
  s.ok = loaded == want;
  settle(o.settle_s);
  s.phases.push_back(take("after start", gw.pid(), o.mappings));
  if (o.connections > 0) {
    load_options lo;
    lo.url = "https://" + gw.authority() + std::string(bench_path);
    lo.cert = (dir.pki() / "northshire-police.pem").string();
    lo.key = (dir.pki() / "northshire-police.key").string();
    lo.ca = (dir.pki() / "ca.pem").string();
    lo.headers.assign(std::begin(bench_headers), std::end(bench_headers));
    idle_connections pool(lo, o.connections, o.parallel, o.requests);
    s.ok = open_report(pool, o.connections, o.requests) && s.ok;
    settle(o.settle_s);
    const int open = pool.still_open();
    const double gauge = metric_value(gw.metrics(), "dsa_open_connections");
    std::printf(
        "  after %.1f s idle: %d open and quiet (client's poll), %.0f open "
        "(gateway's dsa_open_connections)\n",
        o.settle_s, open, gauge);
    s.ok = s.ok && open == o.connections && static_cast<int>(gauge) == o.connections;
    s.phases.push_back(
        take(std::to_string(o.connections) + " idle connections", gw.pid(), o.mappings));
    pool.close_all();
    const clock_type::time_point deadline = clock_type::now() + 5s;
    double left = metric_value(gw.metrics(), "dsa_open_connections");
    while (left > 0 && clock_type::now() < deadline) {
      settle(0.05);
      left = metric_value(gw.metrics(), "dsa_open_connections");
    }
    settle(o.settle_s);
    std::printf("  closed: %.0f open (gateway's dsa_open_connections)\n", left);
    s.phases.push_back(take("after closing them", gw.pid(), o.mappings));
  }
  const std::string problem = gw.stop();
  std::printf("  SIGTERM: %s\n", problem.empty() ? "exit 0" : problem.c_str());
  if (!problem.empty()) {
    const std::string log = test::read_text(dir.path() / "gateway.log");
    std::fprintf(stderr, "dsa-bench memory: dsa-gateway %s; the end of its log:\n%s\n",
                 problem.c_str(), log.substr(log.size() > 4000 ? log.size() - 4000 : 0).c_str());
    s.ok = false;
  }
  print_phases(s.phases, o.connections);
  return s;
}

// nginx's worker with the same idle connections; nullopt-like empty phases when not installed.
side measure_nginx(const memory_options& o, const bench_dir& dir, const fast_upstream& upstream) {
  side s;
  const std::string nginx = find_nginx(o.nginx_binary);
  if (nginx.empty()) {
    std::printf("\n--- nginx: not installed (tools/install-deps.sh); the nginx side was skipped\n");
    return s;
  }
  std::printf("\n--- nginx (worker_processes 1, mTLS, proxy_pass; its worker's resident set)\n");
  nginx_rig ng(nginx, dir.path(), dir.pki(), upstream.port());
  if (!ng.started()) {
    std::printf("  nginx did not start; see %s\n", ng.error_log().c_str());
    s.ok = false;
    return s;
  }
  const std::vector<pid_t> workers = children_of(ng.pid());
  const pid_t worker = workers.front();
  settle(o.settle_s);
  s.phases.push_back(take("after start", worker, o.mappings));
  if (o.connections > 0) {
    load_options lo;
    lo.url = "https://127.0.0.1:" + std::to_string(ng.port()) + std::string(bench_path);
    lo.cert = (dir.pki() / "northshire-police.pem").string();
    lo.key = (dir.pki() / "northshire-police.key").string();
    lo.ca = (dir.pki() / "ca.pem").string();
    lo.headers.assign(std::begin(bench_headers), std::end(bench_headers));
    idle_connections pool(lo, o.connections, o.parallel, o.requests);
    s.ok = open_report(pool, o.connections, o.requests);
    settle(o.settle_s);
    const int open = pool.still_open();
    std::printf("  after %.1f s idle: %d open and quiet (client's poll)\n", o.settle_s, open);
    s.ok = s.ok && open == o.connections;
    s.phases.push_back(
        take(std::to_string(o.connections) + " idle connections", worker, o.mappings));
    pool.close_all();
    settle(o.settle_s);
    s.phases.push_back(take("after closing them", worker, o.mappings));
  }
  print_phases(s.phases, o.connections);
  return s;
}

int run_memory(const memory_options& o) {
  const clock_type::time_point t0 = clock_type::now();
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh")) {
    std::fprintf(stderr, "dsa-bench memory: run from the repository root or pass --source\n");
    return 2;
  }
  const rlim_t nofile = raise_nofile();
  if (nofile < static_cast<rlim_t>(o.connections) + 256) {
    std::fprintf(stderr,
                 "dsa-bench memory: RLIMIT_NOFILE is %llu (hard limit), too low for %d "
                 "connections plus the processes' own descriptors; raise it (ulimit -Hn)\n",
                 static_cast<unsigned long long>(nofile), o.connections);
    return 2;
  }
  bench_dir dir(src, "dsa-bench-memory", o.keep_dir);
  std::mt19937 rng(o.seed);
  write_generated_agreements(dir.path() / "agreements", o.agreements, rng);
  fast_upstream upstream;
  std::printf(
      "dsa-bench memory: %d generated agreements + bench-asb, %d idle mTLS keep-alive "
      "connections (each used for %d request(s) answered 200 by the in-process upstream "
      "127.0.0.1:%u), RLIMIT_NOFILE %llu, load average %s\n",
      o.agreements, o.connections, o.requests, static_cast<unsigned>(upstream.port()),
      static_cast<unsigned long long>(nofile), load_average().c_str());

  const side gw = measure_gateway(o, dir, upstream);
  side ng;
  if (!o.skip_nginx) {
    ng = measure_nginx(o, dir, upstream);
  }

  std::printf(
      "\n=== the memory bar (docs/design.md §9): VmRSS <= %.0f MiB with 1,000 agreements "
      "and 1,000 idle mTLS connections\n",
      bar_mib);
  if (gw.phases.size() >= 2) {
    const double rss = mib(gw.phases[1].mem.rss_kib);
    const char* verdict = !gw.ok ? "(a check above failed: not a reading of the bar)"
                          : o.agreements >= 1000 && o.connections >= 1000
                              ? (rss <= bar_mib ? "met" : "NOT met")
                              : "(fewer than the bar's 1,000 and 1,000: not a reading of the bar)";
    std::printf("  gateway       %.1f MiB with %d agreements and %d idle connections: %s\n", rss,
                o.agreements + 1, o.connections, verdict);
  } else if (!gw.phases.empty()) {
    std::printf("  gateway       %.1f MiB with %d agreements, no connections\n",
                mib(gw.phases[0].mem.rss_kib), o.agreements + 1);
  }
  if (ng.phases.size() >= 2) {
    std::printf("  nginx worker  %.1f MiB with %d idle connections (no policy, no audit)%s\n",
                mib(ng.phases[1].mem.rss_kib), o.connections,
                ng.ok ? "" : " (a check above failed: not comparable)");
  }
  std::printf("  whole run %.1f s, load average %s\n",
              std::chrono::duration<double>(clock_type::now() - t0).count(),
              load_average().c_str());
  if (o.keep_dir) {
    std::printf("  kept %s\n", dir.path().c_str());
  }
  return gw.ok && ng.ok ? 0 : 1;
}

}  // namespace

void add_memory_bench(CLI::App& app, int& status) {
  auto o = std::make_shared<memory_options>();
  CLI::App* sub = app.add_subcommand(
      "memory",
      "the gateway's resident set (VmRSS, VmHWM) with N generated agreements and M idle mTLS "
      "keep-alive connections, each used once; nginx's worker beside it");
  sub->add_option("--agreements", o->agreements,
                  "generated agreements (default 1000), besides the benchmark agreement")
      ->check(CLI::Range(0, 100000));
  sub->add_option("--connections", o->connections, "idle connections to hold (default 1000)")
      ->check(CLI::Range(0, 100000));
  sub->add_option("--parallel", o->parallel, "handshakes in flight while opening them (default 32)")
      ->check(CLI::Range(1, 1000));
  sub->add_option("--requests", o->requests,
                  "requests on each connection before it goes idle (default 1; more fill the audit "
                  "store's SQLite cache as a gateway that has run a while)")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--settle", o->settle_s, "seconds to wait before each reading (default 1.0)")
      ->check(CLI::Range(0.0, 30.0));
  sub->add_option("--seed", o->seed, "the agreement generator's seed (default 20261122)");
  sub->add_flag("--mappings", o->mappings,
                "also print each reading's resident set by mapping (/proc/PID/smaps)");
  sub->add_flag("--no-nginx", o->skip_nginx, "measure the gateway only");
  sub->add_option("--nginx", o->nginx_binary, "the nginx binary (default: /usr/sbin/nginx)");
  sub->add_option("--gateway", o->gateway_binary,
                  "the dsa-gateway binary (default: next to dsa-bench in the build tree)");
  sub->add_option("--source", o->source_dir, "the repository root (default .)");
  sub->add_flag("--keep", o->keep_dir,
                "keep the temporary directory (agreements, configs, logs, audit store)");
  sub->callback([o, &status] {
    try {
      status = run_memory(*o);
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "dsa-bench memory: %s\n", e.what());
      status = 2;
    }
  });
}

}  // namespace dsa::bench
