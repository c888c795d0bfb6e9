// `dsa-bench http`: an mTLS HTTP/1.1 load generator (wrk and h2load cannot present client
// certificates). Keep-alive connections; closed-loop (each connection sends its next request as
// soon as the previous answer is in) or open-loop at a fixed rate (--rate), where latency is
// measured from the moment a request was due, so a stalled server cannot hide its queueing
// (no coordinated omission).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"

namespace dsa::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

struct http_options {
  std::string url, cert, key, ca, method = "GET";
  std::vector<std::string> headers;
  int connections = 16;
  double duration_s = 10;
  double rate = 0;  // requests per second over all connections; 0 = closed loop
  int threads = 1;
  // --self: start a sample upstream and a gateway of our own (see run_self).
  bool self = false;
  std::string source_dir = ".";
  std::string gateway_binary;
};

struct target {
  std::string host, port, path, authority;
};

bool parse_url(const std::string& url, target& t) {
  const std::string prefix = "https://";
  if (url.rfind(prefix, 0) != 0) {
    return false;
  }
  std::string rest = url.substr(prefix.size());
  auto slash = rest.find('/');
  t.authority = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = t.authority.rfind(':');
  if (colon == std::string::npos) {
    t.host = t.authority;
    t.port = "443";
  } else {
    t.host = t.authority.substr(0, colon);
    t.port = t.authority.substr(colon + 1);
  }
  return !t.host.empty();
}

// Per-thread results, merged at the end (no sharing while running).
struct results {
  std::vector<std::uint32_t> latencies_us;
  std::map<int, std::uint64_t> statuses;
  std::map<std::string, std::uint64_t> errors;
};

struct shared_schedule {
  clock_type::time_point start, end;
  double rate = 0;
  std::atomic<std::uint64_t> next{0};
};

net::awaitable<void> run_connection(net::ssl::context& ctx, const target& t,
                                    const std::string& request, shared_schedule& sched,
                                    results& out) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
  auto [rec, eps] = co_await resolver.async_resolve(t.host, t.port, use_tuple);
  if (rec) {
    ++out.errors["resolve: " + rec.message()];
    co_return;
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(eps, use_tuple);
  if (cec) {
    ++out.errors["connect: " + cec.message()];
    co_return;
  }
  beast::get_lowest_layer(stream).socket().set_option(tcp::no_delay(true));
  SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str());
  auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::client, use_tuple);
  if (hec) {
    ++out.errors["handshake: " + hec.message()];
    co_return;
  }
  beast::flat_buffer buffer;
  net::steady_timer timer(ex);
  while (clock_type::now() < sched.end) {
    clock_type::time_point due = clock_type::now();
    if (sched.rate > 0) {
      const std::uint64_t i = sched.next.fetch_add(1);
      due = sched.start + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(static_cast<double>(i) / sched.rate));
      if (due >= sched.end) {
        break;
      }
      if (due > clock_type::now()) {
        timer.expires_at(due);
        co_await timer.async_wait(use_tuple);
      }
    }
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    auto [wec, wn] = co_await net::async_write(stream, net::buffer(request), use_tuple);
    if (wec) {
      ++out.errors["write: " + wec.message()];
      co_return;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [rdec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (rdec) {
      ++out.errors["read: " + rdec.message()];
      co_return;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - due);
    out.latencies_us.push_back(
        static_cast<std::uint32_t>(std::min<std::int64_t>(us.count(), UINT32_MAX)));
    ++out.statuses[static_cast<int>(parser.get().result_int())];
    if (!parser.get().keep_alive()) {
      ++out.errors["server closed the connection"];
      co_return;
    }
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  co_await stream.async_shutdown(use_tuple);
}

int run_http(const http_options& o, std::uint64_t* answered = nullptr) {
  target t;
  if (!parse_url(o.url, t)) {
    std::fprintf(stderr, "dsa-bench http: --url must be https://HOST[:PORT]/PATH\n");
    return 2;
  }
  net::ssl::context ctx(net::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx.set_verify_mode(net::ssl::verify_peer);
  ctx.load_verify_file(o.ca, ec);
  if (!ec) {
    ctx.use_certificate_chain_file(o.cert, ec);
  }
  if (!ec) {
    ctx.use_private_key_file(o.key, net::ssl::context::pem, ec);
  }
  if (ec) {
    std::fprintf(stderr, "dsa-bench http: certificates: %s\n", ec.message().c_str());
    return 2;
  }
  std::string request = o.method + " " + t.path + " HTTP/1.1\r\nHost: " + t.authority + "\r\n";
  for (const auto& h : o.headers) {
    request += h + "\r\n";
  }
  request += "User-Agent: dsa-bench\r\n\r\n";

  shared_schedule sched;
  sched.rate = o.rate;
  const int threads = std::max(1, o.threads);
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::vector<results> per(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    iocs.push_back(std::make_unique<net::io_context>(1));
  }
  sched.start = clock_type::now() + std::chrono::milliseconds(200);  // handshakes first
  sched.end = sched.start + std::chrono::duration_cast<clock_type::duration>(
                                std::chrono::duration<double>(o.duration_s));
  for (int c = 0; c < o.connections; ++c) {
    const auto i = static_cast<std::size_t>(c % threads);
    net::co_spawn(*iocs[i], run_connection(ctx, t, request, sched, per[i]),
                  [](std::exception_ptr) {});
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) {
    pool.emplace_back([&, i] { iocs[static_cast<std::size_t>(i)]->run(); });
  }
  iocs[0]->run();
  for (auto& th : pool) {
    th.join();
  }
  const double elapsed =
      std::chrono::duration<double>(std::min(clock_type::now(), sched.end) - sched.start).count();

  results all;
  for (auto& r : per) {
    all.latencies_us.insert(all.latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (auto& [k, v] : r.statuses) {
      all.statuses[k] += v;
    }
    for (auto& [k, v] : r.errors) {
      all.errors[k] += v;
    }
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  auto pct = [&](double p) -> double {
    if (all.latencies_us.empty()) {
      return 0;
    }
    auto idx = static_cast<std::size_t>(p * static_cast<double>(all.latencies_us.size() - 1));
    return all.latencies_us[idx] / 1000.0;
  };
  const auto n = all.latencies_us.size();
  if (answered != nullptr) {
    *answered = n;
  }
  std::printf("dsa-bench http %s %s\n", o.method.c_str(), o.url.c_str());
  std::printf("  mode          %s, %d connections, %d thread(s), %.1f s\n",
              o.rate > 0 ? "open loop (fixed rate)" : "closed loop", o.connections, threads,
              o.duration_s);
  if (o.rate > 0) {
    std::printf("  target rate   %.0f req/s\n", o.rate);
  }
  std::printf("  requests      %zu\n", n);
  std::printf("  throughput    %.0f req/s\n", elapsed > 0 ? static_cast<double>(n) / elapsed : 0.0);
  std::printf("  latency ms    p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", pct(0.5), pct(0.99),
              pct(0.999), pct(1.0));
  std::printf("  statuses     ");
  for (auto& [k, v] : all.statuses) {
    std::printf(" %d=%llu", k, static_cast<unsigned long long>(v));
  }
  std::printf("\n  errors        %s\n", all.errors.empty() ? "none" : "");
  for (auto& [k, v] : all.errors) {
    std::printf("    %llu x %s\n", static_cast<unsigned long long>(v), k.c_str());
  }
  return 0;
}

// A child process whose stdout is read for its start-up line; killed with SIGTERM on scope exit.
class child {
 public:
  child(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    int out[2];
    if (pipe(out) != 0) {
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive an interrupted benchmark
      dup2(out[1], 1);
      int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, 2);
      close(out[0]);
      close(out[1]);
      std::vector<char*> args;
      for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
      }
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    out_ = fdopen(out[0], "r");
  }
  ~child() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      for (int i = 0; i < 500 && waitpid(pid_, &st, WNOHANG) == 0; ++i) {
        usleep(10000);
      }
      if (waitpid(pid_, &st, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
    }
    if (out_ != nullptr) {
      fclose(out_);
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  // The first stdout line (blocking; both children print theirs within a second or exit).
  std::string first_line() {
    char buf[512];
    if (out_ == nullptr || fgets(buf, sizeof buf, out_) == nullptr) {
      return {};
    }
    std::string line(buf);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.pop_back();
    }
    return line;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

// CPU time (user + system, every thread) of a process, in microseconds.
std::int64_t cpu_us(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) {
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

// The demo-like setup the SPEC §9 proxy bar is measured on: the dev PKI, the sample upstream over
// TLS serving the realistic ASB case fixture (about 1.8 KiB, filtered to about 0.8 KiB), one
// agreement without volume caps (a cap would turn the run into 429s), durable audit.
const char* self_agreement = R"yaml(schema: dsa/v1
id: bench-asb
version: 1.0.0
title: Benchmark — police read council ASB cases
status: active
validity: {from: 2020-01-01, until: 2099-01-01}
parties:
  - id: northshire-police
    name: Chief Constable of Northshire Police
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://northshire.police.uk.example/dsa-gateway"}]
  - id: kingsbury-council
    name: Kingsbury District Council
    role: controller
    identities: [{trust_anchor: partner-ca, uri_san: "spiffe://kingsbury.gov.uk.example/dsa-gateway"}]
legal:
  gateways: [{id: cda-1998-s115, cite: Crime and Disorder Act 1998 s.115}]
  lawful_bases: [{id: dpa-2018-s35, cite: DPA 2018 Part 3 s.35(2)(b)}]
purposes: [{id: asb-case-management, description: Managing an open ASB case}]
data_categories:
  - {id: asb-case-record, description: ASB case record, personal_data: true, special_category: false, criminal_offence_data: true, retention: 6 years}
endpoints:
  - id: council-asb-case
    provider: kingsbury-council
    upstream: council-asb
    method: GET
    path: /asb/v1/cases/{case_id}
    path_params: {case_id: "ASB-[0-9]{4}-[0-9]{6}"}
    data_categories: [asb-case-record]
    response:
      allow_fields: [/case_id, /status, /opened_on, /category, /ward, /risk_level, /lead_officer_team,
                     /subjects/*/subject_id, /subjects/*/name, /subjects/*/role, /subjects/*/age_band,
                     /actions, /warnings]
      withhold_if: [{pointer: /restricted, equals: true}]
      add_headers: {Handling-Caveat: OFFICIAL-SENSITIVE}
permissions:
  - id: police-read-asb-case
    assignee: northshire-police
    endpoints: [council-asb-case]
    purposes: [asb-case-management]
    lawful_basis: [dpa-2018-s35]
    legal_gateway: [cda-1998-s115]
    require: {case_ref: "ASB-[0-9]{4}-[0-9]{6}", case_ref_param: case_id}
)yaml";

int run_self(http_options o) {
  namespace fs = std::filesystem;
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh") || !fs::exists(src / "tools/sample_upstream.py")) {
    std::fprintf(stderr, "dsa-bench http --self: run from the repository root or pass --source\n");
    return 2;
  }
  std::string gateway_bin = o.gateway_binary;
  if (gateway_bin.empty()) {
    gateway_bin = (fs::read_symlink("/proc/self/exe").parent_path() / "../gateway/dsa-gateway")
                      .lexically_normal()
                      .string();
  }
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("dsa-bench-http-" + std::to_string(rd()));
  fs::create_directories(dir / "agreements");
  struct cleanup {
    fs::path p;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup_dir{dir};
  const std::string pki = (dir / "pki").string();
  if (std::system(("bash '" + (src / "certs/make-dev-pki.sh").string() + "' '" + pki + "' > '" +
                   (dir / "pki.log").string() + "' 2>&1")
                      .c_str()) != 0) {
    std::fprintf(stderr, "dsa-bench http --self: make-dev-pki.sh failed\n");
    return 2;
  }
  std::ofstream(dir / "agreements/bench-asb.yaml") << self_agreement;
  child up({"python3", (src / "tools/sample_upstream.py").string(), "--listen", "127.0.0.1:0",
            "--tls-cert", pki + "/upstream.pem", "--tls-key", pki + "/upstream.key"},
           dir / "upstream.log");
  const std::string up_line = up.first_line();
  const auto up_colon = up_line.rfind(':');
  if (up_line.rfind("sample-upstream listening on", 0) != 0 || up_colon == std::string::npos) {
    std::fprintf(stderr, "dsa-bench http --self: the sample upstream did not start\n");
    return 2;
  }
  std::ofstream(dir / "gateway.yaml")
      << "listen: 127.0.0.1:0\nthreads: 1\ntls:\n  certificate: " << pki
      << "/gateway.pem\n  private_key: " << pki << "/gateway.key\n  trust_anchors:\n"
      << "    - {name: partner-ca, ca_file: " << pki << "/ca.pem, crl_file: " << pki
      << "/crl.pem}\nagreements_dir: agreements\nupstreams:\n  council-asb: {url: \"https://"
      << "127.0.0.1:" << up_line.substr(up_colon + 1) << "\", ca_file: " << pki
      << "/upstream-ca.pem}\naudit: {path: audit.db, signing_key: audit-key.pem}\n";
  child gw({gateway_bin, "--config", (dir / "gateway.yaml").string()}, dir / "gateway.log");
  const std::string gw_line = gw.first_line();
  const auto https = gw_line.find("https=");
  if (https == std::string::npos) {
    std::fprintf(stderr, "dsa-bench http --self: the gateway did not start (%s)\n",
                 gateway_bin.c_str());
    return 2;
  }
  const std::string authority = gw_line.substr(https + 6, gw_line.find(' ', https) - https - 6);
  o.url = "https://" + authority + "/asb/v1/cases/ASB-2026-000123";
  o.cert = pki + "/northshire-police.pem";
  o.key = pki + "/northshire-police.key";
  o.ca = pki + "/ca.pem";
  o.headers.insert(o.headers.begin(),
                   {"DSA-Purpose: asb-case-management", "DSA-Case-Ref: ASB-2026-000123",
                    "Accept: application/json"});
  const std::int64_t gw_before = cpu_us(gw.pid());
  const std::int64_t up_before = cpu_us(up.pid());
  std::uint64_t answered = 0;
  const int rc = run_http(o, &answered);
  const std::int64_t gw_cpu = cpu_us(gw.pid()) - gw_before;
  const std::int64_t up_cpu = cpu_us(up.pid()) - up_before;
  if (answered > 0) {
    std::printf("  gateway CPU   %.1f us per request (every thread, audit writer included)\n",
                static_cast<double>(gw_cpu) / static_cast<double>(answered));
    std::printf("  upstream CPU  %.1f us per request (sample upstream, python)\n",
                static_cast<double>(up_cpu) / static_cast<double>(answered));
  }
  return rc;
}

}  // namespace

void add_http_bench(CLI::App& app, int& status) {
  auto opts = std::make_shared<http_options>();
  CLI::App* sub = app.add_subcommand(
      "http", "mTLS keep-alive load against a running gateway; prints req/s and latency");
  auto* url = sub->add_option("--url", opts->url, "https://HOST:PORT/PATH");
  auto* cert = sub->add_option("--cert", opts->cert, "client certificate (PEM)");
  auto* key = sub->add_option("--key", opts->key, "client private key (PEM)");
  auto* ca = sub->add_option("--ca", opts->ca, "CA that signed the gateway's certificate");
  auto* self = sub->add_flag("--self", opts->self,
                             "start a sample upstream and a gateway of its own (dev PKI, one "
                             "agreement, durable audit) and report the gateway's CPU per request");
  for (auto* o : {url, cert, key, ca}) {
    o->excludes(self);
  }
  sub->add_option("--source", opts->source_dir, "--self: the repository root (default .)");
  sub->add_option("--gateway", opts->gateway_binary,
                  "--self: the dsa-gateway binary (default: next to dsa-bench in the build tree)");
  sub->add_option("--header", opts->headers, "extra request header, e.g. \"DSA-Purpose: x\"");
  sub->add_option("--method", opts->method, "request method (default GET)");
  sub->add_option("--connections", opts->connections, "keep-alive connections (default 16)");
  sub->add_option("--duration", opts->duration_s, "seconds to run (default 10)");
  sub->add_option("--rate", opts->rate,
                  "open loop: total requests per second (default: closed loop)");
  sub->add_option("--threads", opts->threads, "client I/O threads (default 1)");
  sub->callback([opts, &status, sub] {
    if (opts->self) {
      status = run_self(*opts);
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
    status = run_http(*opts);
  });
}

}  // namespace dsa::bench
