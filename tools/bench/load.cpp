// `dsa-bench http`'s load generator (load.hpp): one coroutine per keep-alive mTLS connection,
// the connections spread over --threads io_contexts, results kept per thread and merged at the end.
#include "tools/bench/load.hpp"

#include <poll.h>

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
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/hex.hpp"

namespace dsa::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

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

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// A connected, handshaken stream, or the error in words.
net::awaitable<std::string> connect_tls(tls_stream& stream, const target& t) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, eps] = co_await resolver.async_resolve(t.host, t.port, use_tuple);
  if (rec) {
    co_return "resolve: " + rec.message();
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(eps, use_tuple);
  if (cec) {
    co_return "connect: " + cec.message();
  }
  beast::get_lowest_layer(stream).socket().set_option(tcp::no_delay(true));
  SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str());
  auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::client, use_tuple);
  if (hec) {
    co_return "handshake: " + hec.message();
  }
  co_return std::string();
}

net::awaitable<void> run_connection(net::ssl::context& ctx, const target& t,
                                    const std::string& request, shared_schedule& sched,
                                    results& out) {
  auto ex = co_await net::this_coro::executor;
  tls_stream stream(ex, ctx);
  const std::string problem = co_await connect_tls(stream, t);
  if (!problem.empty()) {
    ++out.errors[problem];
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

// The client context of every mode: verify the server against o.ca, present o.cert/o.key.
// Returns the error text, "" when loaded.
std::string load_client_tls(net::ssl::context& ctx, const load_options& o) {
  boost::system::error_code ec;
  ctx.set_verify_mode(net::ssl::verify_peer);
  ctx.load_verify_file(o.ca, ec);
  if (!ec) {
    ctx.use_certificate_chain_file(o.cert, ec);
  }
  if (!ec) {
    ctx.use_private_key_file(o.key, net::ssl::context::pem, ec);
  }
  return ec ? ec.message() : std::string();
}

std::string request_text(const load_options& o, const target& t) {
  std::string request = o.method + " " + t.path + " HTTP/1.1\r\nHost: " + t.authority + "\r\n";
  for (const auto& h : o.headers) {
    request += h + "\r\n";
  }
  request += "User-Agent: dsa-bench\r\n\r\n";
  return request;
}

net::awaitable<void> run_download_connection(net::ssl::context& ctx, const target& t,
                                             const std::string& request, int count,
                                             download_report& out) {
  auto ex = co_await net::this_coro::executor;
  auto stream = std::make_unique<tls_stream>(ex, ctx);
  std::string problem = co_await connect_tls(*stream, t);
  if (!problem.empty()) {
    out.error = problem;
    co_return;
  }
  const std::string version = SSL_get_version(stream->native_handle());
  const std::string cipher = SSL_get_cipher_name(stream->native_handle());
  out.tls = version + " " + cipher;
  // Beast reads max(512, spare capacity) bytes at a time (beast::read_size), and a flat_buffer
  // that holds only the head has almost none, so without room reserved the body would come 512
  // bytes per read and the client, not the server, would set the pace.
  beast::flat_buffer buffer;
  buffer.reserve(1 << 16);
  std::vector<char> piece(1 << 20);
  for (int i = 0; i < count; ++i) {
    download d;
    const clock_type::time_point start = clock_type::now();
    beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(30));
    auto [wec, wn] = co_await net::async_write(*stream, net::buffer(request), use_tuple);
    if (wec) {
      d.error = "write: " + wec.message();
      out.downloads.push_back(std::move(d));
      co_return;
    }
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(*stream, buffer, parser, use_tuple);
    if (hec) {
      d.error = "read: " + hec.message();
      out.downloads.push_back(std::move(d));
      co_return;
    }
    d.status = static_cast<int>(parser.get().result_int());
    common::sha256_stream digest;
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(30));
      auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, use_tuple);
      const std::size_t got = piece.size() - parser.get().body().size;
      digest.update(std::string_view(piece.data(), got));
      d.bytes += got;
      if (rec && rec != http::error::need_buffer) {
        d.error = "read after " + std::to_string(d.bytes) + " body bytes: " + rec.message();
        break;
      }
    }
    d.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    d.sha256 = digest.hex();
    const bool failed = !d.error.empty();
    const bool keep_alive = !failed && parser.get().keep_alive();
    out.downloads.push_back(std::move(d));
    if (failed) {
      co_return;
    }
    if (!keep_alive && i + 1 < count) {
      ++out.reconnects;
      buffer.clear();
      buffer.reserve(1 << 16);
      stream = std::make_unique<tls_stream>(ex, ctx);
      problem = co_await connect_tls(*stream, t);
      if (!problem.empty()) {
        out.error = "reconnect: " + problem;
        co_return;
      }
    }
  }
  beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(2));
  co_await stream->async_shutdown(use_tuple);
}

}  // namespace

download_report run_downloads(const load_options& o, int count) {
  download_report out;
  target t;
  if (!parse_url(o.url, t)) {
    out.error = "the URL must be https://HOST[:PORT]/PATH";
    return out;
  }
  net::ssl::context ctx(net::ssl::context::tls_client);
  if (std::string problem = load_client_tls(ctx, o); !problem.empty()) {
    out.error = "certificates: " + problem;
    return out;
  }
  const std::string request = request_text(o, t);
  net::io_context ioc(1);
  net::co_spawn(ioc, run_download_connection(ctx, t, request, count, out),
                [&out](std::exception_ptr e) {
                  if (e && out.error.empty()) {
                    try {
                      std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                      out.error = x.what();
                    }
                  }
                });
  ioc.run();
  return out;
}

// ---------------------------------------------------------------------------------------------
// idle_connections (`dsa-bench memory`)

struct idle_connections::impl {
  net::io_context ioc{1};
  net::ssl::context ctx{net::ssl::context::tls_client};
  target t;
  std::string request;
  int count = 0, next = 0, requests = 1;
  std::vector<std::unique_ptr<tls_stream>> open;  // used, answered, kept open
  std::set<tls_stream*> opening;                  // being opened or used now
  bool abandoned = false;                         // the opening ran out of time
  report rep;

  // One of `parallel` openers: takes the next connection to open until none is left.
  net::awaitable<void> open_some() {
    while (next < count && !abandoned) {
      ++next;
      auto stream = std::make_unique<tls_stream>(ioc, ctx);
      opening.insert(stream.get());
      const bool kept = co_await open_one(*stream);
      opening.erase(stream.get());
      if (kept) {
        beast::get_lowest_layer(*stream).expires_never();
        open.push_back(std::move(stream));
      }
    }
  }

  // Connects, handshakes and sends the requests one after the other; true when every answer
  // came and the connection is still open with nothing more to read.
  net::awaitable<bool> open_one(tls_stream& stream) {
    const std::string problem = co_await connect_tls(stream, t);
    if (!problem.empty()) {
      ++rep.errors[problem];
      co_return false;
    }
    ++rep.connected;
    if (rep.tls.empty()) {
      rep.tls = std::string(SSL_get_version(stream.native_handle())) + " " +
                SSL_get_cipher_name(stream.native_handle());
    }
    beast::flat_buffer buffer;
    for (int k = 0; k < requests; ++k) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
      auto [wec, wn] = co_await net::async_write(stream, net::buffer(request), use_tuple);
      if (wec) {
        ++rep.errors["write: " + wec.message()];
        co_return false;
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (rec) {
        ++rep.errors["read: " + rec.message()];
        co_return false;
      }
      ++rep.statuses[static_cast<int>(parser.get().result_int())];
      if (!parser.get().keep_alive()) {
        ++rep.errors["the server closed the connection after its answer"];
        co_return false;
      }
      if (buffer.size() > 0) {
        ++rep.errors["bytes after the answer"];
        co_return false;
      }
    }
    co_return true;
  }

  net::awaitable<void> close_one(tls_stream& stream) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(use_tuple);
    beast::error_code ec;
    beast::get_lowest_layer(stream).socket().close(ec);
  }
};

idle_connections::idle_connections(const load_options& o, int count, int parallel, int requests)
    : impl_(std::make_unique<impl>()) {
  impl& im = *impl_;
  if (!parse_url(o.url, im.t)) {
    ++im.rep.errors["the URL must be https://HOST[:PORT]/PATH"];
    return;
  }
  if (std::string problem = load_client_tls(im.ctx, o); !problem.empty()) {
    ++im.rep.errors["certificates: " + problem];
    return;
  }
  im.request = request_text(o, im.t);
  im.count = count;
  im.requests = std::max(1, requests);
  im.open.reserve(static_cast<std::size_t>(std::max(0, count)));
  const clock_type::time_point start = clock_type::now();
  for (int i = 0; i < std::max(1, parallel); ++i) {
    net::co_spawn(im.ioc, im.open_some(), [&im](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          ++im.rep.errors[x.what()];
        }
      }
    });
  }
  // The opening is bounded (`dsa-bench memory` must end well within a minute): 20 s, and 0.2 ms
  // more per request asked for. Then no more connections are started, and those still being
  // opened are closed (their operations end as errors, counted under their own text too).
  const auto bound = std::chrono::milliseconds(20000 + static_cast<std::int64_t>(count) *
                                                           std::max(1, requests) / 5);
  im.ioc.run_for(bound);
  if (!im.ioc.stopped()) {
    im.abandoned = true;
    im.rep.errors["still opening after " + std::to_string(bound.count() / 1000) + " s"] +=
        static_cast<int>(im.opening.size());
    for (tls_stream* s : im.opening) {
      beast::get_lowest_layer(*s).close();
    }
    im.ioc.run_for(std::chrono::seconds(5));
  }
  im.rep.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
}

idle_connections::~idle_connections() = default;

const idle_connections::report& idle_connections::opened() const { return impl_->rep; }

int idle_connections::still_open() const {
  std::vector<pollfd> fds;
  fds.reserve(impl_->open.size());
  for (const auto& s : impl_->open) {
    if (SSL_pending(s->native_handle()) > 0) {
      continue;  // a record from the server waits unread: not idle
    }
    fds.push_back({beast::get_lowest_layer(*s).socket().native_handle(), POLLIN | POLLRDHUP, 0});
  }
  if (fds.empty() || ::poll(fds.data(), fds.size(), 0) < 0) {
    return 0;
  }
  return static_cast<int>(
      std::count_if(fds.begin(), fds.end(), [](const pollfd& p) { return p.revents == 0; }));
}

void idle_connections::close_all() {
  impl& im = *impl_;
  im.ioc.restart();
  for (auto& s : im.open) {
    net::co_spawn(im.ioc, im.close_one(*s), [](std::exception_ptr) {});
  }
  im.ioc.run_for(std::chrono::seconds(5));  // each close is bounded at 2 s; this is a backstop
  im.open.clear();
}

int run_http(const load_options& o, http_summary* summary) {
  target t;
  if (!parse_url(o.url, t)) {
    std::fprintf(stderr, "dsa-bench http: --url must be https://HOST[:PORT]/PATH\n");
    return 2;
  }
  net::ssl::context ctx(net::ssl::context::tls_client);
  if (const std::string problem = load_client_tls(ctx, o); !problem.empty()) {
    std::fprintf(stderr, "dsa-bench http: certificates: %s\n", problem.c_str());
    return 2;
  }
  const std::string request = request_text(o, t);

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

}  // namespace dsa::bench
