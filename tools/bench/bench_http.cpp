// `dsa-bench http`: the command line and its modes — load a running gateway (--url), a gateway of
// its own over the sample upstream (--self), the docs/design.md §9 proxy bars side by side with
// nginx (--compare-nginx), and the streaming bar, one large body through each (--compare-nginx
// --stream-mib). The parts each do one job: load.hpp (the load generator),
// gateway_rig.hpp and nginx_rig.hpp (the two proxies), fast_upstream.hpp (the in-process
// upstream), cpu_time.hpp (CPU from /proc), store_floor.hpp (the latency floor); starting and
// stopping processes is tests/common/process.hpp, shared with the integration tests.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/entry.hpp"
#include "audit/reader.hpp"
#include "tests/common/process.hpp"
#include "tools/bench/bench.hpp"
#include "tools/bench/cpu_time.hpp"
#include "tools/bench/fast_upstream.hpp"
#include "tools/bench/gateway_rig.hpp"
#include "tools/bench/load.hpp"
#include "tools/bench/nginx_rig.hpp"
#include "tools/bench/store_floor.hpp"

namespace dsa::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct http_options : load_options {
  // --self: start a sample upstream and a gateway of our own (see run_self).
  bool self = false;
  std::string source_dir = ".";
  std::string gateway_binary;
  // --compare-nginx: the same load against the gateway and nginx (see run_compare).
  bool compare_nginx = false;
  std::string nginx_binary;
  bool keep_dir = false;
  // --stream-mib (with --compare-nginx): the streaming comparison instead (see run_stream).
  std::uint64_t stream_mib = 0;
  int stream_downloads = 3;
  // The latency floor (store_floor.hpp): commits timed, and where with --url.
  std::size_t floor_commits = 500;
  std::string floor_dir;
};

std::string gateway_binary(const http_options& o) {
  return o.gateway_binary.empty() ? default_gateway_binary() : o.gateway_binary;
}

// The client side of the benchmark agreement: the dev PKI's police certificate and the headers
// that make the request allowed, ahead of any --header given.
void use_bench_client(http_options& o, const fs::path& pki, const std::string& authority) {
  o.url = "https://" + authority + std::string(bench_path);
  o.cert = (pki / "northshire-police.pem").string();
  o.key = (pki / "northshire-police.key").string();
  o.ca = (pki / "ca.pem").string();
  o.headers.insert(o.headers.begin(), std::begin(bench_headers), std::end(bench_headers));
}

// Stops the gateway; false (and why, with the end of its log, on stderr) when it did not exit 0.
bool stop_gateway(gateway_rig& gw, const bench_dir& dir, const char* mode) {
  const std::string problem = gw.stop();
  if (problem.empty()) {
    return true;
  }
  const std::string log = test::read_text(dir.path() / "gateway.log");
  std::fprintf(stderr, "dsa-bench http %s: dsa-gateway %s; the end of its log:\n%s\n", mode,
               problem.c_str(), log.substr(log.size() > 4000 ? log.size() - 4000 : 0).c_str());
  return false;
}

// The demo-like setup: the dev PKI, tools/sample_upstream.py over TLS serving the realistic ASB
// case fixture (about 1.8 KiB, filtered to about 0.8 KiB), one agreement, durable audit.
int run_self(http_options o) {
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh") || !fs::exists(src / "tools/sample_upstream.py")) {
    std::fprintf(stderr, "dsa-bench http --self: run from the repository root or pass --source\n");
    return 2;
  }
  bench_dir dir(src, "dsa-bench-http", o.keep_dir);
  const std::string pki = dir.pki().string();
  const store_floor floor = measure_store_floor(dir.path(), o.floor_commits);
  test::process up(
      {"python3", (src / "tools/sample_upstream.py").string(), "--listen", "127.0.0.1:0",
       "--tls-cert", pki + "/upstream.pem", "--tls-key", pki + "/upstream.key"},
      dir.path() / "upstream.log", test::process::options{SIGTERM, 5s});
  const std::string up_line = up.read_line(20s).value_or("");
  const auto up_colon = up_line.rfind(':');
  if (up_line.rfind("sample-upstream listening on", 0) != 0 || up_colon == std::string::npos) {
    std::fprintf(stderr, "dsa-bench http --self: the sample upstream did not start (%s):\n%s",
                 up.describe_exit().c_str(), test::read_text(dir.path() / "upstream.log").c_str());
    return 2;
  }
  gateway_rig gw(gateway_binary(o), dir,
                 "{url: \"https://127.0.0.1:" + up_line.substr(up_colon + 1) +
                     "\", ca_file: " + pki + "/upstream-ca.pem}");
  use_bench_client(o, dir.pki(), gw.authority());
  const std::int64_t gw_before = cpu_us(gw.pid());
  const std::int64_t up_before = cpu_us(up.pid());
  http_summary sum;
  const int rc = run_http(o, &sum);
  const std::uint64_t answered = sum.requests;
  const std::int64_t gw_cpu = cpu_us(gw.pid()) - gw_before;
  const std::int64_t up_cpu = cpu_us(up.pid()) - up_before;
  if (answered > 0) {
    std::printf("  gateway CPU   %.1f us per request (every thread, audit writer included)\n",
                static_cast<double>(gw_cpu) / static_cast<double>(answered));
    std::printf("  upstream CPU  %.1f us per request (sample upstream, python)\n",
                static_cast<double>(up_cpu) / static_cast<double>(answered));
  }
  if (rc == 0 && !o.json) {
    print_store_floor(floor);
    print_added_p99(floor, sum.p99_ms, o.rate);
  }
  if (o.keep_dir) {
    std::printf("  kept %s\n", dir.path().c_str());
  }
  if (!stop_gateway(gw, dir, "--self")) {
    return 1;
  }
  return rc;
}

// ---------------------------------------------------------------------------------------------
// --compare-nginx: the docs/design.md §9 proxy bar, side by side. One upstream inside this process
// (fast_upstream.hpp), the dev PKI, then the same load against dsa-gateway (threads: 1, policy +
// allow_fields filter + durable audit) and against nginx (nginx_rig.hpp).

struct side_result {
  std::string name;
  http_summary sum;
  std::int64_t cpu_us = 0;
  std::vector<std::pair<std::string, std::int64_t>> per_thread;  // name, CPU µs during the run
  std::int64_t audit_entries = 0;
};

void print_side(const side_result& r) {
  const double n = static_cast<double>(std::max<std::uint64_t>(1, r.sum.requests));
  std::printf(
      "  %-8s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  CPU %6.1f us/req  (%llu requests, "
      "%llu x 200, %llu errors)\n",
      r.name.c_str(), r.sum.seconds > 0 ? static_cast<double>(r.sum.requests) / r.sum.seconds : 0,
      r.sum.p50_ms, r.sum.p99_ms, static_cast<double>(r.cpu_us) / n,
      static_cast<unsigned long long>(r.sum.requests), static_cast<unsigned long long>(r.sum.ok),
      static_cast<unsigned long long>(r.sum.errors));
  for (const auto& [name, us] : r.per_thread) {
    std::printf("           thread %-16s %6.1f us/req\n", name.c_str(),
                static_cast<double>(us) / n);
  }
}

int run_compare(http_options o) {
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh")) {
    std::fprintf(stderr,
                 "dsa-bench http --compare-nginx: run from the repository root or pass "
                 "--source\n");
    return 2;
  }
  bench_dir dir(src, "dsa-bench-compare", o.keep_dir);
  fast_upstream upstream;
  const std::string up_port = std::to_string(upstream.port());
  std::printf(
      "dsa-bench http --compare-nginx: upstream 127.0.0.1:%s (in-process, %zu-byte JSON), "
      "%d connections, %d client thread(s), %.1f s each\n",
      up_port.c_str(), upstream.body_size(), o.connections, std::max(1, o.threads), o.duration_s);
  const store_floor floor = measure_store_floor(dir.path(), o.floor_commits);
  print_store_floor(floor);

  std::vector<side_result> sides;
  auto measure = [&](const std::string& name, pid_t pid, bool with_children,
                     const std::string& authority) -> bool {
    http_options run = o;
    use_bench_client(run, dir.pki(), authority);
    std::vector<pid_t> pids{pid};
    if (with_children) {
      for (pid_t c : children_of(pid)) {
        pids.push_back(c);
      }
    }
    std::map<std::pair<pid_t, pid_t>, thread_cpu> before;
    for (pid_t p : pids) {
      for (auto& [tid, t] : threads_cpu(p)) {
        before[{p, tid}] = t;
      }
    }
    const std::int64_t up_before =
        upstream.tid() != 0 ? threads_cpu(getpid())[upstream.tid()].us : 0;
    std::printf("\n--- %s\n", name.c_str());
    side_result r;
    r.name = name;
    if (run_http(run, &r.sum) != 0) {
      return false;
    }
    std::map<std::string, std::int64_t> by_name;
    for (pid_t p : pids) {
      for (auto& [tid, t] : threads_cpu(p)) {
        auto it = before.find({p, tid});
        const std::int64_t d = t.us - (it == before.end() ? 0 : it->second.us);
        r.cpu_us += d;
        by_name[t.name + (with_children ? "[" + std::to_string(p) + "]" : "")] += d;
      }
    }
    for (auto& kv : by_name) {
      r.per_thread.emplace_back(kv);
    }
    const std::int64_t up_cpu = threads_cpu(getpid())[upstream.tid()].us - up_before;
    std::printf("  upstream      %.1f us CPU per request (in-process thread)\n",
                static_cast<double>(up_cpu) /
                    static_cast<double>(std::max<std::uint64_t>(1, r.sum.requests)));
    sides.push_back(std::move(r));
    return true;
  };

  bool gateway_ok = true;
  {
    gateway_rig gw(gateway_binary(o), dir, "{url: \"http://127.0.0.1:" + up_port + "\"}");
    const std::string m0 = gw.metrics();
    if (!measure("dsa-gateway (threads: 1, policy + allow_fields filter + durable audit)", gw.pid(),
                 false, gw.authority())) {
      return 2;
    }
    sides.back().name = "gateway";
    const std::string m1 = gw.metrics();
    const double commits = metric_value(m1, "dsa_audit_commit_duration_seconds_count") -
                           metric_value(m0, "dsa_audit_commit_duration_seconds_count");
    const double commit_s = metric_value(m1, "dsa_audit_commit_duration_seconds_sum") -
                            metric_value(m0, "dsa_audit_commit_duration_seconds_sum");
    const double entries =
        metric_value(m1, "dsa_audit_entries") - metric_value(m0, "dsa_audit_entries");
    if (commits > 0 && entries > 0) {
      std::printf(
          "  audit         %.0f entries in %.0f commits: %.1f entries/commit, %.2f ms per "
          "commit (BEGIN..COMMIT incl. fsync)\n",
          entries, commits, entries / commits, commit_s * 1000 / commits);
    }
    gateway_ok = stop_gateway(gw, dir, "--compare-nginx");
  }

  const std::string nginx = find_nginx(o.nginx_binary);
  if (nginx.empty()) {
    std::printf(
        "\n--- nginx: not installed (apt-get install nginx-light); the nginx side was "
        "skipped\n");
  } else {
    nginx_rig ng(nginx, dir.path(), dir.pki(), upstream.port());
    if (!ng.started()) {
      std::fprintf(stderr, "dsa-bench http --compare-nginx: nginx did not start; see %s\n",
                   ng.error_log().c_str());
    } else if (!measure("nginx (worker_processes 1, mTLS, proxy_pass with keepalive)", ng.pid(),
                        true, "127.0.0.1:" + std::to_string(ng.port()))) {
      return 2;
    } else {
      sides.back().name = "nginx";
    }
  }

  std::printf("\n=== side by side (same upstream, same load)\n");
  for (const auto& r : sides) {
    print_side(r);
  }
  if (sides.size() == 2) {
    const auto rps = [](const side_result& r) {
      return r.sum.seconds > 0 ? static_cast<double>(r.sum.requests) / r.sum.seconds : 0.0;
    };
    const auto cpu = [](const side_result& r) {
      return static_cast<double>(r.cpu_us) /
             static_cast<double>(std::max<std::uint64_t>(1, r.sum.requests));
    };
    std::printf(
        "  gateway/nginx  throughput x%.2f  CPU per request x%.2f  (docs/design.md §9 bar: >= 1.00 "
        "and <= 1.00)\n",
        rps(sides[1]) > 0 ? rps(sides[0]) / rps(sides[1]) : 0.0,
        cpu(sides[1]) > 0 ? cpu(sides[0]) / cpu(sides[1]) : 0.0);
  }
  if (!sides.empty()) {
    print_added_p99(floor, sides[0].sum.p99_ms, o.rate);
  }
  if (o.keep_dir) {
    std::printf("  kept %s\n", dir.path().c_str());
  }
  return gateway_ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// --compare-nginx --stream-mib N: the streaming bar (docs/performance.md, "Streaming a 256 MiB
// body"). fast_upstream answers stream_path with an N MiB generated body; the gateway relays it
// as a streamed endpoint (no JSON rules, docs/design.md §4.5), nginx with its default
// proxy_buffering. Each side is downloaded --downloads times over one mTLS connection, every byte
// hashed; a body whose SHA-256 is not the upstream's is an error, not a speed.

struct stream_side {
  std::string name;
  std::vector<double> mib_s;  // the downloads whose body was whole and right, in order
  int errors = 0;
  double mib = 0;  // every body byte received, in MiB (what CPU is divided by)
  std::int64_t cpu_us = 0;
  std::vector<std::pair<std::string, std::int64_t>> per_thread;  // name, CPU µs
  std::int64_t rss_start_kib = -1, rss_peak_kib = -1;            // VmHWM before / after
};

double median_of(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double best_of(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// "" when the store holds exactly `count` disclosure_completed entries for stream_path and each
// records `bytes` bytes with SHA-256 `sha256` (what the client received); otherwise what differs.
// Read after the gateway stopped, since the end entry is committed after the last byte left.
std::string check_stream_audit(const fs::path& db, const std::string& sha256, std::uint64_t bytes,
                               int count) {
  auto opened = audit::reader::open(db);
  if (!opened) {
    return opened.error();
  }
  audit::query_filter f;
  f.kind = "disclosure_completed";
  int seen = 0;
  std::string problem;
  auto queried = (*opened)->query(f, [&](std::string_view text) {
    const std::optional<audit::entry> e = audit::entry_from_json(text);
    if (!e) {
      problem = "an entry of " + db.string() + " does not parse: " + std::string(text);
      return false;
    }
    if (e->path != stream_path) {
      return true;
    }
    ++seen;
    if (e->body_sha256 != sha256 || e->bytes != static_cast<std::int64_t>(bytes)) {
      problem = "entry " + std::to_string(e->seq) + " records " + std::to_string(e->bytes) +
                " bytes with sha256 " + e->body_sha256 + "; the client received " +
                std::to_string(bytes) + " bytes with sha256 " + sha256;
      return false;
    }
    return true;
  });
  if (!queried) {
    return queried.error();
  }
  if (!problem.empty()) {
    return problem;
  }
  if (seen != count) {
    return std::to_string(seen) + " disclosure_completed entries for " + std::string(stream_path) +
           " in " + db.string() + ", " + std::to_string(count) + " whole downloads";
  }
  return {};
}

void print_stream_side(const stream_side& r) {
  const double mib = std::max(1.0, r.mib);
  std::printf("  %-8s best %7.1f MiB/s  median %7.1f MiB/s  CPU %6.2f ms/MiB", r.name.c_str(),
              best_of(r.mib_s), median_of(r.mib_s), static_cast<double>(r.cpu_us) / 1000 / mib);
  if (r.rss_peak_kib >= 0) {
    std::printf("  peak RSS %.1f MiB (%.1f before)", static_cast<double>(r.rss_peak_kib) / 1024,
                static_cast<double>(r.rss_start_kib) / 1024);
  }
  std::printf("  (%zu whole downloads, %d errors)\n", r.mib_s.size(), r.errors);
  for (const auto& [name, us] : r.per_thread) {
    std::printf("           thread %-16s %6.2f ms/MiB\n", name.c_str(),
                static_cast<double>(us) / 1000 / mib);
  }
}

int run_stream(const http_options& o) {
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh")) {
    std::fprintf(stderr,
                 "dsa-bench http --compare-nginx --stream-mib: run from the repository root or "
                 "pass --source\n");
    return 2;
  }
  bench_dir dir(src, "dsa-bench-stream", o.keep_dir);
  const std::uint64_t bytes = o.stream_mib << 20;
  fast_upstream upstream(bytes);
  const std::string& want = upstream.stream_sha256();
  std::printf(
      "dsa-bench http --compare-nginx --stream-mib %llu: upstream 127.0.0.1:%u (in-process, "
      "%llu-byte application/octet-stream body, sha256 %s), %d downloads per side over one mTLS "
      "connection each\n",
      static_cast<unsigned long long>(o.stream_mib), static_cast<unsigned>(upstream.port()),
      static_cast<unsigned long long>(bytes), want.c_str(), o.stream_downloads);

  auto measure = [&](const std::string& title, pid_t pid, bool with_children,
                     const std::string& authority, stream_side& r) {
    http_options run = o;
    use_bench_client(run, dir.pki(), authority);
    run.url = "https://" + authority + std::string(stream_path);
    run.headers = o.headers;
    run.headers.insert(run.headers.begin(),
                       {std::string(bench_headers[0]), std::string(bench_headers[1]),
                        "Accept: application/octet-stream"});
    std::vector<pid_t> pids{pid};
    if (with_children) {
      for (pid_t c : children_of(pid)) {
        pids.push_back(c);
      }
    }
    std::map<std::pair<pid_t, pid_t>, thread_cpu> before;
    for (pid_t p : pids) {
      for (auto& [tid, t] : threads_cpu(p)) {
        before[{p, tid}] = t;
      }
    }
    const pid_t client_tid = static_cast<pid_t>(gettid());
    const std::int64_t up_before = threads_cpu(getpid())[upstream.tid()].us;
    const std::int64_t client_before = threads_cpu(getpid())[client_tid].us;
    std::printf("\n--- %s\n", title.c_str());
    const download_report rep = run_downloads(run, o.stream_downloads);
    const std::int64_t up_cpu = threads_cpu(getpid())[upstream.tid()].us - up_before;
    const std::int64_t client_cpu = threads_cpu(getpid())[client_tid].us - client_before;
    std::map<std::string, std::int64_t> by_name;
    for (pid_t p : pids) {
      for (auto& [tid, t] : threads_cpu(p)) {
        auto it = before.find({p, tid});
        const std::int64_t d = t.us - (it == before.end() ? 0 : it->second.us);
        r.cpu_us += d;
        by_name[t.name + (with_children ? "[" + std::to_string(p) + "]" : "")] += d;
      }
    }
    for (auto& kv : by_name) {
      r.per_thread.emplace_back(kv);
    }
    if (!rep.error.empty()) {
      std::printf("  error         %s\n", rep.error.c_str());
      ++r.errors;
    }
    int n = 0;
    for (const download& d : rep.downloads) {
      ++n;
      const double mib = static_cast<double>(d.bytes) / (1 << 20);
      r.mib += mib;
      std::string verdict;
      if (!d.error.empty()) {
        verdict = d.error;
      } else if (d.status != 200) {
        verdict = "status " + std::to_string(d.status);
      } else if (d.bytes != bytes) {
        verdict = std::to_string(d.bytes) + " bytes, not " + std::to_string(bytes);
      } else if (d.sha256 != want) {
        verdict = "sha256 " + d.sha256 + " is not the upstream's";
      }
      const double rate = d.seconds > 0 ? mib / d.seconds : 0;
      std::printf("  download %d    %.1f MiB in %.3f s = %.1f MiB/s  %s\n", n, mib, d.seconds, rate,
                  verdict.empty() ? "sha256 matches the upstream's" : verdict.c_str());
      if (verdict.empty()) {
        r.mib_s.push_back(rate);
      } else {
        ++r.errors;
      }
    }
    const double mib = std::max(1.0, r.mib);
    std::printf("  TLS           %s, %d reconnect(s)\n", rep.tls.c_str(), rep.reconnects);
    std::printf("  upstream      %.2f ms CPU per MiB (in-process thread)\n",
                static_cast<double>(up_cpu) / 1000 / mib);
    std::printf("  client        %.2f ms CPU per MiB (this thread: TLS, parse, SHA-256)\n",
                static_cast<double>(client_cpu) / 1000 / mib);
  };

  stream_side gw_side;
  gw_side.name = "gateway";
  bool gateway_ok = true;
  {
    gateway_rig gw(gateway_binary(o), dir,
                   "{url: \"http://127.0.0.1:" + std::to_string(upstream.port()) + "\"}");
    gw_side.rss_start_kib = peak_rss_kib(gw.pid());
    measure("dsa-gateway (threads: 1, streamed endpoint, two-phase durable audit)", gw.pid(), false,
            gw.authority(), gw_side);
    gw_side.rss_peak_kib = peak_rss_kib(gw.pid());
    gateway_ok = stop_gateway(gw, dir, "--compare-nginx --stream-mib");
  }
  // Every whole download must have its disclosure_completed entry with the same digest.
  const std::string audit_problem = check_stream_audit(dir.path() / "audit.db", want, bytes,
                                                       static_cast<int>(gw_side.mib_s.size()));

  stream_side ng_side;
  ng_side.name = "nginx";
  bool have_nginx = false;
  const std::string nginx = find_nginx(o.nginx_binary);
  if (nginx.empty()) {
    std::printf(
        "\n--- nginx: not installed (apt-get install nginx-light); the nginx side was "
        "skipped\n");
  } else {
    nginx_rig ng(nginx, dir.path(), dir.pki(), upstream.port());
    if (!ng.started()) {
      std::fprintf(stderr,
                   "dsa-bench http --compare-nginx --stream-mib: nginx did not start; see %s\n",
                   ng.error_log().c_str());
      return 2;
    }
    const std::vector<pid_t> workers = children_of(ng.pid());
    const pid_t worker = workers.empty() ? ng.pid() : workers.front();
    ng_side.rss_start_kib = peak_rss_kib(worker);
    measure("nginx (worker_processes 1, mTLS, proxy_pass, default proxy_buffering)", ng.pid(), true,
            "127.0.0.1:" + std::to_string(ng.port()), ng_side);
    ng_side.rss_peak_kib = peak_rss_kib(worker);
    have_nginx = true;
  }

  std::printf("\n=== side by side (same upstream, same %llu MiB body, %d downloads each)\n",
              static_cast<unsigned long long>(o.stream_mib), o.stream_downloads);
  print_stream_side(gw_side);
  if (have_nginx) {
    print_stream_side(ng_side);
    std::printf("           (nginx's peak RSS is its worker's)\n");
    const double med =
        median_of(ng_side.mib_s) > 0 ? median_of(gw_side.mib_s) / median_of(ng_side.mib_s) : 0.0;
    const double best =
        best_of(ng_side.mib_s) > 0 ? best_of(gw_side.mib_s) / best_of(ng_side.mib_s) : 0.0;
    const double ng_cpu = static_cast<double>(ng_side.cpu_us) / std::max(1.0, ng_side.mib);
    const double gw_cpu = static_cast<double>(gw_side.cpu_us) / std::max(1.0, gw_side.mib);
    std::printf(
        "  gateway/nginx  throughput x%.2f (median), x%.2f (best)  CPU per MiB x%.2f  (streaming "
        "bar: throughput >= 0.80)\n",
        med, best, ng_cpu > 0 ? gw_cpu / ng_cpu : 0.0);
  }
  if (audit_problem.empty()) {
    std::printf(
        "  audited sha256 matches (%zu disclosure_completed entries for %s, %llu bytes, %s)\n",
        gw_side.mib_s.size(), std::string(stream_path).c_str(),
        static_cast<unsigned long long>(bytes), want.c_str());
  } else {
    std::printf("  audited sha256 DOES NOT MATCH: %s\n", audit_problem.c_str());
  }
  if (o.keep_dir) {
    std::printf("  kept %s\n", dir.path().c_str());
  }
  // A download stops the side's run at its first error, so "whole" is every download right.
  const auto whole_side = [&](const stream_side& r) {
    return r.errors == 0 && r.mib_s.size() == static_cast<std::size_t>(o.stream_downloads);
  };
  const bool whole = whole_side(gw_side) && (!have_nginx || whole_side(ng_side));
  return gateway_ok && whole && audit_problem.empty() ? 0 : 1;
}

// --url: load a running gateway; with --floor-dir, also the latency floor of its disk.
int run_url(const http_options& o) {
  std::optional<store_floor> floor;
  if (!o.floor_dir.empty()) {
    floor = measure_store_floor(o.floor_dir, o.floor_commits);
  }
  http_summary sum;
  const int rc = run_http(o, &sum);
  if (floor && rc == 0 && !o.json) {
    print_store_floor(*floor);
    print_added_p99(*floor, sum.p99_ms, o.rate);
  }
  return rc;
}

// Runs a mode; a setup failure (PKI, store, a process that does not start) is a message and 2.
template <class Fn>
int guarded(const char* mode, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "dsa-bench http%s: %s\n", mode, e.what());
    return 2;
  }
}

}  // namespace

void add_http_bench(CLI::App& app, int& status) {
  auto opts = std::make_shared<http_options>();
  CLI::App* sub =
      app.add_subcommand("http",
                         "mTLS keep-alive load (closed loop or fixed --rate): against a running "
                         "gateway (--url), a gateway of its own (--self), or side by side with "
                         "nginx (--compare-nginx); prints req/s, latency percentiles and errors");
  auto* url = sub->add_option("--url", opts->url, "https://HOST:PORT/PATH");
  auto* cert = sub->add_option("--cert", opts->cert, "client certificate (PEM)");
  auto* key = sub->add_option("--key", opts->key, "client private key (PEM)");
  auto* ca = sub->add_option("--ca", opts->ca, "CA that signed the gateway's certificate");
  auto* self = sub->add_flag("--self", opts->self,
                             "start a sample upstream and a gateway of its own (dev PKI, one "
                             "agreement, durable audit) and report the gateway's CPU per request");
  auto* compare = sub->add_flag(
      "--compare-nginx", opts->compare_nginx,
      "loopback only: an in-process upstream, the dev PKI, then the same load against dsa-gateway "
      "(threads: 1) and nginx (one worker, mTLS) in turn; req/s, p50/p99 and CPU per request");
  for (auto* o : {url, cert, key, ca}) {
    o->excludes(self);
    o->excludes(compare);
  }
  self->excludes(compare);
  sub->add_option("--nginx", opts->nginx_binary,
                  "--compare-nginx: the nginx binary (default: /usr/sbin/nginx if present)");
  auto* stream_mib = sub->add_option(
      "--stream-mib", opts->stream_mib,
      "--compare-nginx: instead of the request load, stream one generated body of this many MiB "
      "through each side (a streamed endpoint on the gateway), --downloads times over one mTLS "
      "connection, checking every byte's SHA-256 and the gateway's audit entry; MiB/s, CPU per "
      "MiB, peak RSS");
  stream_mib->check(CLI::Range(std::uint64_t{1}, stream_max_bytes >> 20))->needs(compare);
  sub->add_option("--downloads", opts->stream_downloads,
                  "--stream-mib: downloads per side (default 3)")
      ->check(CLI::Range(1, 100))
      ->needs(stream_mib);
  sub->add_flag("--keep", opts->keep_dir,
                "--self, --compare-nginx: keep the temporary directory (configs, logs, audit "
                "store)");
  sub->add_option("--source", opts->source_dir,
                  "--self, --compare-nginx: the repository root (default .)");
  sub->add_option("--gateway", opts->gateway_binary,
                  "--self, --compare-nginx: the dsa-gateway binary (default: next to dsa-bench in "
                  "the build tree)");
  sub->add_option("--floor-commits", opts->floor_commits,
                  "latency floor: one-entry durable audit commits (and as many fdatasyncs) to time "
                  "in the gateway's store directory before the load (default 500)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  auto* floor_dir = sub->add_option(
      "--floor-dir", opts->floor_dir,
      "--url: measure the latency floor in this directory (where the gateway's audit store is)");
  floor_dir->excludes(self);
  floor_dir->excludes(compare);
  sub->add_option("--header", opts->headers, "extra request header, e.g. \"DSA-Purpose: x\"");
  sub->add_option("--method", opts->method, "request method (default GET)");
  sub->add_option("--connections", opts->connections,
                  "keep-alive connections (default 16; 128 with --compare-nginx)");
  sub->add_option("--duration", opts->duration_s, "seconds to run (default 10)");
  sub->add_option("--rate", opts->rate,
                  "open loop: total requests per second (default: closed loop)");
  sub->add_option("--threads", opts->threads, "client I/O threads (default 1)");
  sub->add_flag("--json", opts->json,
                "print one JSON object (requests, throughput, p50/p99/max ms, statuses, errors)");
  sub->callback([opts, &status, sub] {
    if (opts->self) {
      status = guarded(" --self", [&] { return run_self(*opts); });
      return;
    }
    if (opts->compare_nginx && opts->stream_mib > 0) {
      status = guarded(" --compare-nginx --stream-mib", [&] { return run_stream(*opts); });
      return;
    }
    if (opts->compare_nginx) {
      // Every response waits for a group commit (an fsync, 1–3 ms here), so a closed loop needs
      // enough connections in flight to keep both sides busy; 16 would measure the disk.
      if (sub->count("--connections") == 0) {
        opts->connections = 128;
      }
      status = guarded(" --compare-nginx", [&] { return run_compare(*opts); });
      return;
    }
    if (opts->url.empty() || opts->cert.empty() || opts->key.empty() || opts->ca.empty()) {
      std::fprintf(stderr,
                   "dsa-bench http: --url, --cert, --key and --ca are required without "
                   "--self\n%s",
                   sub->help().c_str());
      status = 2;
      return;
    }
    status = guarded("", [&] { return run_url(*opts); });
  });
}

}  // namespace dsa::bench
