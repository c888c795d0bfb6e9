#include "gateway/state.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <future>
#include <set>

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

hash_worker::hash_worker()
    : thread([this] {
        pthread_setname_np(pthread_self(), "dsa-hash");
        ioc.run();
      }) {}

hash_worker::~hash_worker() {
  work.reset();
  thread.join();
}

server::impl::~impl() {
  hasher.reset();  // joined before the io_contexts its tasks post wake-ups to are destroyed
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

audit::entry server::impl::agreements_entry(audit::entry_kind kind,
                                            const policy::agreement_set* set,
                                            const std::vector<policy::diagnostic>& diags) {
  audit::entry e;
  e.time_us = common::now_us();
  e.kind = kind;
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

void server::impl::archive_agreements(const policy::load_result& loaded) {
  if (!loaded.set) {
    return;
  }
  struct queued {
    const policy::agreement* a;
    std::future<audit::commit_result> done;
  };
  std::vector<queued> waiting;
  std::set<std::string_view> seen;
  for (const auto& a : loaded.set->agreements) {
    if (store->agreement_archived(a->sha256) || !seen.insert(a->sha256).second) {
      continue;
    }
    // The text archived must be the bytes the loaded set was hashed from: checked again here so
    // that an archive entry can never name a SHA-256 its text does not have.
    const auto text = loaded.texts.find(a->sha256);
    if (text == loaded.texts.end() || common::sha256_hex(text->second) != a->sha256) {
      log_event("error", "agreement_archive_failed",
                {{"file", a->file},
                 {"sha256", a->sha256},
                 {"error", "the bytes the loader hashed are not at hand or hash differently"}});
      continue;
    }
    audit::entry e;
    e.time_us = common::now_us();
    e.kind = audit::entry_kind::agreement_text;
    e.agreement = a->id;
    e.agreement_version = a->version;
    e.agreement_sha256 = a->sha256;
    e.details["file"] = a->file;
    e.details["text"] = json::string(text->second);
    auto p = std::make_shared<std::promise<audit::commit_result>>();
    waiting.push_back({a.get(), p->get_future()});
    store->append(std::move(e), [p](const audit::commit_result& r) { p->set_value(r); });
  }
  for (auto& q : waiting) {
    const audit::commit_result r = q.done.get();
    if (r.ok) {
      log_event("info", "agreement_archived",
                {{"file", q.a->file}, {"sha256", q.a->sha256}, {"seq", r.seq}});
    } else {
      log_event("error", "agreement_archive_failed",
                {{"file", q.a->file}, {"sha256", q.a->sha256}, {"error", r.error}});
    }
  }
}

policy::load_result server::impl::load(const config& c) const {
  policy::load_options opts;
  std::set<std::string> anchors;
  for (const auto& ta : c.tls.trust_anchors) {
    anchors.insert(ta.name);
  }
  opts.trust_anchors = std::move(anchors);
  opts.now = policy::time_point(std::chrono::microseconds(common::now_us()));
  return policy::load_agreements({c.agreements_dir}, opts);
}

namespace {

// The keys of `next` a running process cannot take up: they were bound or opened at start.
std::vector<std::string> restart_only_changes(const config& running, const config& next) {
  std::vector<std::string> keys;
  if (running.listen.text() != next.listen.text()) {
    keys.emplace_back("listen");
  }
  if (running.admin_listen.text() != next.admin_listen.text()) {
    keys.emplace_back("admin_listen");
  }
  if (running.threads != next.threads) {
    keys.emplace_back("threads");
  }
  if (running.audit.path != next.audit.path) {
    keys.emplace_back("audit.path");
  }
  if (running.audit.signing_key != next.audit.signing_key) {
    keys.emplace_back("audit.signing_key");
  }
  if (running.audit.subject_key != next.audit.subject_key) {
    keys.emplace_back("audit.subject_key");
  }
  if (running.audit.origin != next.audit.origin) {
    keys.emplace_back("audit.origin");
  }
  return keys;
}

policy::diagnostic config_diagnostic(const config& c, std::string message, std::string code) {
  policy::diagnostic d;
  d.file = c.file.string();
  d.message = std::move(message);
  d.code = std::move(code);
  return d;
}

}  // namespace

void server::impl::rebuild_pools(
    worker& w, const config& next, const config* prev,
    const std::map<std::string, std::shared_ptr<net::ssl::context>>& tls) {
  std::map<std::string, std::shared_ptr<upstream_pool>> pools;
  for (const auto& [name, up] : next.upstreams) {
    if (prev != nullptr && prev->limits.max_body_bytes == next.limits.max_body_bytes) {
      auto before = prev->upstreams.find(name);
      auto pool = w.pools.find(name);
      if (before != prev->upstreams.end() && before->second == up && pool != w.pools.end()) {
        pools.emplace(name, pool->second);  // unchanged: its idle connections stay
        continue;
      }
    }
    auto ctx = tls.find(name);
    pools.emplace(
        name, std::make_shared<upstream_pool>(w.ioc, up, ctx == tls.end() ? nullptr : ctx->second,
                                              next.limits.max_body_bytes));
  }
  // A request in flight holds its pool; a replaced pool's idle connections close with it.
  w.pools = std::move(pools);
}

// SIGHUP: gateway.yaml, the agreements and the TLS contexts all-or-nothing. Every step that can
// fail runs first, into locals; only when all have succeeded is anything swapped in.
void server::impl::reload() {
  const std::shared_ptr<const config> prev = current();
  result<config> read = load_config(cfg.file);
  std::vector<policy::diagnostic> problems;
  policy::load_result r;
  ssl_ctx_ptr fresh_tls;
  std::map<std::string, std::shared_ptr<net::ssl::context>> fresh_upstream_tls;
  if (!read) {
    problems.push_back(
        config_diagnostic(*prev, "gateway config: " + read.error(), "config-reload"));
  } else {
    const config& next = read.value();
    r = load(next);
    problems = r.diagnostics;
    if (auto made = make_server_context(next.tls)) {
      fresh_tls = std::move(made).value();
    } else {
      const std::string& tls_error = made.error();
      log_event("error", "tls_reload_failed", {{"error", tls_error}});
      problems.push_back(config_diagnostic(next, "TLS reload failed: " + tls_error, "tls-reload"));
    }
    for (const auto& [name, up] : next.upstreams) {
      if (!up.tls) {
        continue;
      }
      auto before = prev->upstreams.find(name);
      auto ctx = upstream_tls.find(name);
      if (before != prev->upstreams.end() && before->second == up && ctx != upstream_tls.end()) {
        fresh_upstream_tls.emplace(name, ctx->second);
      } else if (auto c = make_upstream_context(up)) {
        fresh_upstream_tls.emplace(name, std::make_shared<net::ssl::context>(c.value().release()));
      } else {
        problems.push_back(config_diagnostic(next, c.error(), "tls-reload"));
      }
    }
  }
  const auto rejected = [&](const policy::diagnostic& d) {
    return d.level == policy::severity::error;
  };
  const bool ok = read.has_value() && r.ok() && fresh_tls &&
                  std::none_of(problems.begin(), problems.end(), rejected);
  // Opening the access log swaps it in, so it is the last fallible step.
  bool access_ok = false;
  if (ok) {
    const config& next = read.value();
    const std::filesystem::path path =
        next.access_log.enabled ? next.access_log.path : std::filesystem::path();
    if (auto opened = access.open(path)) {
      access_ok = true;
    } else {
      problems.push_back(config_diagnostic(next, opened.error(), "access-log"));
    }
  }
  if (!ok || !access_ok) {
    for (const auto& d : problems) {
      if (d.level == policy::severity::error) {
        log_event("error", "agreement_diagnostic", {{"message", d.format()}});
      }
    }
    log_event("error", "agreements_rejected",
              {{"errors", std::count_if(problems.begin(), problems.end(), rejected)},
               {"kept", "previous config and set"}});
    audit_lifecycle(agreements_entry(audit::entry_kind::agreements_rejected, nullptr, problems));
    stats.count_reload(false, common::now_us() / 1000000);
    return;
  }

  auto next = std::make_shared<const config>(std::move(read).value());
  const std::vector<std::string> pending = restart_only_changes(cfg, *next);
  archive_agreements(r);
  audit_lifecycle(
      agreements_entry(audit::entry_kind::agreements_loaded, r.set.get(), r.diagnostics));
  for (const auto& [name, up] : next->upstreams) {
    stats.add_upstream(name);
  }
  upstream_tls = std::move(fresh_upstream_tls);
  for (auto& w : workers) {
    net::post(w->ioc, [wp = w.get(), next, prev, tls = upstream_tls] {
      rebuild_pools(*wp, *next, prev.get(), tls);
    });
  }
  set_log_level(next->log.level);
  live.store(next);
  engine.store(std::make_shared<const policy::engine>(r.set, served_upstreams(*next)));
  server_tls.store(std::make_shared<net::ssl::context>(fresh_tls.release()));
  tls_generation.fetch_add(1);
  {
    tls_deadlines up;
    add_upstream_deadlines(*next, up);
    upstream_deadlines = std::move(up.certificates);
  }
  refresh_deadlines(*next);
  stats.set_restart_required(pending.size());
  if (!pending.empty()) {
    json::array keys;
    for (const auto& k : pending) {
      keys.push_back(json::string(k));
    }
    log_event("warn", "reload_restart_required",
              {{"keys", std::move(keys)},
               {"detail", "these keys keep their start-up values until a restart"}});
  }
  stats.count_reload(true, common::now_us() / 1000000);
  log_event("info", "agreements_loaded", {{"agreements", r.set->agreements.size()}});
}

// Re-reads the deadlines of the files the server context of `c` was built from.
void server::impl::refresh_deadlines(const config& c) {
  auto d = std::make_shared<tls_deadlines>(read_server_deadlines(c.tls));
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
  const int window = current()->warnings.expiry_days;
  for (const auto& w : expiry_warnings(eng->agreements(), *d, now, window)) {
    stats.count_expiry_warning(w.what);
    log_event("warn", "expiry_warning",
              {{"check", when},
               {"subject", w.subject},
               {"what", w.what},
               {"at", format_unix(w.at_unix)},
               {"days_left", w.days_left},
               {"window_days", window}});
  }
}

void server::impl::emergency_committed(emergency_disclosure d) {
  stats.count_emergency_disclosure(d.agreement, d.permission);
  // The incident reference and justification stay in the audit store: logs leave its boundary.
  log_event("warn", "emergency_disclosure",
            {{"request_id", d.request_id},
             {"seq", d.seq},
             {"agreement", d.agreement},
             {"permission", d.permission},
             {"requester", d.requester},
             {"review_due", format_unix(d.due_us / 1000000)}});
  emergencies.disclosed(std::move(d));
}

void server::impl::check_overdue_reviews(std::string_view when) {
  const std::vector<emergency_disclosure> overdue = emergencies.overdue(common::now_us());
  if (overdue.empty()) {
    return;
  }
  // The oldest few by request id and seq, so the line points at what to review first; the
  // whole list is `dsa audit review --pending`.
  json::array oldest;
  for (std::size_t i = 0; i < overdue.size() && i < 10; ++i) {
    oldest.push_back(json::object{{"request_id", overdue[i].request_id},
                                  {"seq", overdue[i].seq},
                                  {"agreement", overdue[i].agreement},
                                  {"due", format_unix(overdue[i].due_us / 1000000)}});
  }
  log_event("warn", "emergency_reviews_overdue",
            {{"check", when},
             {"overdue", overdue.size()},
             {"oldest", std::move(oldest)},
             {"detail",
              "record each review with `dsa audit review`; list them with `dsa audit "
              "review --pending`"}});
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
