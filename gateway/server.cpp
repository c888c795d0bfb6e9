// The gateway's I/O: acceptor, client sessions, admin listener, signals. One io_context per I/O
// thread (`threads`), each with its own upstream pools, so a session and the upstream
// connections it uses always run on one thread and need neither strands nor locks. Shared state
// (agreements, volume counter, audit store, metrics) is thread-safe by construction.
//
// A session reads top to bottom: handshake → read → decide → forward → filter → audit →
// respond. Every stream operation runs under a tcp_stream deadline; network errors come back as
// values (as_tuple); nothing throws out of a session.

#include "server.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <cstdio>
#include <future>
#include <iostream>
#include <list>
#include <thread>

#include "audit/store.hpp"
#include "expiry.hpp"
#include "http_message.hpp"
#include "metrics.hpp"
#include "policy/canonical_path.hpp"
#include "policy/engine.hpp"
#include "policy/loader.hpp"
#include "policy/response_filter.hpp"
#include "tls.hpp"
#include "upstream.hpp"

namespace dsa::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using boost::system::error_code;
using policy::reason;

namespace {

// The upstream names this gateway's config serves: only their endpoints are decided here.
std::set<std::string> served_upstreams(const config& cfg) {
  std::set<std::string> names;
  for (const auto& [name, upstream] : cfg.upstreams) {
    names.insert(name);
  }
  return names;
}


constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t micros_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

// 128 bits from OpenSSL's CSPRNG, drawn 4 KiB at a time per thread: one RAND_bytes call per
// 256 requests instead of one per request (each call takes the DRBG lock and, for fork
// detection, a getpid() system call). The ids stay unpredictable: every byte still comes from
// RAND_bytes, and each is used once.
std::string random_request_id() {
  constexpr std::size_t pool_size = 4096;
  thread_local unsigned char pool[pool_size];
  thread_local std::size_t used = pool_size;
  unsigned char bytes[16];
  bool ok = true;
  if (used == pool_size) {
    ok = RAND_bytes(pool, static_cast<int>(pool_size)) == 1;
    used = ok ? 0 : pool_size;
  }
  if (ok) {
    std::memcpy(bytes, pool + used, sizeof bytes);
    OPENSSL_cleanse(pool + used, sizeof bytes);
    used += sizeof bytes;
  }
  if (!ok) {
    // The CSPRNG failing is not a reason to refuse service; ids only need to be unique.
    static std::atomic<std::uint64_t> fallback{0};
    const std::uint64_t a = static_cast<std::uint64_t>(now_us());
    const std::uint64_t b = fallback.fetch_add(1);
    std::memcpy(bytes, &a, 8);
    std::memcpy(bytes + 8, &b, 8);
  }
  return to_hex(bytes, sizeof bytes);
}

// Awaits the durable commit of `e` without blocking the I/O thread: the store's writer thread
// calls back, and the callback posts the completion to the awaiting coroutine's executor.
template <class Token>
auto async_commit(audit::store& store, audit::entry e, Token&& token) {
  return net::async_initiate<Token, void(audit::commit_result)>(
      [&store](auto handler, audit::entry entry) {
        auto ex = net::get_associated_executor(handler);
        // commit_callback is a std::function (copyable); the coroutine's handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        store.append(std::move(entry), [shared, ex](const audit::commit_result& r) {
          net::post(ex, [shared, r]() mutable { (*shared)(r); });
        });
      },
      token, std::move(e));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shared state

class session;

// Member order matters at destruction: a drain that timed out leaves session coroutines
// suspended, and destroying `ioc` destroys them; their destructors unregister from `sessions`,
// so the list must outlive the context. The pools' idle sockets must go before the context.
struct worker {
  std::list<session*> sessions;  // touched only on this worker's thread
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::map<std::string, std::unique_ptr<upstream_pool>> pools;
  std::thread thread;
};

struct server::impl {
  config cfg;
  std::atomic<std::shared_ptr<const policy::engine>> engine;
  policy::memory_volume_counter counter;
  std::unique_ptr<audit::store> store;
  metrics stats;
  // Swapped whole on SIGHUP (new CRLs); a session keeps the context it started with.
  std::atomic<std::shared_ptr<net::ssl::context>> server_tls;
  std::map<std::string, std::shared_ptr<net::ssl::context>> upstream_tls;
  std::vector<std::unique_ptr<worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<tcp::acceptor> admin;
  std::atomic<bool> draining{false};
  // Deadlines of the TLS files in use: replaced when a reload builds a new server context (the
  // upstream client certificates are read at start only, as their contexts are).
  std::atomic<std::shared_ptr<const tls_deadlines>> deadlines;
  std::vector<tls_deadline> upstream_deadlines;
  // The daily expiry check; declared after `workers` so it is destroyed before its io_context.
  std::unique_ptr<net::steady_timer> expiry_timer;
  std::size_t next_worker = 0;

  ~impl() {
    if (store) {
      store->close();  // before the io_contexts its callbacks post to are destroyed
    }
  }

  void audit_lifecycle(audit::entry e) {
    // Lifecycle entries are written at start-up and shutdown, outside any session: wait here.
    std::promise<audit::commit_result> p;
    auto f = p.get_future();
    auto shared = std::make_shared<std::promise<audit::commit_result>>(std::move(p));
    store->append(std::move(e), [shared](const audit::commit_result& r) { shared->set_value(r); });
    const auto r = f.get();
    if (!r.ok) {
      log_event("error", "audit_lifecycle_failed", {{"error", r.error}});
    }
  }

  audit::entry agreements_entry(std::string kind, const policy::agreement_set* set,
                                const std::vector<policy::diagnostic>& diags) {
    audit::entry e;
    e.time_us = now_us();
    e.kind = std::move(kind);
    json::array files;
    if (set != nullptr) {
      for (const auto& a : set->agreements) {
        files.push_back(json::object{
            {"id", a->id}, {"version", a->version}, {"sha256", a->sha256}, {"file", a->file}});
      }
      e.details["files"] = std::move(files);
    }
    json::array errors;
    for (const auto& d : diags) {
      if (d.level == policy::severity::error) {
        errors.push_back(json::string(d.format()));
      }
    }
    if (!errors.empty()) {
      e.details["errors"] = std::move(errors);
    }
    return e;
  }

  policy::load_result load() const {
    policy::load_options opts;
    std::set<std::string> anchors;
    for (const auto& ta : cfg.tls.trust_anchors) {
      anchors.insert(ta.name);
    }
    opts.trust_anchors = std::move(anchors);
    opts.now = policy::time_point(std::chrono::microseconds(now_us()));
    return policy::load_agreements({cfg.agreements_dir}, opts);
  }

  // SIGHUP: agreements and the TLS context (CRLs, CA files) all-or-nothing; a bad set keeps the
  // old one.
  void reload() {
    auto r = load();
    std::string tls_error;
    ssl_ctx_ptr fresh_tls = make_server_context(cfg.tls, tls_error);
    if (!fresh_tls) {
      log_event("error", "tls_reload_failed", {{"error", tls_error}});
      policy::diagnostic d;
      d.file = cfg.file.string();
      d.message = "TLS reload failed: " + tls_error;
      d.code = "tls-reload";
      r.diagnostics.push_back(std::move(d));
    }
    if (!r.ok() || !fresh_tls) {
      for (const auto& d : r.diagnostics) {
        if (d.level == policy::severity::error) {
          log_event("error", "agreement_diagnostic", {{"message", d.format()}});
        }
      }
      log_event("error", "agreements_rejected",
                {{"errors", r.error_count()}, {"kept", "previous set"}});
      audit_lifecycle(agreements_entry("agreements_rejected", nullptr, r.diagnostics));
      return;
    }
    audit_lifecycle(agreements_entry("agreements_loaded", r.set.get(), r.diagnostics));
    engine.store(std::make_shared<const policy::engine>(r.set, served_upstreams(cfg)));
    server_tls.store(std::make_shared<net::ssl::context>(fresh_tls.release()));
    refresh_deadlines();
    log_event("info", "agreements_loaded", {{"agreements", r.set->agreements.size()}});
  }

  // Re-reads the deadlines of the files the current server context was built from.
  void refresh_deadlines() {
    auto d = std::make_shared<tls_deadlines>(read_server_deadlines(cfg.tls));
    d->certificates.insert(d->certificates.end(), upstream_deadlines.begin(),
                           upstream_deadlines.end());
    deadlines.store(std::move(d));
  }

  // Logs an expiry_warning for everything inside the warning window (issue 5 item 5), against
  // the agreement set and TLS files in force now. `when`: start, reload or daily.
  void check_expiry(std::string_view when) {
    auto eng = engine.load();
    auto d = deadlines.load();
    if (!eng || !d) {
      return;
    }
    const std::int64_t now = now_us() / 1000000;
    for (const auto& w : expiry_warnings(eng->agreements(), *d, now, cfg.warnings.expiry_days)) {
      stats.count_expiry_warning(w.what);
      log_event("warn", "expiry_warning",
                {{"check", when},
                 {"subject", w.subject},
                 {"what", w.what},
                 {"at", format_unix(w.at_unix)},
                 {"days_left", w.days_left},
                 {"window_days", cfg.warnings.expiry_days}});
    }
  }

  worker& pick_worker() {
    worker& w = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    return w;
  }
};

// ---------------------------------------------------------------------------------------------
// One client connection

struct request_ctx {
  std::string request_id;
  std::chrono::steady_clock::time_point started;
  std::int64_t time_us = 0;
  request_head head;
  policy::canonical_target target;
  std::string body;
  audit::entry entry;        // filled as the request goes through the stages
  std::string agreement_id;  // metrics label
  // The agreement set current when the request arrived, and the party the connection's
  // certificate maps to under it: every entry, rejected requests included, names the party.
  std::shared_ptr<const policy::engine> engine;
  policy::identity_match who;
};

class session {
 public:
  session(server::impl& g, worker& w, tcp::socket socket)
      : g_(g), w_(w), tls_(g.server_tls.load()), stream_(std::move(socket), *tls_) {
    g_.stats.connection_opened();
    registration_ = w_.sessions.insert(w_.sessions.end(), this);
  }
  ~session() {
    w_.sessions.erase(registration_);
    g_.stats.connection_closed();
  }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Drain: a session waiting for its next request closes now; a busy one finishes its request.
  void stop_if_idle() {
    if (idle_) {
      stream_.next_layer().cancel();
    }
  }

  net::awaitable<void> run() {
    const auto& lim = g_.cfg.limits;
    stream_.next_layer().expires_after(lim.header_read_timeout);
    auto [hec] = co_await stream_.async_handshake(net::ssl::stream_base::server, use_tuple);
    if (hec) {
      int ssl_reason =
          hec.category() == net::error::get_ssl_category() ? ERR_GET_REASON(hec.value()) : 0;
      std::string why = hec == beast::error::timeout
                            ? std::string("timeout")
                            : handshake_failure_reason(stream_.native_handle(), ssl_reason);
      g_.stats.count_handshake_failure(why);
      log_event("info", "tls_handshake_refused", {{"reason", why}, {"error", hec.message()}});
      co_return;
    }
    std::string error;
    if (!extract_identity(stream_.native_handle(), peer_, error)) {
      g_.stats.count_handshake_failure("no_identity");
      log_event("error", "tls_identity_missing", {{"error", error}});
      co_return;
    }
    while (co_await serve_one()) {
    }
    // Lingering close: send close_notify and read what the client still sends (briefly), so
    // the last response is not lost to a TCP reset caused by unread pipelined bytes.
    stream_.next_layer().expires_after(std::chrono::seconds(1));
    co_await stream_.async_shutdown(use_tuple);
    error_code ec;
    stream_.next_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.next_layer().socket().close(ec);
  }

 private:
  enum class head_status { ok, closed, too_large, malformed };

  // Reads raw bytes until the end of the header block (SPEC §5: header bytes limit, header-read
  // timeout; idle timeout before the first byte of a keep-alive request).
  net::awaitable<head_status> read_head(std::size_t& head_len, std::string& error) {
    const auto& lim = g_.cfg.limits;
    bool started = buffer_.size() > 0;
    if (g_.draining.load() && !started) {
      co_return head_status::closed;
    }
    stream_.next_layer().expires_after(started ? lim.header_read_timeout : lim.idle_timeout);
    for (;;) {
      std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      head_scan scan = find_head_end(data);
      if (!scan.error.empty()) {
        error = scan.error;
        co_return head_status::malformed;
      }
      if (scan.end > 0) {
        if (scan.end > lim.max_header_bytes) {
          co_return head_status::too_large;
        }
        head_len = scan.end;
        co_return head_status::ok;
      }
      if (buffer_.size() >= lim.max_header_bytes) {
        co_return head_status::too_large;
      }
      idle_ = !started;
      auto [ec, n] = co_await stream_.async_read_some(
          buffer_.prepare(std::min<std::size_t>(8192, lim.max_header_bytes + 4 - buffer_.size())),
          use_tuple);
      idle_ = false;
      if (ec) {
        co_return head_status::closed;  // timeout, EOF, reset or drain: nothing to answer
      }
      buffer_.commit(n);
      if (!started) {
        started = true;
        stream_.next_layer().expires_after(lim.header_read_timeout);
      }
    }
  }

  // One request; false when the connection must close afterwards.
  net::awaitable<bool> serve_one() {
    const auto& lim = g_.cfg.limits;
    request_ctx r;
    std::size_t head_len = 0;
    std::string error;
    const head_status hs = co_await read_head(head_len, error);
    if (hs == head_status::closed) {
      co_return false;
    }
    begin(r);
    if (hs == head_status::too_large) {
      co_await refuse(r, "reject", reason::headers_too_large,
                      "the request head exceeds " + std::to_string(lim.max_header_bytes) + " bytes",
                      true);
      co_return false;
    }
    std::string_view block(static_cast<const char*>(buffer_.data().data()), head_len);
    head_result parsed = hs == head_status::ok ? parse_request_head(block) : head_result{};
    if (hs == head_status::malformed || !parsed.ok()) {
      co_await refuse(r, "reject", reason::bad_request,
                      hs == head_status::malformed ? error : parsed.error, true);
      co_return false;
    }
    r.head = std::move(parsed.head);
    fill_request_fields(r);

    // A request without a body (Content-Length absent or 0, not chunked: the common GET) is not
    // parsed a second time: parse_request_head has checked its framing, and a Beast parser per
    // request costs a fields container and an allocation per field.
    if (!r.head.has_body()) {
      buffer_.consume(head_len);
    } else if (!co_await read_body(r, block, head_len)) {
      co_return false;
    }
    const bool close = !r.head.keep_alive || g_.draining.load();

    // Canonical target (SPEC §5): what the policy matches is what the upstream receives.
    policy::target_result t = policy::canonicalize_target(r.head.target);
    if (!t.ok()) {
      co_return co_await refuse(r, "reject", reason::bad_request, t.error, close);
    }
    r.target = std::move(t.value);
    r.entry.path = r.target.path;
    r.entry.query = r.target.query;
    for (std::string_view name :
         {"DSA-Purpose", "DSA-Case-Ref", "DSA-Acting-User", "DSA-Agreement"}) {
      int n = 0;
      for (const auto& f : r.head.fields) {
        n += iequals(f.first, name) ? 1 : 0;
      }
      if (n > 1) {
        co_return co_await refuse(r, "reject", reason::bad_request,
                                  "duplicate " + std::string(name) + " header", close);
      }
    }

    // Decide (SPEC §4.1–4.4) with the agreement set current at this request.
    const std::shared_ptr<const policy::engine>& eng = r.engine;
    const auto now = policy::time_point(std::chrono::microseconds(r.time_us));
    policy::request_view view;
    view.method = r.head.method;
    view.path = r.target.path;
    view.query = r.target.query;
    view.purpose = r.head.field("DSA-Purpose");
    view.case_ref = r.head.field("DSA-Case-Ref");
    view.acting_user = r.head.field("DSA-Acting-User");
    view.agreement = r.head.field("DSA-Agreement");
    view.now = now;
    policy::decision d;
    if (r.who.why != reason::allowed) {
      d.why = r.who.why;
      d.detail = r.who.detail;
    } else {
      d = eng->decide_for(r.who.party, view, g_.counter);
    }
    if (d.agreement != nullptr) {
      r.entry.agreement = d.agreement->id;
      r.entry.agreement_version = d.agreement->version;
      r.entry.agreement_sha256 = d.agreement->sha256;
      r.agreement_id = d.agreement->id;
    }
    if (d.permission != nullptr) {
      r.entry.permission = d.permission->id;
    }
    if (d.endpoint != nullptr) {
      r.entry.endpoint = d.endpoint->id;
    }
    if (!d.allowed) {
      co_return co_await refuse(r, "deny", d.why, d.detail, close);
    }

    // Forward (SPEC §4): the canonical request, client DSA-* and hop-by-hop fields removed.
    const policy::endpoint& ep = *d.endpoint;
    const upstream_config& up = g_.cfg.upstreams.at(ep.upstream);
    r.entry.counted = true;
    r.entry.upstream = up.name;
    dsa_headers dsa;
    dsa.requester = r.who.party;
    dsa.agreement = policy::agreement_label(d);
    dsa.permission = d.permission->id;
    dsa.purpose = std::string(view.purpose.value_or(""));
    dsa.case_ref = std::string(view.case_ref.value_or(""));
    dsa.acting_user = std::string(view.acting_user.value_or(""));
    dsa.request_id = r.request_id;
    const std::string out_head =
        serialize_upstream_request(r.head, r.target.target(), up.authority, r.body.size(), dsa);
    const bool safe = r.head.method == "GET" || r.head.method == "HEAD";
    if (!safe) {
      // SPEC §6: for a method that changes state the intent is durable before the upstream sees
      // the request. Not counted: the final entry of this request counts it.
      audit::entry intent = r.entry;
      intent.kind = "forwarding";
      intent.decision = "allow";
      intent.status = 0;
      intent.counted = false;
      const audit::commit_result cr =
          co_await async_commit(*g_.store, std::move(intent), net::use_awaitable);
      if (!cr.ok) {
        co_return co_await send_audit_unavailable(r, cr.error, close);
      }
    }
    upstream_pool& pool = *w_.pools.at(ep.upstream);
    upstream_response res = co_await pool.exchange(out_head, r.body, r.head.method == "HEAD", safe);
    r.entry.upstream_latency_us = res.latency_us;
    if (res.latency_us > 0) {  // 0: nothing was sent (no connection), so no upstream time
      g_.stats.observe_upstream(up.name, res.latency_us);
    }
    if (res.why != reason::allowed) {
      r.entry.details["error"] = res.error;
      co_return co_await refuse(r, res.why == reason::response_too_large ? "withheld" : "error",
                                res.why, upstream_detail(res.why), close);
    }
    r.entry.upstream_status = res.status;
    if (res.status < 200 || res.status > 299) {
      co_return co_await refuse(r, "error", reason::upstream_status,
                                "the upstream answered " + std::to_string(res.status), close,
                                reason::upstream_status, res.status);
    }

    // Filter (SPEC §4.5).
    policy::filter_result f = policy::filter_response(ep.response, res.body);
    if (!f.allowed()) {
      // The rule that withheld the response is for the audit only: telling the caller that a
      // record is, say, restricted or carries a safeguarding marker would itself disclose it.
      r.entry.items = static_cast<std::int64_t>(f.items);
      r.entry.details["filter"] = f.detail;
      co_return co_await refuse(r, "withheld", f.why, withheld_detail(f.why), close);
    }
    std::string body = f.changed ? std::move(f.body) : std::move(res.body);

    // Audit, then release.
    r.entry.decision = "allow";
    r.entry.status = res.status;
    r.entry.bytes = static_cast<std::int64_t>(body.size());
    r.entry.items = static_cast<std::int64_t>(f.items);
    r.entry.fields_removed = static_cast<std::int64_t>(f.fields_removed);
    r.entry.body_sha256 = sha256_hex(body);
    header_list fields;
    if (!res.content_type.empty()) {
      fields.emplace_back("Content-Type", res.content_type);
    }
    if (!res.content_disposition.empty()) {
      fields.emplace_back("Content-Disposition", res.content_disposition);
    }
    fields.emplace_back("Cache-Control", "no-store");
    fields.emplace_back("DSA-Agreement", dsa.agreement);
    for (const auto& [name, value] : ep.response.add_headers) {
      fields.emplace_back(name, value);
    }
    co_return co_await finish(r, res.status, std::move(fields), std::move(body), close);
  }

  // Beast reads the body (Content-Length or chunked) of the head checked above into r.body.
  // False when the connection must close (the refusal, if any, has been sent).
  net::awaitable<bool> read_body(request_ctx& r, std::string_view block, std::size_t head_len) {
    const auto& lim = g_.cfg.limits;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(lim.max_header_bytes));
    parser.body_limit(lim.max_body_bytes);
    error_code pec;
    parser.put(net::buffer(block.data(), block.size()), pec);
    buffer_.consume(head_len);
    if (pec || !parser.is_header_done()) {
      const bool too_big = pec == http::error::body_limit;
      co_await refuse(
          r, "reject", too_big ? reason::body_too_large : reason::bad_request,
          too_big ? "the request body exceeds " + std::to_string(lim.max_body_bytes) + " bytes"
                  : "malformed request head: " + pec.message(),
          true);
      co_return false;
    }
    if (!parser.is_done()) {
      if (r.head.expect_continue && buffer_.size() == 0) {
        static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
        stream_.next_layer().expires_after(lim.header_read_timeout);
        auto [wec, wn] = co_await net::async_write(stream_, net::buffer(cont), use_tuple);
        if (wec) {
          co_return false;
        }
      }
      stream_.next_layer().expires_after(lim.header_read_timeout);
      auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
      if (bec == http::error::body_limit) {
        co_await refuse(r, "reject", reason::body_too_large,
                        "the request body exceeds " + std::to_string(lim.max_body_bytes) + " bytes",
                        true);
        co_return false;
      }
      if (bec == beast::error::timeout || bec == http::error::end_of_stream ||
          bec == net::error::eof || bec == net::error::operation_aborted ||
          bec == net::ssl::error::stream_truncated || bec == net::error::connection_reset) {
        co_return false;
      }
      if (bec) {
        co_await refuse(r, "reject", reason::bad_request, "malformed body: " + bec.message(), true);
        co_return false;
      }
    }
    r.body = std::move(parser.get().body());
    co_return true;
  }

  static std::string withheld_detail(reason why) {
    switch (why) {
      case reason::too_many_items:
        return "the response holds more items than the agreement lets leave at once";
      case reason::response_not_filterable:
        return "the upstream response cannot be filtered as the agreement requires";
      default:
        return "the response is withheld under the agreement";
    }
  }

  static std::string upstream_detail(reason why) {
    switch (why) {
      case reason::upstream_timeout:
        return "the upstream did not answer in time";
      case reason::response_too_large:
        return "the upstream response exceeds the gateway's body limit";
      default:
        return "the upstream could not be reached";
    }
  }

  void begin(request_ctx& r) {
    r.request_id = random_request_id();
    r.started = std::chrono::steady_clock::now();
    r.time_us = now_us();
    r.entry.time_us = r.time_us;
    r.entry.request_id = r.request_id;
    r.entry.requester.subject = peer_.id.subject;
    r.entry.requester.cert_sha256 = peer_.cert_sha256;
    r.entry.requester.trust_anchor = peer_.id.trust_anchor;
    r.engine = g_.engine.load();
    r.who = r.engine->identify(peer_.id, policy::time_point(std::chrono::microseconds(r.time_us)));
    if (r.who.why == reason::allowed) {
      r.entry.requester.party = r.who.party;
    }
  }

  void fill_request_fields(request_ctx& r) {
    r.entry.method = r.head.method;
    r.entry.path = r.head.target.substr(0, 2048);
    r.entry.purpose = std::string(r.head.field("DSA-Purpose").value_or(""));
    r.entry.case_ref = std::string(r.head.field("DSA-Case-Ref").value_or(""));
    r.entry.acting_user = std::string(r.head.field("DSA-Acting-User").value_or(""));
  }

  // A refusal: audit entry committed, then an RFC 9457 problem body.
  net::awaitable<bool> refuse(request_ctx& r, std::string_view decision, reason why,
                              std::string detail, bool close,
                              std::optional<reason> status_from = std::nullopt,
                              int upstream_status = 0) {
    const reason code = status_from.value_or(why);
    const int status = upstream_status != 0 ? upstream_status : policy::http_status(code);
    r.entry.decision = decision;
    r.entry.reason = policy::to_string(why);
    r.entry.status = status;
    if (decision == "deny" || decision == "reject") {
      r.entry.counted = false;
    }
    if (!detail.empty()) {
      r.entry.details["detail"] = detail;
    }
    std::string body = problem_body(status, policy::to_string(why), policy::title(why), detail,
                                    r.request_id, upstream_status);
    header_list fields{{"Content-Type", "application/problem+json"}, {"Cache-Control", "no-store"}};
    co_return co_await finish(r, status, std::move(fields), std::move(body), close);
  }

  net::awaitable<bool> send_audit_unavailable(request_ctx& r, const std::string& error,
                                              bool close) {
    log_event("error", "audit_commit_failed", {{"request_id", r.request_id}, {"error", error}});
    std::string body =
        problem_body(503, "audit_unavailable", policy::title(reason::audit_unavailable),
                     "the audit store cannot record this request", r.request_id);
    header_list fields{{"Content-Type", "application/problem+json"}, {"Cache-Control", "no-store"}};
    g_.stats.count_request("error", "audit_unavailable", r.agreement_id, micros_since(r.started));
    co_return co_await write_response(r, 503, std::move(fields), body, close);
  }

  // SPEC §6: the response is released only after its audit entry is durable; if the commit
  // fails the client gets 503 audit_unavailable and nothing else.
  net::awaitable<bool> finish(request_ctx& r, int status, header_list fields, std::string body,
                              bool close) {
    const std::string decision = r.entry.decision;
    const std::string reason_text = r.entry.reason.empty() ? "allowed" : r.entry.reason;
    const std::string party = r.entry.requester.party;
    const audit::commit_result cr =
        co_await async_commit(*g_.store, std::move(r.entry), net::use_awaitable);
    if (!cr.ok) {
      co_return co_await send_audit_unavailable(r, cr.error, close);
    }
    g_.stats.count_request(decision, reason_text, r.agreement_id, micros_since(r.started));
    if (decision != "allow") {
      log_event("info", "request_refused",
                {{"request_id", r.request_id},
                 {"decision", decision},
                 {"reason", reason_text},
                 {"status", status},
                 {"requester", party}});
    }
    co_return co_await write_response(r, status, std::move(fields), body, close);
  }

  net::awaitable<bool> write_response(request_ctx& r, int status, header_list fields,
                                      const std::string& body, bool close) {
    close = close || g_.draining.load();  // a drain that began while this request was in flight
    fields.emplace(fields.begin(), "DSA-Request-Id", r.request_id);
    // A HEAD response carries no body and no Content-Length: a length there must be the one a
    // GET would get (RFC 9110 §8.6), which the gateway does not know — the upstream never sent
    // the body to filter, and a GET may be decided differently (methods compare exactly).
    const bool head_request = r.head.method == "HEAD";
    std::string out = serialize_response_head(
        status, fields, head_request ? std::nullopt : std::optional(body.size()), close);
    if (!head_request) {
      // One contiguous buffer: given two, Beast's ssl_stream copies them into a scratch buffer
      // it allocates and frees on every write (flat_stream), and Asio's SSL engine would
      // otherwise write one TLS record per buffer.
      out.append(body);
    }
    stream_.next_layer().expires_after(g_.cfg.limits.header_read_timeout);
    auto [ec, n] = co_await net::async_write(stream_, net::buffer(out), use_tuple);
    co_return !ec && !close;
  }

  server::impl& g_;
  worker& w_;
  std::shared_ptr<net::ssl::context> tls_;  // outlives stream_, which points into it
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  peer_identity peer_;
  bool idle_ = false;
  std::list<session*>::iterator registration_;
};

// ---------------------------------------------------------------------------------------------
// Admin listener (plain HTTP, loopback by default)

namespace {

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
    if (!g.engine.load()) {
      why.push_back("agreements not loaded");
    }
    if (!g.store->writable()) {
      why.push_back("audit store not writable");
    }
    // The certificate of the context new connections get: refreshed by every reload.
    const std::int64_t not_after = g.deadlines.load()->server_not_after;
    if (not_after != 0 && not_after <= now_us() / 1000000) {
      why.push_back("gateway certificate expired");
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
    std::string extra;
    extra +=
        "# HELP dsa_audit_writable 1 when the audit store accepts commits.\n"
        "# TYPE dsa_audit_writable gauge\n";
    extra += "dsa_audit_writable " + std::to_string(g.store->writable() ? 1 : 0) + "\n";
    extra +=
        "# HELP dsa_audit_entries Entries in the audit store.\n"
        "# TYPE dsa_audit_entries gauge\n";
    extra += "dsa_audit_entries " + std::to_string(g.store->size()) + "\n";
    const audit::store_stats s = g.store->stats();
    extra +=
        "# HELP dsa_audit_commit_duration_seconds Group-commit latency.\n"
        "# TYPE dsa_audit_commit_duration_seconds histogram\n";
    for (std::size_t i = 0; i < s.commit_us_buckets.size(); ++i) {
      const std::string le = i < s.bucket_bounds_us.size()
                                 ? std::to_string(static_cast<double>(s.bucket_bounds_us[i]) / 1e6)
                                 : "+Inf";
      extra += "dsa_audit_commit_duration_seconds_bucket{le=\"" + le + "\"} " +
               std::to_string(s.commit_us_buckets[i]) + "\n";
    }
    extra += "dsa_audit_commit_duration_seconds_sum " +
             std::to_string(static_cast<double>(s.commit_us_sum) / 1e6) + "\n";
    extra += "dsa_audit_commit_duration_seconds_count " + std::to_string(s.batches) + "\n";
    // Batch sizes as two counters: rate(entries) / rate(batches) is the mean batch size.
    extra +=
        "# HELP dsa_audit_committed_entries_total Entries committed by this process.\n"
        "# TYPE dsa_audit_committed_entries_total counter\n"
        "dsa_audit_committed_entries_total " +
        std::to_string(s.entries) +
        "\n# HELP dsa_audit_batches_total Group commits (batches) that succeeded.\n"
        "# TYPE dsa_audit_batches_total counter\n"
        "dsa_audit_batches_total " +
        std::to_string(s.batches) +
        "\n# HELP dsa_audit_failed_batches_total Group commits that failed (their requests got "
        "503).\n# TYPE dsa_audit_failed_batches_total counter\n"
        "dsa_audit_failed_batches_total " +
        std::to_string(s.failed_batches) +
        "\n# HELP dsa_audit_max_batch_size The largest batch committed by this process.\n"
        "# TYPE dsa_audit_max_batch_size gauge\n"
        "dsa_audit_max_batch_size " +
        std::to_string(s.max_batch_size) + "\n";
    auto eng = g.engine.load();
    extra +=
        "# HELP dsa_agreements_loaded Agreements in the current set.\n"
        "# TYPE dsa_agreements_loaded gauge\n"
        "dsa_agreements_loaded " +
        std::to_string(eng->agreements().agreements.size()) + "\n";
    render_expiry_gauges(extra, eng->agreements(), *g.deadlines.load(), now_us() / 1000000);
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

void log_exception(std::exception_ptr e) {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log_event("error", "session_exception", {{"error", ex.what()}});
  } catch (...) {
    log_event("error", "session_exception", {{"error", "unknown"}});
  }
}

net::awaitable<void> run_session(server::impl& g, worker& w, tcp::socket socket) {
  session s(g, w, std::move(socket));
  co_await s.run();
}

net::awaitable<void> accept_loop(server::impl& g) {
  for (;;) {
    worker& w = g.pick_worker();
    auto [ec, socket] = co_await g.acceptor->async_accept(w.ioc, use_tuple);
    if (ec == net::error::operation_aborted || !g.acceptor->is_open()) {
      co_return;
    }
    if (ec) {
      // Out of descriptors and the like: back off briefly instead of spinning.
      log_event("warn", "accept_failed", {{"error", ec.message()}});
      net::steady_timer t(g.acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    if (g.stats.open_connections() >= static_cast<std::int64_t>(g.cfg.limits.max_connections)) {
      g.stats.count_rejected_connection();
      error_code cec;
      socket.close(cec);
      continue;
    }
    error_code oec;
    socket.set_option(tcp::no_delay(true), oec);
    net::co_spawn(w.ioc, run_session(g, w, std::move(socket)), &log_exception);
  }
}

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

// SIGTERM/SIGINT: stop accepting, let in-flight requests finish (drain_timeout_ms), then stop.
net::awaitable<void> signal_loop(server::impl& g, net::signal_set& signals) {
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(use_tuple);
    if (ec) {
      co_return;
    }
    if (sig == SIGHUP) {
      log_event("info", "reload_requested");
      g.reload();
      // Whether the new set was taken or refused, warn about the set and files now in force.
      g.check_expiry("reload");
      continue;
    }
    log_event("info", "draining", {{"signal", sig}});
    g.draining.store(true);
    g.expiry_timer->cancel();
    error_code cec;
    g.acceptor->close(cec);
    for (auto& w : g.workers) {
      net::post(w->ioc, [wp = w.get()] {
        for (session* s : wp->sessions) {
          s->stop_if_idle();
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + g.cfg.limits.drain_timeout;
    net::steady_timer t(signals.get_executor());
    while (g.stats.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(use_tuple);
    }
    if (g.stats.open_connections() > 0) {
      log_event("warn", "drain_timeout", {{"open_connections", g.stats.open_connections()}});
    }
    g.admin->close(cec);
    for (auto& w : g.workers) {
      net::post(w->ioc, [wp = w.get()] {
        for (auto& [name, pool] : wp->pools) {
          pool->close_idle();
        }
        wp->work.reset();
        wp->ioc.stop();
      });
    }
    co_return;
  }
}

// The daily expiry check (issue 5 item 5); start-up and each reload check on their own. Ends
// when the drain cancels the timer.
net::awaitable<void> expiry_loop(server::impl& g) {
  for (;;) {
    g.expiry_timer->expires_after(std::chrono::hours(24));
    auto [ec] = co_await g.expiry_timer->async_wait(use_tuple);
    if (ec || g.draining.load()) {
      co_return;
    }
    g.check_expiry("daily");
  }
}

std::unique_ptr<tcp::acceptor> bind(net::io_context& ioc, const host_port& at, std::string& error) {
  error_code ec;
  auto addr = net::ip::make_address(at.host, ec);
  if (ec) {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(at.host, std::to_string(at.port), ec);
    if (ec || results.empty()) {
      error = "cannot resolve " + at.text();
      return nullptr;
    }
    addr = results.begin()->endpoint().address();
  }
  auto a = std::make_unique<tcp::acceptor>(ioc);
  tcp::endpoint ep(addr, at.port);
  a->open(ep.protocol(), ec);
  if (!ec) {
    a->set_option(net::socket_base::reuse_address(true), ec);
    a->bind(ep, ec);
  }
  if (!ec) {
    a->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    error = "cannot listen on " + at.text() + ": " + ec.message();
    return nullptr;
  }
  return a;
}

std::string bound_text(const tcp::acceptor& a) {
  auto ep = a.local_endpoint();
  host_port hp{ep.address().to_string(), ep.port()};
  return hp.text();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Start-up and run

server::server(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
server::~server() = default;

std::unique_ptr<server> server::create(const config& cfg, std::string& error) {
  auto g = std::make_unique<impl>();
  g->cfg = cfg;

  policy::load_result loaded = g->load();
  for (const auto& d : loaded.diagnostics) {
    log_event(d.level == policy::severity::error ? "error" : "warn", "agreement_diagnostic",
              {{"message", d.format()}});
  }
  if (!loaded.ok()) {
    error = "agreements in " + cfg.agreements_dir.string() + " have " +
            std::to_string(loaded.error_count()) + " error(s)";
    return nullptr;
  }

  audit::store_options so;
  so.db_path = cfg.audit.path;
  so.signing_key_path = cfg.audit.signing_key;
  so.origin = cfg.audit.origin;
  g->store = audit::store::open(so, error);
  if (!g->store) {
    error = "audit store: " + error;
    return nullptr;
  }

  // SPEC §3: volume caps are rebuilt from the audit store, so a restart does not reset them.
  std::chrono::microseconds longest = std::chrono::hours(24);
  for (const auto& a : loaded.set->agreements) {
    for (const auto& p : a->permissions) {
      for (const auto& cap : p.volume_caps) {
        longest = std::max(longest, cap.window);
      }
    }
  }
  std::size_t seeded = 0;
  std::string seed_error;
  const auto counted = g->store->counted_since(now_us() - longest.count(), seed_error);
  if (!counted) {
    error = "audit store: " + seed_error;
    return nullptr;
  }
  for (const auto& cr : *counted) {
    const policy::agreement* a = loaded.set->find(cr.agreement);
    if (a == nullptr) {
      continue;
    }
    for (const auto& p : a->permissions) {
      if (p.id == cr.permission && !p.volume_caps.empty()) {
        g->counter.record(*a, p, policy::cap_keys{cr.requester, cr.case_ref, cr.acting_user},
                          policy::time_point(std::chrono::microseconds(cr.time_us)));
        ++seeded;
      }
    }
  }

  std::string tls_error;
  ssl_ctx_ptr server_ctx = make_server_context(cfg.tls, tls_error);
  if (!server_ctx) {
    error = tls_error;
    return nullptr;
  }
  g->server_tls.store(std::make_shared<net::ssl::context>(server_ctx.release()));
  {
    tls_deadlines up;
    add_upstream_deadlines(cfg, up);
    g->upstream_deadlines = std::move(up.certificates);
  }
  g->refresh_deadlines();
  for (const auto& [name, up] : cfg.upstreams) {
    g->stats.add_upstream(name);
  }
  for (const auto& [name, up] : cfg.upstreams) {
    if (up.tls) {
      ssl_ctx_ptr c = make_upstream_context(up, tls_error);
      if (!c) {
        error = tls_error;
        return nullptr;
      }
      g->upstream_tls[name] = std::make_shared<net::ssl::context>(c.release());
    }
  }

  for (int i = 0; i < cfg.threads; ++i) {
    auto w = std::make_unique<worker>();
    for (const auto& [name, up] : cfg.upstreams) {
      auto it = g->upstream_tls.find(name);
      w->pools[name] = std::make_unique<upstream_pool>(
          w->ioc, up, it == g->upstream_tls.end() ? nullptr : it->second,
          cfg.limits.max_body_bytes);
    }
    g->workers.push_back(std::move(w));
  }
  g->acceptor = bind(g->workers.front()->ioc, cfg.listen, error);
  if (!g->acceptor) {
    return nullptr;
  }
  g->admin = bind(g->workers.front()->ioc, cfg.admin_listen, error);
  if (!g->admin) {
    return nullptr;
  }

  audit::entry start;
  start.time_us = now_us();
  start.kind = "startup";
  start.details["listen"] = bound_text(*g->acceptor);
  start.details["seeded_counted_requests"] = seeded;
  g->audit_lifecycle(std::move(start));
  g->audit_lifecycle(g->agreements_entry("agreements_loaded", loaded.set.get(), {}));
  g->engine.store(std::make_shared<const policy::engine>(loaded.set, served_upstreams(cfg)));
  log_event("info", "started",
            {{"agreements", loaded.set->agreements.size()},
             {"seeded_counted_requests", seeded},
             {"threads", cfg.threads}});
  g->check_expiry("start");
  g->expiry_timer = std::make_unique<net::steady_timer>(g->workers.front()->ioc);
  return std::unique_ptr<server>(new server(std::move(g)));
}

int server::run() {
  impl& g = *impl_;
  // A file size limit (RLIMIT_FSIZE) must make audit writes fail — and the gateway answer 503 —
  // rather than kill the process; a closed client socket must not kill it either.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  net::io_context& main_ioc = g.workers.front()->ioc;
  net::signal_set signals(main_ioc, SIGINT, SIGTERM, SIGHUP);
  net::co_spawn(main_ioc, accept_loop(g), &log_exception);
  net::co_spawn(main_ioc, admin_loop(g), &log_exception);
  net::co_spawn(main_ioc, signal_loop(g, signals), &log_exception);
  net::co_spawn(main_ioc, expiry_loop(g), &log_exception);

  std::printf("listening https=%s admin=%s\n", bound_text(*g.acceptor).c_str(),
              bound_text(*g.admin).c_str());
  std::fflush(stdout);

  for (std::size_t i = 1; i < g.workers.size(); ++i) {
    g.workers[i]->thread = std::thread([w = g.workers[i].get()] { w->ioc.run(); });
  }
  main_ioc.run();
  for (std::size_t i = 1; i < g.workers.size(); ++i) {
    g.workers[i]->thread.join();
  }
  audit::entry stop;
  stop.time_us = now_us();
  stop.kind = "shutdown";
  g.audit_lifecycle(std::move(stop));
  g.store->close();
  log_event("info", "stopped");
  return 0;
}

}  // namespace dsa::gateway
