#include "state.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <cstring>
#include <future>

#include "common/hex.hpp"

namespace dsa::gateway {

namespace json = boost::json;

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
    const std::uint64_t a = static_cast<std::uint64_t>(common::now_us());
    const std::uint64_t b = fallback.fetch_add(1);
    std::memcpy(bytes, &a, 8);
    std::memcpy(bytes + 8, &b, 8);
  }
  return common::to_hex(std::span<const std::uint8_t>(bytes));
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

// ---------------------------------------------------------------------------------------------
// server::impl

server::impl::~impl() {
  if (store) {
    store->close();  // before the io_contexts its callbacks post to are destroyed
  }
}

void server::impl::audit_lifecycle(audit::entry e) {
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

audit::entry server::impl::agreements_entry(std::string kind, const policy::agreement_set* set,
                                            const std::vector<policy::diagnostic>& diags) {
  audit::entry e;
  e.time_us = common::now_us();
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

policy::load_result server::impl::load() const {
  policy::load_options opts;
  std::set<std::string> anchors;
  for (const auto& ta : cfg.tls.trust_anchors) {
    anchors.insert(ta.name);
  }
  opts.trust_anchors = std::move(anchors);
  opts.now = policy::time_point(std::chrono::microseconds(common::now_us()));
  return policy::load_agreements({cfg.agreements_dir}, opts);
}

// SIGHUP: agreements and the TLS context (CRLs, CA files) all-or-nothing; a bad set keeps the
// old one.
void server::impl::reload() {
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
    stats.count_reload(false, common::now_us() / 1000000);
    return;
  }
  audit_lifecycle(agreements_entry("agreements_loaded", r.set.get(), r.diagnostics));
  engine.store(std::make_shared<const policy::engine>(r.set, served_upstreams(cfg)));
  server_tls.store(std::make_shared<net::ssl::context>(fresh_tls.release()));
  tls_generation.fetch_add(1);
  refresh_deadlines();
  if (cfg.access_log.enabled) {
    // Reopened on every accepted reload, so that logrotate's `postrotate` can be a reload.
    std::string error;
    if (!access.open(cfg.access_log.path, error)) {
      log_event("error", "access_log_reopen_failed", {{"error", error}, {"kept", "old file"}});
    }
  }
  stats.count_reload(true, common::now_us() / 1000000);
  log_event("info", "agreements_loaded", {{"agreements", r.set->agreements.size()}});
}

// Re-reads the deadlines of the files the current server context was built from.
void server::impl::refresh_deadlines() {
  auto d = std::make_shared<tls_deadlines>(read_server_deadlines(cfg.tls));
  d->certificates.insert(d->certificates.end(), upstream_deadlines.begin(),
                         upstream_deadlines.end());
  deadlines.store(std::move(d));
}

// Logs an expiry_warning for everything inside the warning window, against
// the agreement set and TLS files in force now. `when`: start, reload or daily.
void server::impl::check_expiry(std::string_view when) {
  auto eng = engine.load();
  auto d = deadlines.load();
  if (!eng || !d) {
    return;
  }
  const std::int64_t now = common::now_us() / 1000000;
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

worker& server::impl::pick_worker() {
  worker& w = *workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  return w;
}

void server::impl::session_ended() {
  stats.connection_closed();
  if (draining.load() && stats.open_connections() == 0 && drain_timer) {
    net::post(workers.front()->ioc, [this] { drain_timer->cancel(); });
  }
}

}  // namespace dsa::gateway
