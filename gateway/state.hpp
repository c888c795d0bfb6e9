#pragma once

// The gateway's shared state: what the session, the admin listener and start-up all use
// (the agreement set in force, the volume counter, the audit store, metrics, TLS contexts, the
// I/O workers), and the small helpers they share. Split out of server.cpp so that session.cpp,
// admin.cpp and server.cpp each include this header and none of them another (the layout is in
// docs/design.md §2).
//
// Thread safety: everything a session touches from its I/O thread is either immutable after
// start-up (cfg), swapped atomically whole (engine, server_tls, deadlines) or thread-safe by
// construction (counter, store, stats). A worker's members are used only on its own thread.

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/store.hpp"
#include "audit/subject_key.hpp"
#include "common/clock.hpp"
#include "gateway/access_log.hpp"
#include "gateway/config.hpp"
#include "gateway/emergency.hpp"
#include "gateway/expiry.hpp"
#include "gateway/metrics.hpp"
#include "gateway/readiness.hpp"
#include "gateway/server.hpp"
#include "gateway/tls.hpp"
#include "gateway/upstream.hpp"
#include "policy/engine.hpp"
#include "policy/loader.hpp"
#include "policy/volume.hpp"

namespace dsa::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// Microseconds since `t`.
[[nodiscard]] std::int64_t micros_since(std::chrono::steady_clock::time_point t);

// A request id: 128 bits from OpenSSL's CSPRNG as 32 lowercase hex digits.
[[nodiscard]] std::string random_request_id();

// Logs an exception that escaped a coroutine (co_spawn's completion handler); nothing throws out
// of a session by design, so this is a last resort.
void log_exception(std::exception_ptr e);

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

class session;

// One I/O thread. Member order matters at destruction: a drain that timed out leaves session
// coroutines suspended, and destroying `ioc` destroys them; their destructors unregister from
// `sessions`, so the list must outlive the context. The pools' idle sockets must go before the
// context.
struct worker {
  std::list<session*> sessions;  // touched only on this worker's thread
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  // Replaced on this thread when a reload changes an upstream; a request holds its pool.
  std::map<std::string, std::shared_ptr<upstream_pool>> pools;
  std::thread thread;
};

// The thread that hashes streamed bodies (docs/design.md §6, "Hashing off the I/O thread"): a
// relay posts each piece it has written here and goes on reading and writing the next while
// this thread computes the SHA-256 the audit entry records. One thread serves every worker,
// in the order pieces were posted; it is named dsa-hash so its CPU shows apart.
struct hash_worker {
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  std::thread thread;

  hash_worker();
  ~hash_worker();  // finishes what was posted, then joins
  hash_worker(const hash_worker&) = delete;
  hash_worker& operator=(const hash_worker&) = delete;
};

struct server::impl {
  // The config the process started with: the keys only a restart changes (listen addresses,
  // threads, the audit store) are read from it. Everything a reload may change is read from
  // current() (docs/operations.md, section 6).
  config cfg;
  std::atomic<std::shared_ptr<const config>> live;
  std::shared_ptr<const config> current() const { return live.load(); }
  std::atomic<std::shared_ptr<const policy::engine>> engine;
  policy::memory_volume_counter counter;
  std::unique_ptr<audit::store> store;
  // The secret disclosures' data subjects are hashed under (audit/subject_key.hpp); loaded or
  // created at start, never reloaded.
  std::unique_ptr<audit::subject_key> subject_key;
  metrics stats;
  // Every emergency disclosure in the store and whether it has been reviewed: seeded at start,
  // told of each one committed (emergency_committed) and each review (admin.cpp).
  emergency_registry emergencies;
  access_log access;  // open when access_log.enabled (docs/operations.md, section 8)
  // Swapped whole on SIGHUP (new CRLs); a session keeps the context it started with.
  std::atomic<std::shared_ptr<net::ssl::context>> server_tls;
  // Bumped after each successful reload has stored its server_tls: a session whose number is
  // older re-checks its client certificate before its next request (docs/operations.md).
  std::atomic<std::uint64_t> tls_generation{0};
  std::map<std::string, std::shared_ptr<net::ssl::context>> upstream_tls;
  std::vector<std::unique_ptr<worker>> workers;
  // Reset in ~impl before the workers: its tasks post wake-ups to their io_contexts.
  std::unique_ptr<hash_worker> hasher = std::make_unique<hash_worker>();
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<tcp::acceptor> admin;
  std::atomic<bool> draining{false};
  // Deadlines of the TLS files in use: replaced when a reload builds a new server context (the
  // upstream client certificates are read at start only, as their contexts are).
  std::atomic<std::shared_ptr<const tls_deadlines>> deadlines;
  std::vector<tls_deadline> upstream_deadlines;
  // The daily expiry check; declared after `workers` so it is destroyed before its io_context.
  std::unique_ptr<net::steady_timer> expiry_timer;
  // One per trust anchor with a crl_url at start (crl_refresh.hpp); cancelled by the drain.
  std::vector<std::unique_ptr<net::steady_timer>> crl_timers;
  // The drain's deadline, on the first worker's context; cancelled when the last session ends.
  std::unique_ptr<net::steady_timer> drain_timer;
  std::size_t next_worker = 0;

  ~impl();

  void audit_lifecycle(audit::entry e);

  audit::entry agreements_entry(audit::entry_kind kind, const policy::agreement_set* set,
                                const std::vector<policy::diagnostic>& diags);

  policy::load_result load(const config& c) const;

  // Archives each agreement file of `loaded` whose SHA-256 the store holds no agreement_text
  // entry for: one entry per file with its exact bytes, appended together and waited for
  // (docs/auditing.md, "Agreement archive"). Failures are logged; the next load retries them.
  void archive_agreements(const policy::load_result& loaded);

  // SIGHUP: gateway.yaml, the agreements and the TLS contexts all-or-nothing; a bad file or set
  // keeps the old one. Keys that need a restart are reported (log line and metric).
  void reload();

  // Re-reads the deadlines of the files the server context of `c` was built from.
  void refresh_deadlines(const config& c);

  // Builds the worker's pools for `next`, keeping the pool of an upstream whose settings (and
  // the body limit) are those of `prev`. Runs on the worker's thread.
  static void rebuild_pools(worker& w, const config& next, const config* prev,
                            const std::map<std::string, std::shared_ptr<net::ssl::context>>& tls);

  // Logs an expiry_warning for everything inside the warning window, against
  // the agreement set and TLS files in force now. `when`: start, reload or daily.
  void check_expiry(std::string_view when);

  worker& pick_worker();

  // An emergency disclosure's entry was committed (any thread): registered, counted, and one
  // `warn` line logged (docs/operations.md, "Emergency disclosures").
  void emergency_committed(emergency_disclosure d);

  // Logs one `warn` line with the number of emergency disclosures whose review is overdue, when
  // there are any. `when`: start or daily.
  void check_overdue_reviews(std::string_view when);

  // A session ended (any thread): during a drain, the last one wakes the drain.
  void session_ended();
};

// Fetches the CRL of trust anchor `anchor` now and every crl_refresh_interval_s until the drain
// cancels `timer` or a reload removes the anchor's crl_url (gateway/crl_refresh.hpp).
net::awaitable<void> crl_refresh_loop(server::impl& g, std::string anchor,
                                      net::steady_timer& timer);

}  // namespace dsa::gateway
