// The admin listener (plain HTTP, loopback by default): /healthz, /readyz, /agreements and
// /metrics, and POST /admin/reviews, which records the review of an emergency disclosure
// (docs/gateway.md, "Admin listener"). One request per connection. Reviews go through here so
// that the audit store keeps its single writer, this process, and stays append-only.

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

#include "gateway/emergency.hpp"

namespace dsa::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// A review request's body is a small JSON object; the note is at most 4000 bytes.
constexpr std::uint64_t review_body_limit = 16 * 1024;

// Sets a JSON body with status `st`.
void json_reply(http::response<http::string_body>& res, http::status st, json::object body) {
  res.result(st);
  res.set(http::field::content_type, "application/json");
  res.body() = json::serialize(body) + "\n";
}

void json_error(http::response<http::string_body>& res, http::status st, std::string error) {
  json_reply(res, st, json::object{{"error", std::move(error)}});
}

// POST /admin/reviews: checks the request and its target, commits a `review` entry and answers
// 201 with the review's seq; 400 for a malformed request, 404 for a seq the store does not hold,
// 409 for a target that is not an emergency disclosure, 503 when the entry cannot be committed.
net::awaitable<void> record_review(server::impl& g, std::string_view body,
                                   http::response<http::string_body>& res) {
  result<review_request> parsed = parse_review_request(body);
  if (!parsed) {
    json_error(res, http::status::bad_request, parsed.error());
    co_return;
  }
  const review_request& req = parsed.value();
  std::optional<emergency_disclosure> target;
  if (req.request_id) {
    target = g.emergencies.find(*req.request_id);
    if (!target) {
      json_error(res, http::status::conflict,
                 "no emergency disclosure has request id " + *req.request_id +
                     ": only a request allowed under a permission's emergency terms can be "
                     "reviewed");
      co_return;
    }
  } else {
    // Read from the store (by primary key, checked against its leaf hash); any entry of the
    // request names it: a streamed disclosure's end entry, or its started entry.
    result<std::optional<audit::entry>> read = g.store->entry_at(*req.seq);
    if (!read) {
      json_error(res, http::status::service_unavailable, read.error());
      co_return;
    }
    if (!read.value()) {
      json_error(res, http::status::not_found,
                 "the audit store holds no entry with seq " + std::to_string(*req.seq) +
                     " (it has " + std::to_string(g.store->size()) + ")");
      co_return;
    }
    const audit::entry& e = *read.value();
    if (!e.request_id.empty()) {
      target = g.emergencies.find(e.request_id);
    }
    if (!target) {
      std::string what = std::string(audit::kind_text(e)) + " entry";
      if (e.decision != audit::entry_decision::none) {
        what += " with decision " + std::string(audit::decision_text(e));
      }
      json_error(res, http::status::conflict,
                 "entry " + std::to_string(*req.seq) + " is a " + what +
                     ", not an emergency disclosure (an allowed request with an incident_ref)");
      co_return;
    }
  }
  audit::entry review = review_entry(req, *target, common::now_us());
  const audit::commit_result cr =
      co_await async_commit(*g.store, std::move(review), net::use_awaitable);
  if (!cr.ok) {
    log_event("error", "audit_commit_failed",
              {{"request_id", target->request_id}, {"error", cr.error}});
    json_error(res, http::status::service_unavailable,
               "the audit store cannot record the review: " + cr.error);
    co_return;
  }
  g.emergencies.reviewed(target->request_id);
  g.stats.count_emergency_review(req.outcome);
  const std::uint64_t reviews = target->reviews + 1;
  log_event("info", "emergency_reviewed",
            {{"request_id", target->request_id},
             {"disclosure_seq", target->seq},
             {"review_seq", cr.seq},
             {"outcome", req.outcome},
             {"reviews", reviews}});
  json_reply(res, http::status::created,
             json::object{{"seq", cr.seq},
                          {"request_id", target->request_id},
                          {"disclosure_seq", target->seq},
                          {"outcome", req.outcome},
                          {"reviews", reviews}});
}

net::awaitable<void> admin_session(server::impl& g, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  http::request_parser<http::string_body> parser;
  parser.header_limit(8192);
  parser.body_limit(review_body_limit);
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
  if (target == "/admin/reviews") {
    if (req.method() != http::verb::post) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "POST");
      res.body() = "POST only\n";
    } else {
      const std::string body = req.body();
      co_await record_review(g, body, res);
    }
  } else if (req.method() != http::verb::get) {
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
    extra += render_emergency_gauges(g.emergencies, common::now_us());
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
