// The gateway process: start-up (agreements, audit store, volume-cap seeding, TLS contexts,
// workers, listeners), the accept loop, signals (SIGHUP reload, SIGTERM/SIGINT drain) and the
// daily expiry check. One io_context per I/O thread (`threads`), each with its own upstream
// pools, so a session and the upstream connections it uses always run on one thread and need
// neither strands nor locks. Sessions are in session.cpp, the admin listener in admin.cpp, the
// state they share in state.cpp.

#include "gateway/server.hpp"

#include <malloc.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>

#include "gateway/admin.hpp"
#include "gateway/session.hpp"
#include "gateway/state.hpp"

// jemalloc's control interface, present when dsa-gateway is linked with it (CMakeLists.txt,
// DSA_JEMALLOC); weak, so a build on glibc's malloc links without it and sees a null pointer.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));
// MALLCTL_ARENAS_ALL of jemalloc's header, which only a jemalloc build could include.
#define JEMALLOC_ALL_ARENAS "4096"

namespace dsa::gateway {

using boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Gives the allocator's free pages back to the system. Loading the agreements frees far more
// than it keeps (each file's text and YAML tree, on the loader's threads' arenas too), and glibc
// returns freed memory by itself only from the top of the main heap: with 1,000 agreements this
// took the resident set after start from 41 to 33 MiB (docs/performance.md §7).
void release_free_memory() {
  if (mallctl != nullptr) {
    // Linked with jemalloc (the default build): every arena's unused dirty pages go back now
    // rather than after jemalloc's decay time.
    mallctl("arena." JEMALLOC_ALL_ARENAS ".purge", nullptr, nullptr, nullptr, 0);
    return;
  }
#ifdef __GLIBC__
  malloc_trim(0);
#endif
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
    const auto max_connections = g.current()->limits.max_connections;
    if (g.stats.open_connections() >= static_cast<std::int64_t>(max_connections)) {
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
      release_free_memory();  // the load's garbage, after its result has gone
      // Whether the new set was taken or refused, warn about the set and files now in force.
      g.check_expiry("reload");
      continue;
    }
    log_event("info", "draining", {{"signal", sig}});
    g.draining.store(true);
    g.expiry_timer->cancel();
    for (auto& t : g.crl_timers) {
      t->cancel();
    }
    error_code cec;
    g.acceptor->close(cec);
    for (auto& w : g.workers) {
      net::post(w->ioc, [wp = w.get()] { stop_idle_sessions(*wp); });
    }
    // Wait for the last session to end (it cancels the drain timer; see
    // server::impl::session_ended) or for the drain timeout. The count is checked and the wait
    // begun without yielding, and the cancel is posted to this thread, so no wake-up is lost.
    g.drain_timer->expires_after(g.current()->limits.drain_timeout);
    while (g.stats.open_connections() > 0) {
      auto [tec] = co_await g.drain_timer->async_wait(use_tuple);
      if (!tec) {
        break;  // the timeout
      }
      g.drain_timer->expires_at(g.drain_timer->expiry());  // a cancel: same deadline again
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

// The daily expiry check; start-up and each reload check on their own. Ends
// when the drain cancels the timer.
net::awaitable<void> expiry_loop(server::impl& g) {
  for (;;) {
    g.expiry_timer->expires_after(std::chrono::hours(24));
    auto [ec] = co_await g.expiry_timer->async_wait(use_tuple);
    if (ec || g.draining.load()) {
      co_return;
    }
    g.check_expiry("daily");
    g.check_overdue_reviews("daily");
  }
}

result<std::unique_ptr<tcp::acceptor>> bind(net::io_context& ioc, const host_port& at) {
  error_code ec;
  auto addr = net::ip::make_address(at.host, ec);
  if (ec) {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(at.host, std::to_string(at.port), ec);
    if (ec || results.empty()) {
      return fail("cannot resolve " + at.text());
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
    return fail("cannot listen on " + at.text() + ": " + ec.message());
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

result<std::unique_ptr<server>> server::create(const config& cfg) {
  auto g = std::make_unique<impl>();
  g->cfg = cfg;
  g->live.store(std::make_shared<const config>(cfg));
  set_log_level(cfg.log.level);
  if (cfg.access_log.enabled) {
    if (auto opened = g->access.open(cfg.access_log.path); !opened) {
      return fail(opened.error());
    }
  }

  policy::load_result loaded = g->load(cfg);
  for (const auto& d : loaded.diagnostics) {
    log_event(d.level == policy::severity::error ? "error" : "warn", "agreement_diagnostic",
              {{"message", d.format()}});
  }
  if (!loaded.ok()) {
    return fail("agreements in " + cfg.agreements_dir.string() + " have " +
                std::to_string(loaded.error_count()) + " error(s)");
  }

  // Before the store, so that a bad subject key refuses the start before anything is written
  // (docs/operations.md, "The subject key").
  auto subject_key = audit::subject_key::load_or_create(cfg.audit.subject_key);
  if (!subject_key) {
    return fail("audit.subject_key: " + subject_key.error());
  }
  g->subject_key = std::move(subject_key).value();

  audit::store_options so;
  so.db_path = cfg.audit.path;
  so.signing_key_path = cfg.audit.signing_key;
  so.origin = cfg.audit.origin;
  auto opened = audit::store::open(so);
  if (!opened) {
    return fail("audit store: " + opened.error());
  }
  g->store = std::move(opened).value();

  // docs/design.md §3: volume caps are rebuilt from the audit store, so a restart does not reset
  // them.
  // Only the longest cap window is read (each entry in it is hashed and checked, which costs
  // about 2.5 µs an entry), and nothing when no agreement has a cap.
  std::chrono::microseconds longest{0};
  for (const auto& a : loaded.set->agreements) {
    for (const auto& p : a->permissions) {
      for (const auto& cap : p.volume_caps) {
        longest = std::max(longest, cap.window);
      }
    }
  }
  std::size_t seeded = 0;
  std::vector<audit::counted_request> counted;
  if (longest.count() > 0) {
    auto read = g->store->counted_since(common::now_us() - longest.count());
    if (!read) {
      return fail("audit store: " + read.error());
    }
    counted = std::move(read).value();
  }
  for (const auto& cr : counted) {
    const policy::agreement* a = loaded.set->find(cr.agreement);
    if (a == nullptr) {
      continue;
    }
    for (const auto& p : a->permissions) {
      if (p.id == cr.permission && !p.volume_caps.empty()) {
        // The incident reference is read from the entry text like the other keys, so a cap
        // scoped per incident survives a restart as the others do (audit/store.hpp, READING).
        g->counter.record(
            *a, p, policy::cap_keys{cr.requester, cr.case_ref, cr.acting_user, cr.incident_ref},
            policy::time_point(std::chrono::microseconds(cr.time_us)));
        ++seeded;
      }
    }
  }

  // Emergency disclosures awaiting review (docs/operations.md, "Emergency disclosures"): read
  // from the whole log, since a review may be overdue by any time.
  auto emergencies = g->store->emergency_records();
  if (!emergencies) {
    return fail("audit store: " + emergencies.error());
  }
  g->emergencies.seed(emergencies.value());

  auto server_ctx = make_server_context(cfg.tls);
  if (!server_ctx) {
    return fail(server_ctx.error());
  }
  g->server_tls.store(std::make_shared<net::ssl::context>(server_ctx->release()));
  {
    tls_deadlines up;
    add_upstream_deadlines(cfg, up);
    g->upstream_deadlines = std::move(up.certificates);
  }
  g->refresh_deadlines(cfg);
  for (const auto& [name, up] : cfg.upstreams) {
    g->stats.add_upstream(name);
  }
  for (const auto& [name, up] : cfg.upstreams) {
    if (up.tls) {
      auto c = make_upstream_context(up);
      if (!c) {
        return fail(c.error());
      }
      g->upstream_tls[name] = std::make_shared<net::ssl::context>(c->release());
    }
  }

  for (int i = 0; i < cfg.threads; ++i) {
    auto w = std::make_unique<worker>();
    impl::rebuild_pools(*w, cfg, nullptr, g->upstream_tls);
    g->workers.push_back(std::move(w));
  }
  auto acceptor = bind(g->workers.front()->ioc, cfg.listen);
  if (!acceptor) {
    return fail(acceptor.error());
  }
  g->acceptor = std::move(acceptor).value();
  auto admin = bind(g->workers.front()->ioc, cfg.admin_listen);
  if (!admin) {
    return fail(admin.error());
  }
  g->admin = std::move(admin).value();

  audit::entry start;
  start.time_us = common::now_us();
  start.kind = audit::entry_kind::startup;
  start.details["listen"] = bound_text(*g->acceptor);
  start.details["seeded_counted_requests"] = seeded;
  g->audit_lifecycle(std::move(start));
  // Each file's text before the entry that names its SHA-256 (docs/auditing.md).
  g->archive_agreements(loaded);
  g->audit_lifecycle(
      g->agreements_entry(audit::entry_kind::agreements_loaded, loaded.set.get(), {}));
  g->engine.store(std::make_shared<const policy::engine>(loaded.set, served_upstreams(cfg)));
  log_event("info", "started",
            {{"agreements", loaded.set->agreements.size()},
             {"seeded_counted_requests", seeded},
             {"threads", cfg.threads}});
  g->check_expiry("start");
  g->check_overdue_reviews("start");
  g->expiry_timer = std::make_unique<net::steady_timer>(g->workers.front()->ioc);
  g->drain_timer = std::make_unique<net::steady_timer>(g->workers.front()->ioc);
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
  for (const auto& ta : g.cfg.tls.trust_anchors) {
    if (!ta.crl_url.empty()) {
      g.crl_timers.push_back(std::make_unique<net::steady_timer>(main_ioc));
      net::co_spawn(main_ioc, crl_refresh_loop(g, ta.name, *g.crl_timers.back()), &log_exception);
    }
  }

  release_free_memory();  // what server::create's load freed
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
  stop.time_us = common::now_us();
  stop.kind = audit::entry_kind::shutdown;
  g.audit_lifecycle(std::move(stop));
  g.store->close();
  log_event("info", "stopped");
  return 0;
}

}  // namespace dsa::gateway