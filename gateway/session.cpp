// One client connection: handshake, then request after request. Reads top to bottom: read →
// decide (request_handler) → forward → audit → respond. TLS runs on the socket itself
// (tls_stream.hpp); every stream operation runs under a deadline; network errors come back as
// values (as_tuple); nothing throws out of a session. Values passed into a co_await are built in
// named locals first (docs/design.md, "Coroutines and GCC 12").

#include "gateway/session.hpp"

#include <openssl/err.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <variant>

#include "common/hex.hpp"
#include "gateway/http_message.hpp"
#include "gateway/request_handler.hpp"
#include "gateway/tls_stream.hpp"
#include "gateway/upstream.hpp"

namespace dsa::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using policy::reason;

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// What a relay shares with the dsa-hash thread (state.hpp, hash_worker): the buffers its pieces
// rotate through, the digest of the pieces hashed so far and how many those are. Shared
// ownership, so a task still queued when its session ends reads a buffer that still exists.
struct relay_hash {
  static constexpr std::size_t slots = 4;
  static constexpr std::size_t prefix = 16;  // a chunk-size line before the data
  static constexpr std::size_t piece_size = 64 * 1024;
  static constexpr std::size_t slot_size = prefix + piece_size + 2;  // and its CRLF after

  std::unique_ptr<char[]> buffers{new char[slots * slot_size]};
  common::sha256_stream hash;  // updated only on the hash thread, read once all is hashed
  std::mutex mu;
  std::uint64_t hashed = 0;  // pieces hashed (under mu)
  std::uint64_t wanted = 0;  // non-zero: the relay waits on *wake until `hashed` reaches it
  net::steady_timer* wake = nullptr;  // the relay's, on its I/O thread

  char* slot(std::size_t i) { return buffers.get() + i * slot_size; }
};

// Hashes `n` bytes at `data` (in one of h's slots) after every piece posted before it, then
// wakes the relay on `io` if it waits for this one.
void post_hash(hash_worker& hasher, const std::shared_ptr<relay_hash>& h,
               const net::any_io_executor& io, const char* data, std::size_t n) {
  net::post(hasher.ioc, [h, io, data, n] {
    h->hash.update(std::string_view(data, n));
    bool wake = false;
    {
      std::lock_guard lock(h->mu);
      ++h->hashed;
      if (h->wanted != 0 && h->hashed >= h->wanted) {
        h->wanted = 0;
        wake = true;
      }
    }
    if (wake) {
      // Runs on the relay's thread, where it is suspended in await_hashed until this cancel.
      net::post(io, [h] { h->wake->cancel(); });
    }
  });
}

// Suspends until `count` pieces of `h` are hashed.
net::awaitable<void> await_hashed(relay_hash& h, std::uint64_t count) {
  for (;;) {
    {
      std::lock_guard lock(h.mu);
      if (h.hashed >= count) {
        break;
      }
      h.wanted = count;
    }
    h.wake->expires_at(net::steady_timer::time_point::max());
    // Cancelled by post_hash (operation_aborted), which is the wake-up: the loop re-checks.
    co_await h.wake->async_wait(net::as_tuple(net::use_awaitable));
  }
}

// A head carrying only the body framing of `head`, for a Beast parser that reads a body whose
// real head parse_request_head has checked and the session has consumed.
std::string framing_head(const request_head& head) {
  std::string out = "POST / HTTP/1.1\r\n";
  if (head.content_length) {
    out += "Content-Length: " + std::to_string(*head.content_length) + "\r\n";
  } else {
    out += "Transfer-Encoding: chunked\r\n";
  }
  return out + "\r\n";
}

// The errors with which a client's body ends because the client went away or stopped sending:
// nothing is answered to them.
bool client_gone(const error_code& ec) {
  return ec == beast::error::timeout || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == net::error::eof ||
         ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated ||
         ec == net::error::connection_reset;
}
}  // namespace

class session {
 public:
  session(server::impl& g, worker& w, tcp::socket socket)
      : g_(g),
        w_(w),
        tls_generation_(g.tls_generation.load()),  // before tls_: the context is never older
        tls_(g.server_tls.load()),
        stream_(std::move(socket), *tls_),
        cfg_(g.current()) {
    g_.stats.connection_opened();
    registration_ = w_.sessions.insert(w_.sessions.end(), this);
    // Every audit entry of this connection records the client's address (docs/auditing.md,
    // "What each entry records"), the access log too.
    error_code ec;
    const tcp::endpoint peer = stream_.next_layer().socket().remote_endpoint(ec);
    if (!ec) {
      client_ = host_port{peer.address().to_string(), peer.port()}.text();
    }
  }
  ~session() {
    w_.sessions.erase(registration_);
    g_.session_ended();
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
    const auto& lim = cfg_->limits;
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
    auto identity = extract_identity(stream_.native_handle());
    if (!identity) {
      g_.stats.count_handshake_failure("no_identity");
      log_event("error", "tls_identity_missing", {{"error", identity.error()}});
      co_return;
    }
    peer_ = std::move(identity).value();
    // The wait for a head happens here, outside serve_one: an idle keep-alive connection holds
    // only this frame and read_head's, not serve_one's (5 KiB) (docs/performance.md §7).
    for (;;) {
      head_read got = co_await read_head();
      if (got.status == head_status::closed) {
        break;
      }
      if (!co_await serve_one(std::move(got))) {
        break;
      }
    }
    if (abort_) {
      // A relay was cut: no close_notify, so the client sees the transfer truncated.
      error_code ec;
      stream_.next_layer().socket().close(ec);
      co_return;
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
  // How reading a head ended: `length` of the header block in buffer_ when ok, the framing
  // error when malformed.
  struct head_read {
    head_status status = head_status::closed;
    std::size_t length = 0;
    std::string error;
  };

  // Reads raw bytes until the end of the header block (docs/design.md §5: header bytes limit,
  // header-read timeout; idle timeout before the first byte of a keep-alive request).
  net::awaitable<head_read> read_head() {
    const auto& lim = cfg_->limits;
    head_read out;
    bool started = buffer_.size() > 0;
    if (g_.draining.load() && !started) {
      co_return out;
    }
    stream_.next_layer().expires_after(started ? lim.header_read_timeout : lim.idle_timeout);
    for (;;) {
      std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      head_scan scan = find_head_end(data);
      if (!scan.error.empty()) {
        out.status = head_status::malformed;
        out.error = scan.error;
        co_return out;
      }
      if (scan.end > 0) {
        out.status = scan.end > lim.max_header_bytes ? head_status::too_large : head_status::ok;
        out.length = scan.end;
        co_return out;
      }
      if (buffer_.size() >= lim.max_header_bytes) {
        out.status = head_status::too_large;
        co_return out;
      }
      if (!started) {
        // A connection waiting for its next request holds no read buffer: the last request's
        // (8 KiB, more after a body) is given back, and the wait for the next one's first byte
        // needs none (docs/performance.md §7).
        buffer_.shrink_to_fit();  // empty, so this frees the storage
        idle_ = true;
        auto [wec] = co_await stream_.async_wait_readable(use_tuple);
        idle_ = false;
        if (wec) {
          co_return out;  // closed: timeout, reset or drain, nothing to answer
        }
      }
      auto [ec, n] = co_await stream_.async_read_some(
          buffer_.prepare(std::min<std::size_t>(8192, lim.max_header_bytes + 4 - buffer_.size())),
          use_tuple);
      if (ec) {
        co_return out;  // closed: timeout, EOF, reset or drain, nothing to answer
      }
      if (n == 0) {
        // Readable, but only TLS records without data (a key update): wait again, still idle.
        continue;
      }
      buffer_.commit(n);
      if (!started) {
        started = true;
        stream_.next_layer().expires_after(lim.header_read_timeout);
      }
    }
  }

  // One request, whose head `got` has been read; false when the connection must close
  // afterwards.
  net::awaitable<bool> serve_one(head_read got) {
    const auto& lim = cfg_->limits;
    const head_status hs = got.status;
    const std::size_t head_len = got.length;
    // Each request runs under the config in force when its head arrived (taken just before
    // the agreement set, which a reload stores just after it).
    cfg_ = g_.current();
    request_handler handler(*cfg_, g_.counter, g_.subject_key.get());
    request_state r =
        handler.begin(peer_, g_.engine.load(), random_request_id(), common::now_us(), client_);
    if (const std::uint64_t gen = g_.tls_generation.load(); gen != tls_generation_) {
      // A reload since this connection's handshake may have revoked its certificate or changed
      // the anchors: verify it again against the current trust state before serving it.
      const peer_recheck rc =
          recheck_peer(stream_.native_handle(), g_.server_tls.load()->native_handle());
      if (!rc.ok) {
        log_event("info", "tls_recheck_refused",
                  {{"request_id", r.request_id}, {"reason", rc.reason}, {"error", rc.detail}});
        r.entry.requester.party.clear();
        r.entry.details["tls_recheck"] = rc.reason;
        std::string detail =
            "the client certificate no longer verifies under the gateway's current trust "
            "anchors (" +
            rc.reason + ")";
        outcome o = handler.refuse(r, audit::entry_decision::deny, reason::unknown_requester,
                                   std::move(detail), true);
        co_await finish(r, std::move(o));
        co_return false;
      }
      tls_generation_ = gen;
    }
    if (hs == head_status::too_large) {
      std::string detail =
          "the request head exceeds " + std::to_string(lim.max_header_bytes) + " bytes";
      outcome o = handler.refuse(r, audit::entry_decision::reject, reason::headers_too_large,
                                 std::move(detail), true);
      co_await finish(r, std::move(o));
      co_return false;
    }
    std::string_view block(static_cast<const char*>(buffer_.data().data()), head_len);
    head_result parsed;
    if (hs == head_status::malformed) {
      parsed.error = got.error;
    } else {
      parsed = parse_request_head(block);
    }
    if (std::optional<outcome> refused = handler.check_head(r, std::move(parsed))) {
      co_return co_await finish(r, std::move(*refused));
    }
    // A request without a body (Content-Length absent or 0, not chunked: the common GET) is not
    // parsed a second time: parse_request_head has checked its framing, and a Beast parser per
    // request costs a fields container and an allocation per field.
    if (!r.head.has_body()) {
      buffer_.consume(head_len);
    } else {
      // A body to a streamed endpoint is an upload: streamed to the upstream after the decision
      // and the durable intent, never held whole; any other is read whole first
      // (docs/design.md §6, "Streamed uploads").
      const body_route route = handler.route_body(r);
      if (!route.streamed) {
        if (!co_await read_body(handler, r, block, head_len, route.limit)) {
          co_return false;
        }
      } else if (r.head.content_length && *r.head.content_length > route.limit) {
        // Declared over the limit: refused before the intent, with nothing forwarded.
        buffer_.consume(head_len);
        std::string detail = "the request body of " + std::to_string(*r.head.content_length) +
                             " bytes exceeds the endpoint's limit of " +
                             std::to_string(route.limit) + " bytes";
        outcome o = handler.refuse(r, audit::entry_decision::reject, reason::body_too_large,
                                   std::move(detail), true);
        co_await finish(r, std::move(o));
        co_return false;
      } else {
        buffer_.consume(head_len);
        r.upload = route.limit;
      }
    }

    auto step = handler.decide(r);
    if (auto* refused = std::get_if<outcome>(&step)) {
      if (r.upload) {
        refused->close = true;  // the body is unread: nothing more can be read on this connection
      }
      co_return co_await finish(r, std::move(*refused));
    }
    forward_plan& plan = std::get<forward_plan>(step);
    if (r.upload && !r.streamed) {
      // route_body took the decision without the volume counter; decide() counted it, and a full
      // cap sent the request to a later candidate whose response has JSON rules. Its body is read
      // whole after all, within that endpoint's limit, as for any such endpoint.
      std::uint64_t limit = lim.max_body_bytes;
      if (r.endpoint->request.max_bytes) {
        limit = std::min<std::uint64_t>(limit, *r.endpoint->request.max_bytes);
      }
      const std::string framing = framing_head(r.head);
      r.upload.reset();
      if (!co_await read_body(handler, r, framing, 0, limit)) {
        co_return false;
      }
      plan.head = handler.upstream_head(r);
    }
    if (plan.intent) {
      const audit::commit_result cr =
          co_await async_commit(*g_.store, std::move(*plan.intent), net::use_awaitable);
      if (!cr.ok) {
        // An upload's body is unread: the connection cannot go on.
        co_return co_await send_audit_unavailable(r, cr.error, r.upload.has_value());
      }
    }
    // Held for the exchange: a reload may replace this worker's pools meanwhile.
    const std::shared_ptr<upstream_pool> pool = pool_for(plan.upstream);
    if (pool && r.streamed) {
      co_return co_await relay(handler, r, plan, *pool);
    }
    upstream_response res;
    if (pool) {
      res = co_await pool->exchange(plan.head, r.body, plan.head_method, plan.idempotent);
    } else {
      res.why = reason::upstream_unavailable;
      res.error = "the upstream was removed by a reload";
      if (r.upload) {
        r.head.keep_alive = false;  // its body is unread
      }
    }
    if (res.latency_us > 0) {  // 0: nothing was sent (no connection), so no upstream time
      g_.stats.observe_upstream(plan.upstream, res.latency_us);
    }
    g_.stats.mark_upstream(plan.upstream, res.why != reason::upstream_unavailable &&
                                              res.why != reason::upstream_timeout);
    outcome o = handler.complete(r, std::move(res));
    co_return co_await finish(r, std::move(o));
  }

  // A streamed endpoint (docs/design.md §6): the upstream's head, then — once the
  // disclosure_started entry is durable — the body relayed piece by piece as it arrives, hashed
  // as it leaves, and a disclosure_completed or disclosure_interrupted entry at the end. A relay
  // cut by either side closes the connection without a clean end (no last chunk, fewer bytes
  // than declared, no close_notify), so the client cannot take a truncated body for a whole one.
  net::awaitable<bool> relay(const request_handler& handler, request_state& r,
                             const forward_plan& plan, upstream_pool& pool) {
    std::unique_ptr<upstream_body> body;
    upstream_response res;
    if (r.upload) {
      const std::optional<bool> ended = co_await upload(handler, r, plan, pool, res, body);
      if (ended) {
        co_return *ended;
      }
    } else {
      res = co_await pool.open(plan.head, r.body, plan.head_method, plan.idempotent, body);
    }
    if (res.latency_us > 0) {
      g_.stats.observe_upstream(plan.upstream, res.latency_us);
    }
    g_.stats.mark_upstream(plan.upstream, res.why != reason::upstream_unavailable &&
                                              res.why != reason::upstream_timeout);
    auto step = handler.start_stream(r, res);
    if (auto* whole = std::get_if<outcome>(&step)) {
      body.reset();  // a body refused unread: its connection is closed, never reused
      co_return co_await finish(r, std::move(*whole));
    }
    stream_plan& sp = std::get<stream_plan>(step);
    std::optional<access_record> access = access_record_of(r);
    std::optional<emergency_disclosure> emergency = emergency_of(sp.started);
    const audit::commit_result started =
        co_await async_commit(*g_.store, std::move(sp.started), net::use_awaitable);
    if (!started.ok) {
      body.reset();
      co_return co_await send_audit_unavailable(r, started.error, true, std::move(access));
    }
    if (emergency) {
      emergency->seq = started.seq;
      g_.emergency_committed(std::move(*emergency));
    }

    const bool chunked = !sp.length;
    const bool close = sp.head.close || g_.draining.load();
    sp.head.fields.emplace(sp.head.fields.begin(), "DSA-Request-Id", r.request_id);
    if (chunked) {
      sp.head.fields.emplace_back("Transfer-Encoding", "chunked");
    }
    std::optional<std::size_t> length;
    if (sp.length) {
      length = static_cast<std::size_t>(*sp.length);
    }
    const std::string head = serialize_response_head(sp.head.status, sp.head.fields, length, close);

    std::uint64_t sent = 0;
    stream_end how = stream_end::completed;
    std::string detail;
    stream_.next_layer().expires_after(cfg_->limits.header_read_timeout);
    auto [hec, hn] = co_await net::async_write(stream_, net::buffer(head), use_tuple);
    if (hec) {
      how = stream_end::client_closed;
      detail = "write to the client: " + hec.message();
    }
    // Pieces rotate through relay_hash::slots buffers: each, once written, is hashed on the
    // dsa-hash thread while the next is read and written here, and is reused only after its
    // hash is done (docs/design.md §6: at most slots × 64 KiB of body per stream).
    const auto hashing = std::make_shared<relay_hash>();
    net::steady_timer wake(co_await net::this_coro::executor);
    hashing->wake = &wake;
    const net::any_io_executor io = co_await net::this_coro::executor;
    std::uint64_t posted = 0;  // pieces given to the hash thread
    while (how == stream_end::completed) {
      if (posted >= relay_hash::slots) {
        co_await await_hashed(*hashing, posted - relay_hash::slots + 1);
      }
      char* slot = hashing->slot(posted % relay_hash::slots);
      char* data = slot + relay_hash::prefix;
      upstream_body::piece p = co_await body->read_some(data, relay_hash::piece_size);
      std::size_t n = p.size;
      const bool over = sent + n > sp.max_bytes;
      if (over) {
        n = static_cast<std::size_t>(sp.max_bytes - sent);
      }
      if (n > 0) {
        char* start = data;
        std::size_t total = n;
        if (chunked) {
          // The slot has room before the data for a chunk-size line and after it for its CRLF,
          // so each piece leaves in one write without a copy.
          char line[relay_hash::prefix];
          const int len = std::snprintf(line, sizeof line, "%zx\r\n", n);
          start = data - len;
          std::memcpy(start, line, static_cast<std::size_t>(len));
          data[n] = '\r';
          data[n + 1] = '\n';
          total = n + static_cast<std::size_t>(len) + 2;
        }
        stream_.next_layer().expires_after(cfg_->limits.header_read_timeout);
        auto [wec, wn] = co_await net::async_write(stream_, net::buffer(start, total), use_tuple);
        // The body bytes among those written: exactly what left, even when the write failed.
        const std::size_t framing = static_cast<std::size_t>(data - start);
        const std::size_t body_written = std::min(n, wn > framing ? wn - framing : 0);
        if (body_written > 0) {
          post_hash(*g_.hasher, hashing, io, data, body_written);
          ++posted;
        }
        sent += body_written;
        if (wec) {
          how = stream_end::client_closed;
          detail = "write to the client: " + wec.message();
          break;
        }
      }
      if (over) {
        how = stream_end::over_max_bytes;
        detail = "the body exceeds response.max_bytes (" + std::to_string(sp.max_bytes) + ")";
      } else if (!p.error.empty()) {
        how = stream_end::upstream_failed;
        detail = p.error;
      } else if (p.size == 0) {
        break;  // the upstream's body has ended
      }
    }
    if (how == stream_end::completed && chunked) {
      static constexpr std::string_view last = "0\r\n\r\n";
      stream_.next_layer().expires_after(cfg_->limits.header_read_timeout);
      auto [lec, ln] = co_await net::async_write(stream_, net::buffer(last), use_tuple);
      if (lec) {
        how = stream_end::client_closed;
        detail = "write to the client: " + lec.message();
      }
    }
    co_await await_hashed(*hashing, posted);
    body.reset();  // back to the pool only if the upstream's message ended cleanly

    std::string digest = hashing->hash.hex();  // every piece hashed: read after await_hashed
    audit::entry end = handler.end_stream(r, how, sent, std::move(digest), detail);
    const audit::commit_result ended =
        co_await async_commit(*g_.store, std::move(end), net::use_awaitable);
    g_.stats.count_request("allow", "allowed", r.agreement_id, r.who.party,
                           micros_since(r.started));
    if (access) {
      access->reason = how == stream_end::completed ? "allowed" : std::string(to_string(how));
      access->status = sp.head.status;
      access->bytes = static_cast<std::int64_t>(sent);
      access->duration_us = micros_since(r.started);
      g_.access.write(*access);
    }
    if (!ended.ok) {
      // The bytes have left and the started entry stands; the connection closes so nothing more
      // leaves unrecorded.
      log_event("error", "audit_commit_failed",
                {{"request_id", r.request_id}, {"error", ended.error}, {"phase", "stream end"}});
      abort_ = true;
      co_return false;
    }
    if (how != stream_end::completed) {
      const std::string cause(to_string(how));
      log_event("warn", "disclosure_interrupted",
                {{"request_id", r.request_id},
                 {"cause", cause},
                 {"bytes", static_cast<std::int64_t>(sent)},
                 {"error", detail}});
      abort_ = true;
      co_return false;
    }
    co_return !close;
  }

  // A streamed upload (docs/design.md §6, "Streamed uploads"), once its intent is durable: the
  // upstream gets the head, then the body as it arrives from the client in pieces of at most
  // 64 KiB (one buffer per upload), hashed as they leave, within the limit in r.upload; then the
  // upstream's response head is read into `res` (and `body`). nullopt: go on with `res` as for any
  // streamed answer — a failure to reach the upstream or to write to it included, after which the
  // connection closes (the client's body was not read to its end). A value: the exchange ended
  // here (the client went away, its body broke its framing or grew past the limit), the entry is
  // committed and any answer written; the value is serve_one's. A cut upload leaves the upstream
  // a truncated request — fewer bytes than declared, or no last chunk, and the connection closed
  // — never a clean end.
  net::awaitable<std::optional<bool>> upload(const request_handler& handler, request_state& r,
                                             const forward_plan& plan, upstream_pool& pool,
                                             upstream_response& res,
                                             std::unique_ptr<upstream_body>& body) {
    const auto& lim = cfg_->limits;
    const std::uint64_t limit = *r.upload;
    const bool chunked = !r.head.content_length;
    common::sha256_stream hash;
    std::uint64_t sent = 0;
    std::unique_ptr<upstream_upload> up;
    res = co_await pool.begin_upload(plan.head, chunked, up);
    if (res.why != reason::allowed) {
      r.head.keep_alive = false;
      request_handler::record_upload(r, 0, hash.hex(), false);
      co_return std::nullopt;
    }

    enum class cut { none, client_gone, malformed, over_limit, upstream_failed };
    cut how = cut::none;
    std::string detail;
    upstream_upload::written failed;
    if (r.head.expect_continue && buffer_.size() == 0) {
      // Answered only now: the intent is durable and the upstream has the head.
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.next_layer().expires_after(lim.header_read_timeout);
      auto [wec, wn] = co_await net::async_write(stream_, net::buffer(cont), use_tuple);
      if (wec) {
        how = cut::client_gone;
        detail = "write to the client: " + wec.message();
      }
    }
    // Beast reads the framing (Content-Length or chunked) from a head that carries only that.
    http::request_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // the limit is counted here, to cut the body exactly at it
    {
      const std::string framing = framing_head(r.head);
      error_code pec;
      parser.put(net::buffer(framing), pec);
    }
    constexpr std::size_t piece_size = 64 * 1024;
    constexpr std::size_t before = upstream_upload::frame_before;
    std::unique_ptr<char[]> buf(new char[before + piece_size + 2]);
    char* const data = buf.get() + before;
    while (how == cut::none && !parser.is_done()) {
      parser.get().body().data = data;
      parser.get().body().size = piece_size;
      parser.get().body().more = true;
      stream_.next_layer().expires_after(lim.header_read_timeout);
      auto [rec, rn] = co_await http::async_read_some(stream_, buffer_, parser, use_tuple);
      if (rec == http::error::need_buffer) {
        rec = {};  // the piece is full
      }
      std::size_t n = piece_size - parser.get().body().size;
      const bool over = sent + n > limit;
      if (over) {
        n = static_cast<std::size_t>(limit - sent);
      }
      if (n > 0) {
        upstream_upload::written w = co_await up->write(data, n);
        hash.update(std::string_view(data, w.bytes));
        sent += w.bytes;
        if (!w.error.empty()) {
          how = cut::upstream_failed;
          failed = std::move(w);
          break;
        }
      }
      if (over) {
        how = cut::over_limit;
        detail =
            "the request body exceeds the endpoint's limit of " + std::to_string(limit) + " bytes";
      } else if (rec && client_gone(rec)) {
        how = cut::client_gone;
        detail = "read from the client: " + rec.message();
      } else if (rec) {
        how = cut::malformed;
        detail = "malformed body: " + rec.message();
      }
    }
    if (how == cut::none) {
      request_handler::record_upload(r, sent, hash.hex(), false);
      res = co_await up->finish(plan.head_method, body);
      co_return std::nullopt;
    }

    up.reset();  // closes the upstream connection mid-request
    request_handler::record_upload(r, sent, hash.hex(), true);
    log_event("warn", "upload_interrupted",
              {{"request_id", r.request_id},
               {"bytes", static_cast<std::int64_t>(sent)},
               {"error", how == cut::upstream_failed ? failed.error : detail}});
    if (how == cut::upstream_failed) {
      res = upstream_response{};
      res.why = failed.timed_out ? reason::upstream_timeout : reason::upstream_unavailable;
      res.error = failed.error;
      r.head.keep_alive = false;
      co_return std::nullopt;
    }
    const reason why = how == cut::over_limit ? reason::body_too_large : reason::bad_request;
    outcome o = handler.refuse(r, audit::entry_decision::reject, why, detail, true);
    // The policy allowed the request and the upstream received part of it: it counts towards
    // volume caps, as decide() counted it (docs/design.md §6).
    r.entry.counted = true;
    if (how != cut::client_gone) {
      const bool more = co_await finish(r, std::move(o));
      co_return more;
    }
    // Nobody to answer: the entry is committed, and the connection closed without a word.
    r.entry.status = 0;
    r.entry.details["cause"] = "client_closed";
    const std::string party = r.entry.requester.party;
    const audit::commit_result cr =
        co_await async_commit(*g_.store, std::move(r.entry), net::use_awaitable);
    if (!cr.ok) {
      log_event("error", "audit_commit_failed",
                {{"request_id", r.request_id}, {"error", cr.error}});
    }
    g_.stats.count_request("reject", "bad_request", r.agreement_id, party, micros_since(r.started));
    abort_ = true;
    co_return false;
  }

  // The pool of upstream `name` in this worker; null when a reload removed it.
  std::shared_ptr<upstream_pool> pool_for(const std::string& name) const {
    auto it = w_.pools.find(name);
    return it == w_.pools.end() ? nullptr : it->second;
  }

  // Beast reads the body (Content-Length or chunked) of the head checked above into r.body,
  // within `limit` bytes (route_body). `block` is the head (the first `head_len` bytes of
  // buffer_, consumed here), or a framing_head for a head already consumed (`head_len` 0).
  // False when the connection must close (the refusal, if any, has been sent).
  net::awaitable<bool> read_body(const request_handler& handler, request_state& r,
                                 std::string_view block, std::size_t head_len,
                                 std::uint64_t limit) {
    const auto& lim = cfg_->limits;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(lim.max_header_bytes));
    parser.body_limit(limit);
    error_code pec;
    parser.put(net::buffer(block.data(), block.size()), pec);
    buffer_.consume(head_len);
    if (pec || !parser.is_header_done()) {
      // Named locals, never a conditional expression inside the awaited call (docs/design.md).
      reason why = reason::bad_request;
      std::string detail = "malformed request head: " + pec.message();
      if (pec == http::error::body_limit) {
        why = reason::body_too_large;
        detail = "the request body exceeds " + std::to_string(limit) + " bytes";
      }
      outcome o = handler.refuse(r, audit::entry_decision::reject, why, std::move(detail), true);
      co_await finish(r, std::move(o));
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
        std::string detail = "the request body exceeds " + std::to_string(limit) + " bytes";
        outcome o = handler.refuse(r, audit::entry_decision::reject, reason::body_too_large,
                                   std::move(detail), true);
        co_await finish(r, std::move(o));
        co_return false;
      }
      if (bec == beast::error::timeout || bec == http::error::end_of_stream ||
          bec == net::error::eof || bec == net::error::operation_aborted ||
          bec == net::ssl::error::stream_truncated || bec == net::error::connection_reset) {
        co_return false;
      }
      if (bec) {
        outcome o = handler.refuse(r, audit::entry_decision::reject, reason::bad_request,
                                   "malformed body: " + bec.message(), true);
        co_await finish(r, std::move(o));
        co_return false;
      }
    }
    r.body = std::move(parser.get().body());
    co_return true;
  }

  // The response is released only after its audit entry is durable; if the commit fails the
  // client gets 503 audit_unavailable and nothing else (docs/design.md §6).
  net::awaitable<bool> finish(request_state& r, outcome o) {
    const std::string decision(audit::to_string(r.entry.decision));
    const bool allowed = r.entry.decision == audit::entry_decision::allow;
    const std::string reason_text = r.entry.reason.empty() ? "allowed" : r.entry.reason;
    const std::string party = r.entry.requester.party;
    std::optional<access_record> access = access_record_of(r);
    std::optional<emergency_disclosure> emergency = emergency_of(r.entry);
    const audit::commit_result cr =
        co_await async_commit(*g_.store, std::move(r.entry), net::use_awaitable);
    if (!cr.ok) {
      co_return co_await send_audit_unavailable(r, cr.error, o.close, std::move(access));
    }
    if (emergency) {
      // Counted, logged and awaiting review only once it is on the record (emergency.hpp).
      emergency->seq = cr.seq;
      g_.emergency_committed(std::move(*emergency));
    }
    g_.stats.count_request(decision, reason_text, r.agreement_id, party, micros_since(r.started));
    if (!allowed) {
      // An upstream that fails is the operator's to fix; a refused caller is the caller's.
      const bool upstream_fault = reason_text == "upstream_unavailable" ||
                                  reason_text == "upstream_timeout" ||
                                  (reason_text == "upstream_status" && o.status >= 500);
      log_event(upstream_fault ? "warn" : "info", "request_refused",
                {{"request_id", r.request_id},
                 {"decision", decision},
                 {"reason", reason_text},
                 {"status", o.status},
                 {"requester", party}});
    }
    if (access) {
      access->reason = reason_text;
    }
    co_return co_await write_response(r, std::move(o), std::move(access));
  }

  // The access-log line's fields known before the response (nullopt when the log is off); taken
  // from the entry before it is moved into the commit.
  std::optional<access_record> access_record_of(const request_state& r) const {
    if (!g_.access.enabled()) {
      return std::nullopt;
    }
    access_record a;
    a.time_us = r.time_us;
    a.client = client_;
    a.request_id = r.request_id;
    a.requester = r.entry.requester.party;
    a.method = r.entry.method;
    a.path = r.entry.path;
    a.endpoint = r.entry.endpoint;
    // A matched endpoint is logged by its template (/asb/v1/cases/{case_id}): the identifiers
    // in a path are for the audit store only (docs/operations.md, section 8).
    if (!a.endpoint.empty() && r.engine) {
      if (const policy::agreement* ag = r.engine->agreements().find(r.entry.agreement)) {
        if (const policy::endpoint* ep = ag->find_endpoint(a.endpoint)) {
          a.path = ep->path;
        }
      }
    }
    a.case_ref = r.entry.case_ref;
    a.acting_user = r.entry.acting_user;
    return a;
  }

  net::awaitable<bool> send_audit_unavailable(request_state& r, const std::string& error,
                                              bool close = false,
                                              std::optional<access_record> access = {}) {
    log_event("error", "audit_commit_failed", {{"request_id", r.request_id}, {"error", error}});
    g_.stats.count_request("error", "audit_unavailable", r.agreement_id, r.who.party,
                           micros_since(r.started));
    outcome o = request_handler::audit_unavailable(r, close || !r.head.keep_alive);
    if (!access) {
      access = access_record_of(r);  // the intent's commit failed: the entry is still here
    }
    if (access) {
      access->reason = "audit_unavailable";
    }
    co_return co_await write_response(r, std::move(o), std::move(access));
  }

  net::awaitable<bool> write_response(const request_state& r, outcome o,
                                      std::optional<access_record> access = {}) {
    // A drain that began while this request was in flight closes the connection after it.
    const bool close = o.close || g_.draining.load();
    const int status = o.status;
    const std::string& body = o.body;
    o.fields.emplace(o.fields.begin(), "DSA-Request-Id", r.request_id);
    // A HEAD response carries no body and no Content-Length: a length there must be the one a
    // GET would get (RFC 9110 §8.6), which the gateway does not know — the upstream never sent
    // the body to filter, and a GET may be decided differently (methods compare exactly).
    // 1xx, 204 and 304 responses carry neither a body nor Content-Length (RFC 9110 §8.6,
    // §15.3.5, §15.4.5): an upstream's 304 is relayed as a bare 304.
    const bool head_request = r.head.method == "HEAD";
    const bool no_body = head_request || status < 200 || status == 204 || status == 304;
    std::optional<std::size_t> length;
    if (!no_body) {
      length = body.size();
    }
    std::string out = serialize_response_head(status, o.fields, length, close);
    if (!no_body) {
      // One contiguous buffer: one SSL_write, so a small answer's head and body leave in one
      // TLS record and one socket write (tls_stream writes the first buffer of a sequence).
      out.append(body);
    }
    stream_.next_layer().expires_after(cfg_->limits.header_read_timeout);
    auto [ec, n] = co_await net::async_write(stream_, net::buffer(out), use_tuple);
    if (access) {
      access->status = status;
      access->bytes = no_body || ec ? 0 : static_cast<std::int64_t>(body.size());
      access->duration_us = micros_since(r.started);
      g_.access.write(*access);
    }
    co_return !ec && !close;
  }

  server::impl& g_;
  worker& w_;
  std::uint64_t tls_generation_;            // the trust state this connection was checked under
  std::shared_ptr<net::ssl::context> tls_;  // outlives stream_, whose SSL was made from it
  tls_stream stream_;
  std::shared_ptr<const config> cfg_;  // the config of the request being served
  beast::flat_buffer buffer_;
  peer_identity peer_;
  bool idle_ = false;
  bool abort_ = false;  // a streamed relay was cut: close without a clean TLS end
  std::list<session*>::iterator registration_;
  std::string client_;  // address:port of the peer, for the audit entries and the access log
};

net::awaitable<void> run_session(server::impl& g, worker& w, tcp::socket socket) {
  session s(g, w, std::move(socket));
  co_await s.run();
}

void stop_idle_sessions(worker& w) {
  for (session* s : w.sessions) {
    s->stop_if_idle();
  }
}

}  // namespace dsa::gateway
