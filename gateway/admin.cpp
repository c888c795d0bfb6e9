// The admin listener (plain HTTP, loopback by default): /healthz, /readyz, /agreements and
// /metrics (docs/gateway.md, "Admin listener"). One request per connection, GET only.

#include "gateway/admin.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

namespace dsa::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

net::awaitable<void> admin_session(server::impl& g, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(8192);
  parser.body_limit(0);
  stream.expires_after(std::chrono::seconds(10));
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (ec) {
    co_return;
  }
  const auto& req = parser.get();
  http::response<http::string_body> res;
  res.version(11);
  res.keep_alive(false);
  res.set(http::field::cache_control, "no-store");
  const std::string_view target(req.target().data(), req.target().size());
  res.result(http::status::ok);
  if (req.method() != http::verb::get) {
    res.result(http::status::method_not_allowed);
    res.body() = "GET only\n";
  } else if (target == "/healthz") {
    res.set(http::field::content_type, "text/plain");
    res.body() = "ok\n";
  } else if (target == "/readyz") {
    json::array why;
    if (const auto eng = g.engine.load(); !eng) {
      why.push_back("agreements not loaded");
    } else {
      // Loaded but serving nothing (no agreement, or no endpoint on this config's upstreams):
      // every request would be refused no_agreement, so not ready (docs/operations.md §7).
      for (auto& problem :
           serving_problems(summarize_serving(eng->agreements(), served_upstreams(*g.current())))) {
        why.push_back(json::string(std::move(problem)));
      }
    }
    if (!g.store->writable()) {
      why.push_back("audit store not writable");
    }
    // The certificate of the context new connections get: refreshed by every reload.
    const std::int64_t not_after = g.deadlines.load()->server_not_after;
    if (not_after != 0 && not_after <= common::now_us() / 1000000) {
      why.push_back("gateway certificate expired");
    }
    // A CRL past its nextUpdate refuses every client of its anchor (crl_unavailable).
    for (const auto& crl : g.deadlines.load()->crls) {
      if (crl.at_unix != 0 && crl.at_unix <= common::now_us() / 1000000) {
        why.push_back(json::string("CRL of trust anchor " + crl.label +
                                   " is past its nextUpdate (its clients are refused)"));
      }
    }
    if (g.draining.load()) {
      why.push_back("shutting down");
    }
    res.set(http::field::content_type, "application/json");
    res.result(why.empty() ? http::status::ok : http::status::service_unavailable);
    res.body() = json::serialize(json::object{{"ready", why.empty()}, {"reasons", why}}) + "\n";
  } else if (target == "/agreements") {
    json::array list;
    auto eng = g.engine.load();
    for (const auto& a : eng->agreements().agreements) {
      list.push_back(json::object{{"id", a->id},
                                  {"version", a->version},
                                  {"status", policy::to_string(a->status)},
                                  {"sha256", a->sha256},
                                  {"file", a->file}});
    }
    res.set(http::field::content_type, "application/json");
    res.body() = json::serialize(json::object{{"agreements", list}}) + "\n";
  } else if (target == "/metrics") {
    const auto eng = g.engine.load();
    std::string extra =
        render_audit_metrics(g.store->stats(), g.store->writable(), g.store->size());
    extra += render_agreement_metrics(eng->agreements().agreements.size());
    extra += render_process_metrics();
    render_expiry_gauges(extra, eng->agreements(), *g.deadlines.load(), common::now_us() / 1000000);
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = g.stats.render(extra);
  } else {
    res.result(http::status::not_found);
    res.body() = "not found\n";
  }
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(10));
  co_await http::async_write(stream, res, use_tuple);
  error_code sec;
  stream.socket().shutdown(tcp::socket::shutdown_send, sec);
}

}  // namespace

net::awaitable<void> admin_loop(server::impl& g) {
  for (;;) {
    auto [ec, socket] = co_await g.admin->async_accept(use_tuple);
    if (ec == net::error::operation_aborted || !g.admin->is_open()) {
      co_return;
    }
    if (ec) {
      net::steady_timer t(g.admin->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    net::co_spawn(g.admin->get_executor(), admin_session(g, std::move(socket)), &log_exception);
  }
}

}  // namespace dsa::gateway
