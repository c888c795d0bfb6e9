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
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
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
  bool json = false;  // --json: one JSON object on stdout instead of the text report
  // --self: start a sample upstream and a gateway of our own (see run_self).
  bool self = false;
  std::string source_dir = ".";
  std::string gateway_binary;
  // --compare-nginx: the same load against the gateway and nginx (see run_compare).
  bool compare_nginx = false;
  std::string nginx_binary;
  bool keep_dir = false;
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

// What one run measured, for callers that compare runs (--compare-nginx).
struct http_summary {
  std::uint64_t requests = 0, ok = 0, errors = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0;
};

int run_http(const http_options& o, http_summary* summary = nullptr) {
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
  if (summary != nullptr) {
    summary->requests = n;
    summary->ok = all.statuses[200];
    for (auto& [k, v] : all.errors) {
      summary->errors += v;
    }
    summary->seconds = elapsed;
    summary->p50_ms = pct(0.5);
    summary->p99_ms = pct(0.99);
  }
  if (o.json) {
    // For scripts and tests (the reload-under-load test reads it): counts keyed by status and
    // by error text, so "no failed request" is a check on two fields.
    boost::json::object statuses, errors;
    for (auto& [k, v] : all.statuses) {
      statuses[std::to_string(k)] = v;
    }
    for (auto& [k, v] : all.errors) {
      errors[k] = v;
    }
    boost::json::object report{{"requests", n},
                               {"seconds", elapsed},
                               {"throughput", elapsed > 0 ? static_cast<double>(n) / elapsed : 0.0},
                               {"p50_ms", pct(0.5)},
                               {"p99_ms", pct(0.99)},
                               {"max_ms", pct(1.0)},
                               {"statuses", std::move(statuses)},
                               {"errors", std::move(errors)}};
    std::printf("%s\n", boost::json::serialize(report).c_str());
    return 0;
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

// The demo-like setup the docs/design.md §9 proxy bar is measured on: the dev PKI, the sample
// upstream over TLS serving the realistic ASB case fixture (about 1.8 KiB, filtered to about 0.8
// KiB), one agreement without volume caps (a cap would turn the run into 429s), durable audit.
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

// The dsa-gateway binary: --gateway, else the one next to dsa-bench in the build tree.
std::string gateway_binary(const http_options& o) {
  if (!o.gateway_binary.empty()) {
    return o.gateway_binary;
  }
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "../gateway/dsa-gateway")
      .lexically_normal()
      .string();
}

// A temporary directory (with agreements/ inside) removed at scope exit unless kept.
struct scratch_dir {
  scratch_dir(const std::string& prefix, bool keep_it) : keep(keep_it) {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / (prefix + std::to_string(rd()));
    std::filesystem::create_directories(path / "agreements");
  }
  ~scratch_dir() {
    std::error_code ec;
    if (!keep) {
      std::filesystem::remove_all(path, ec);
    }
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  std::filesystem::path path;
  bool keep;
};

// Makes the dev PKI in DIR/pki with certs/make-dev-pki.sh; false (and a message) on failure.
bool make_dev_pki(const std::filesystem::path& src, const std::filesystem::path& dir,
                  const char* mode) {
  const std::string pki = (dir / "pki").string();
  if (std::system(("bash '" + (src / "certs/make-dev-pki.sh").string() + "' '" + pki + "' > '" +
                   (dir / "pki.log").string() + "' 2>&1")
                      .c_str()) != 0) {
    std::ifstream log(dir / "pki.log");
    std::fprintf(stderr, "dsa-bench http %s: make-dev-pki.sh failed:\n", mode);
    std::fputs(std::string(std::istreambuf_iterator<char>(log), {}).c_str(), stderr);
    return false;
  }
  return true;
}

int run_self(http_options o) {
  namespace fs = std::filesystem;
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh") || !fs::exists(src / "tools/sample_upstream.py")) {
    std::fprintf(stderr, "dsa-bench http --self: run from the repository root or pass --source\n");
    return 2;
  }
  scratch_dir scratch("dsa-bench-http-", false);
  const fs::path& dir = scratch.path;
  const std::string gateway_bin = gateway_binary(o);
  if (!make_dev_pki(src, dir, "--self")) {
    return 2;
  }
  const std::string pki = (dir / "pki").string();
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
  return rc;
}

// ---------------------------------------------------------------------------------------------
// --compare-nginx: the docs/design.md §9 proxy bar, side by side. One upstream inside this process
// (plain HTTP/1.1 keep-alive on its own thread, a fixed ~1 KiB JSON body), the dev PKI, then the
// same closed-loop load against dsa-gateway (threads: 1, policy + allow_fields filter + durable
// audit) and against nginx (one worker, mTLS, proxy_pass with keep-alive upstream connections).

// The upstream's answer for GET /asb/v1/cases/…: about 1 KiB, with fields the agreement's
// allow_fields removes (so the gateway's filter really rewrites the body).
const char* compare_body =
    R"json({"case_id":"ASB-2026-000123","status":"open","opened_on":"2026-09-14","category")json"
    R"json(:"noise","ward":"Kingsbury Central","risk_level":"medium","lead_officer_team":"C)json"
    R"json(ommunity Safety North","subjects":[{"subject_id":"S-0001","name":"Alex Example",)json"
    R"json("role":"alleged perpetrator","age_band":"25-34","date_of_birth":"1994-03-02","ad)json"
    R"json(dress":"12 Sample Street, Kingsbury"},{"subject_id":"S-0002","name":"Sam Example)json"
    R"json(","role":"complainant","age_band":"35-44","date_of_birth":"1986-11-20","address")json"
    R"json(:"14 Sample Street, Kingsbury"}],"actions":[{"date":"2026-09-15","type":"warning)json"
    R"json( letter","by":"Community Safety North"},{"date":"2026-10-02","type":"mediation o)json"
    R"json(ffered","by":"Community Safety North"},{"date":"2026-10-20","type":"acceptable b)json"
    R"json(ehaviour contract","by":"Police SNT 4"}],"warnings":["dog on premises"],"restric)json"
    R"json(ted":false,"internal_notes":"Neighbour dispute escalated after the September inc)json"
    R"json(ident; housing officer to review tenancy conditions. Not for disclosure outside )json"
    R"json(the council.","housing_ref":"HSG-44-1203","officer_email":"case.officer@kingsbur)json"
    R"json(y.gov.uk.example"})json";

// A minimal HTTP/1.1 server on 127.0.0.1:0 for GET requests without bodies (which is all the
// benchmark sends): every complete request head gets the fixed response; keep-alive, pipelining.
class fast_upstream {
 public:
  fast_upstream() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    const std::string body = compare_body;
    ok_ = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
    not_found_ = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    net::co_spawn(ioc_, accept_loop(), [](std::exception_ptr) {});
    thread_ = std::thread([this] {
      tid_.store(static_cast<pid_t>(gettid()));
      ioc_.run();
    });
  }
  ~fast_upstream() {
    net::post(ioc_, [this] { ioc_.stop(); });
    thread_.join();
  }
  fast_upstream(const fast_upstream&) = delete;
  fast_upstream& operator=(const fast_upstream&) = delete;

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::size_t body_size() const { return std::strlen(compare_body); }
  pid_t tid() const { return tid_.load(); }

 private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) {
        co_return;
      }
      socket.set_option(tcp::no_delay(true));
      net::co_spawn(ioc_, serve(std::move(socket)), [](std::exception_ptr) {});
    }
  }
  net::awaitable<void> serve(tcp::socket socket) {
    std::string in, out;
    std::array<char, 16384> buf;
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(net::buffer(buf), use_tuple);
      if (ec) {
        co_return;
      }
      in.append(buf.data(), n);
      std::size_t pos = 0;
      for (;;) {
        auto end = in.find("\r\n\r\n", pos);
        if (end == std::string::npos) {
          break;
        }
        out += in.compare(pos, 18, "GET /asb/v1/cases/") == 0 ? ok_ : not_found_;
        pos = end + 4;
      }
      in.erase(0, pos);
      if (!out.empty()) {
        auto [wec, wn] = co_await net::async_write(socket, net::buffer(out), use_tuple);
        if (wec) {
          co_return;
        }
        out.clear();
      }
    }
  }

  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  std::string ok_, not_found_;
  std::thread thread_;
  std::atomic<pid_t> tid_{0};
};

// CPU time of every thread of a process, by thread id, with the thread's name.
struct thread_cpu {
  std::string name;
  std::int64_t us = 0;
};
std::map<pid_t, thread_cpu> threads_cpu(pid_t pid) {
  std::map<pid_t, thread_cpu> out;
  std::error_code ec;
  for (const auto& d :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = static_cast<pid_t>(std::atoi(d.path().filename().c_str()));
    std::ifstream in(d.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) {
      continue;
    }
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    std::int64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) {
        utime = std::stoll(field);
      } else if (i == 15) {
        stime = std::stoll(field);
      }
    }
    out[tid] = {stat.substr(open + 1, close - open - 1),
                (utime + stime) * 1000000 / sysconf(_SC_CLK_TCK)};
  }
  return out;
}

// The children of a process (nginx's workers), from /proc/PID/task/PID/children.
std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t c = 0;
  while (in >> c) {
    out.push_back(c);
  }
  return out;
}

bool wait_for_port(unsigned short port, std::chrono::milliseconds limit) {
  const auto deadline = clock_type::now() + limit;
  while (clock_type::now() < deadline) {
    net::io_context ioc;
    tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (!ec) {
      return true;
    }
    usleep(20000);
  }
  return false;
}

unsigned short free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// GET http://HOST:PORT/metrics on the gateway's admin listener (plain HTTP, one request).
std::string fetch_metrics(const std::string& authority) {
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    return {};
  }
  net::io_context ioc;
  tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address(authority.substr(0, colon), ec),
                          static_cast<unsigned short>(std::stoi(authority.substr(colon + 1)))),
            ec);
  if (ec) {
    return {};
  }
  const std::string req =
      "GET /metrics HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n";
  net::write(s, net::buffer(req), ec);
  std::string out;
  std::array<char, 8192> buf;
  for (;;) {
    const std::size_t n = s.read_some(net::buffer(buf), ec);
    out.append(buf.data(), n);
    if (ec) {
      break;
    }
  }
  return out;
}

// The value of an unlabelled Prometheus sample `name` in `text`, or -1.
double metric_value(const std::string& text, const std::string& name) {
  const std::size_t pos = text.find("\n" + name + " ");
  return pos == std::string::npos ? -1 : std::atof(text.c_str() + pos + name.size() + 2);
}

std::string find_nginx(const std::string& given) {
  if (!given.empty()) {
    return given;
  }
  for (const char* p : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx",
                        "/usr/bin/nginx"}) {
    if (::access(p, X_OK) == 0) {
      return p;
    }
  }
  return {};
}

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
  namespace fs = std::filesystem;
  const fs::path src = fs::absolute(o.source_dir);
  if (!fs::exists(src / "certs/make-dev-pki.sh")) {
    std::fprintf(stderr,
                 "dsa-bench http --compare-nginx: run from the repository root or pass "
                 "--source\n");
    return 2;
  }
  scratch_dir scratch("dsa-bench-compare-", o.keep_dir);
  const fs::path& dir = scratch.path;
  fs::create_directories(dir / "nginx");
  const std::string gateway_bin = gateway_binary(o);
  if (!make_dev_pki(src, dir, "--compare-nginx")) {
    return 2;
  }
  const std::string pki = (dir / "pki").string();
  std::ofstream(dir / "agreements/bench-asb.yaml") << self_agreement;

  fast_upstream upstream;
  const std::string up_port = std::to_string(upstream.port());
  const std::string path = "/asb/v1/cases/ASB-2026-000123";
  o.cert = pki + "/northshire-police.pem";
  o.key = pki + "/northshire-police.key";
  o.ca = pki + "/ca.pem";
  o.headers.insert(o.headers.begin(),
                   {"DSA-Purpose: asb-case-management", "DSA-Case-Ref: ASB-2026-000123",
                    "Accept: application/json"});
  std::printf(
      "dsa-bench http --compare-nginx: upstream 127.0.0.1:%s (in-process, %zu-byte JSON), "
      "%d connections, %d client thread(s), %.1f s each\n",
      up_port.c_str(), upstream.body_size(), o.connections, std::max(1, o.threads), o.duration_s);

  std::vector<side_result> sides;
  auto measure = [&](const std::string& name, pid_t pid, bool with_children,
                     const std::string& authority) -> bool {
    http_options run = o;
    run.url = "https://" + authority + path;
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

  {
    std::ofstream(dir / "gateway.yaml")
        << "listen: 127.0.0.1:0\nthreads: 1\ntls:\n  certificate: " << pki
        << "/gateway.pem\n  private_key: " << pki << "/gateway.key\n  trust_anchors:\n"
        << "    - {name: partner-ca, ca_file: " << pki << "/ca.pem, crl_file: " << pki
        << "/crl.pem}\nagreements_dir: " << (dir / "agreements").string()
        << "\nupstreams:\n  council-asb: {url: \"http://127.0.0.1:" << up_port
        << "\"}\naudit: {path: " << (dir / "audit.db").string()
        << ", signing_key: " << (dir / "audit-key.pem").string() << "}\n";
    child gw({gateway_bin, "--config", (dir / "gateway.yaml").string()}, dir / "gateway.log");
    const std::string gw_line = gw.first_line();
    const auto https = gw_line.find("https=");
    if (https == std::string::npos) {
      std::fprintf(stderr,
                   "dsa-bench http --compare-nginx: the gateway did not start (%s); see "
                   "its log:\n",
                   gateway_bin.c_str());
      std::ifstream log(dir / "gateway.log");
      std::fprintf(
          stderr, "%s",
          std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>())
              .c_str());
      return 2;
    }
    const std::string authority = gw_line.substr(https + 6, gw_line.find(' ', https) - https - 6);
    const auto admin_at = gw_line.find("admin=");
    const std::string admin =
        admin_at == std::string::npos ? std::string() : gw_line.substr(admin_at + 6);
    const std::string m0 = fetch_metrics(admin);
    if (!measure("dsa-gateway (threads: 1, policy + allow_fields filter + durable audit)", gw.pid(),
                 false, authority)) {
      return 2;
    }
    sides.back().name = "gateway";
    const std::string m1 = fetch_metrics(admin);
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
  }

  const std::string nginx = find_nginx(o.nginx_binary);
  if (nginx.empty()) {
    std::printf(
        "\n--- nginx: not installed (apt-get install nginx-light); the nginx side was "
        "skipped\n");
  } else {
    const unsigned short port = free_port();
    const std::string nd = (dir / "nginx").string();
    std::ofstream(dir / "nginx/nginx.conf")
        << "worker_processes 1;\ndaemon off;\nmaster_process on;\npid " << nd
        << "/nginx.pid;\nerror_log " << nd << "/error.log warn;\n"
        << "events { worker_connections 4096; }\n"
        << "http {\n  access_log off;\n"
        << "  client_body_temp_path " << nd << "/client_body;\n  proxy_temp_path " << nd
        << "/proxy;\n  fastcgi_temp_path " << nd << "/fastcgi;\n  uwsgi_temp_path " << nd
        << "/uwsgi;\n  scgi_temp_path " << nd << "/scgi;\n"
        << "  upstream bench { server 127.0.0.1:" << up_port << "; keepalive 64; }\n"
        << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n"
        << "    ssl_certificate " << pki << "/gateway.pem;\n    ssl_certificate_key " << pki
        << "/gateway.key;\n    ssl_client_certificate " << pki << "/ca.pem;\n    ssl_crl " << pki
        << "/crl.pem;\n    ssl_verify_client on;\n    ssl_session_tickets off;\n"
        << "    keepalive_requests 1000000;\n"
        << "    location / {\n      proxy_pass http://bench;\n      proxy_http_version 1.1;\n"
        << "      proxy_set_header Connection \"\";\n    }\n  }\n}\n";
    child ng({nginx, "-p", nd, "-c", nd + "/nginx.conf", "-e", nd + "/error.log"},
             dir / "nginx/stderr.log");
    if (!wait_for_port(port, std::chrono::seconds(5))) {
      std::fprintf(stderr, "dsa-bench http --compare-nginx: nginx did not start; see %s\n",
                   (dir / "nginx/error.log").c_str());
    } else if (!measure("nginx (worker_processes 1, mTLS, proxy_pass with keepalive)", ng.pid(),
                        true, "127.0.0.1:" + std::to_string(port))) {
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
  if (o.keep_dir) {
    std::printf("  kept %s\n", dir.c_str());
  }
  return 0;
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
  sub->add_flag("--keep", opts->keep_dir,
                "--compare-nginx: keep the temporary directory (configs, logs, audit store)");
  sub->add_option("--source", opts->source_dir, "--self: the repository root (default .)");
  sub->add_option("--gateway", opts->gateway_binary,
                  "--self: the dsa-gateway binary (default: next to dsa-bench in the build tree)");
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
      status = run_self(*opts);
      return;
    }
    if (opts->compare_nginx) {
      // Every response waits for a group commit (an fsync, 1–3 ms here), so a closed loop needs
      // enough connections in flight to keep both sides busy; 16 would measure the disk.
      if (sub->count("--connections") == 0) {
        opts->connections = 128;
      }
      status = run_compare(*opts);
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
