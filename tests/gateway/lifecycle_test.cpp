// Integration tests of dsa-gateway over its life: restarts, the admin listener, reloads,
// --check, and connections that linger (integration_rig.hpp).
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/gateway/harness.hpp"
#include "tests/gateway/integration_rig.hpp"

namespace {
using namespace dsa::gateway::testing;
namespace json = boost::json;
}  // namespace

TEST_CASE("volume caps survive a gateway restart", "[gateway][integration]") {
  rig w;
  const std::string req =
      "GET /capped/abc HTTP/1.1\r\nHost: gw\r\nDSA-Purpose: asb-case-management\r\n\r\n";
  CHECK(one_shot(w.gw->port(), req)->status == 200);
  CHECK(one_shot(w.gw->port(), req)->status == 200);
  auto third = one_shot(w.gw->port(), req);
  REQUIRE(third);
  CHECK(third->status == 429);
  CHECK(problem_reason(*third) == "volume_cap_exceeded");
  // Retry-After: when the first of the two counted requests leaves the one-day window.
  REQUIRE(third->has_header("Retry-After"));
  const long wait = std::stol(third->header("Retry-After"));
  CHECK(wait > 86400 - 60);
  CHECK(wait <= 86400);
  CHECK(w.gw->stop() == 0);
  w.gw->start();
  auto after = one_shot(w.gw->port(), req);
  REQUIRE(after);
  CHECK(after->status == 429);
  // The counts seeded from the audit store give the same answer after a restart.
  REQUIRE(after->has_header("Retry-After"));
  CHECK(std::stol(after->header("Retry-After")) <= wait);
  CHECK(std::stol(after->header("Retry-After")) > 86400 - 120);
  CHECK(w.forwarded() == 2);
  // Start-up and shutdown are audited as lifecycle entries.
  CHECK(audit_entries(w.gw->audit_db(), "shutdown").size() == 1);
  CHECK(audit_entries(w.gw->audit_db(), "startup").size() == 2);
}

TEST_CASE("admin endpoints report health, readiness, agreements and metrics",
          "[gateway][integration]") {
  rig w;
  CHECK(one_shot(w.gw->port(), get_case())->status == 200);
  auto [hs, hb] = admin_get(w.gw->admin_port(), "/healthz");
  CHECK(hs == 200);
  CHECK(hb == "ok\n");
  CHECK(admin_get(w.gw->admin_port(), "/readyz").first == 200);
  auto [as, ab] = admin_get(w.gw->admin_port(), "/agreements");
  CHECK(as == 200);
  auto list = json::parse(ab).at("agreements").as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("id") == "test-gw");
  CHECK(list[0].at("version") == "1.0.0");
  auto [ms, mb] = admin_get(w.gw->admin_port(), "/metrics");
  CHECK(ms == 200);
  CHECK(mb.find("dsa_requests_total{decision=\"allow\",reason=\"allowed\",agreement=\"test-gw\","
                "requester=\"police\"} 1") != std::string::npos);
  CHECK(mb.find("dsa_audit_writable 1") != std::string::npos);
  CHECK(mb.find("dsa_request_duration_seconds_count 1") != std::string::npos);
  CHECK(admin_get(w.gw->admin_port(), "/nope").first == 404);
  // SIGTERM drains and exits 0.
  CHECK(w.gw->stop(SIGTERM) == 0);
}

TEST_CASE("SIGHUP reloads the agreements all-or-nothing", "[gateway][integration]") {
  rig w;
  auto version_served = [&] {
    auto [status, body] = admin_get(w.gw->admin_port(), "/agreements");
    if (status != 200) {
      return std::string();
    }
    return std::string(json::parse(body).at("agreements").at(0).at("version").as_string());
  };
  REQUIRE(version_served() == "1.0.0");
  std::string v2 = test_agreement;
  v2.replace(v2.find("version: 1.0.0"), 14, "version: 1.1.0");
  w.dir.write("agreements/test-gw.yaml", v2);
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && version_served() != "1.1.0"; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(version_served() == "1.1.0");
  auto r = one_shot(w.gw->port(), get_case());
  REQUIRE(r);
  CHECK(r->header("DSA-Agreement") == "test-gw@1.1.0");

  // A bad file anywhere in the set: the whole reload is refused and the old set stays.
  w.dir.write("agreements/broken.yaml", "schema: dsa/v2\nid: broken\n");
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && audit_entries(w.gw->audit_db(), "agreements_rejected").empty(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(audit_entries(w.gw->audit_db(), "agreements_rejected").size() == 1);
  CHECK(version_served() == "1.1.0");
  auto still = one_shot(w.gw->port(), get_case());
  REQUIRE(still);
  CHECK(still->status == 200);
}

TEST_CASE("dsa-gateway --check validates the config and lists where each endpoint is served",
          "[gateway][integration]") {
  rig w;
  const std::string bin = std::string(DSA_BINARY_DIR) + "/gateway/dsa-gateway";
  auto run = [&](const std::string& config, std::string& out) {
    FILE* p = popen((bin + " --check --config '" + config + "' 2>&1").c_str(), "r");
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      out.append(buf, n);
    }
    return WEXITSTATUS(pclose(p));
  };
  std::string out;
  CHECK(run((w.dir.path() / "gateway.yaml").string(), out) == 0);
  INFO(out);
  CHECK(out.find("agreement test-gw@1.0.0") != std::string::npos);
  CHECK(out.find("upstream council-asb        served here") != std::string::npos);
  CHECK(out.find("upstream police-records     not served here") != std::string::npos);

  std::string bad_out;
  const auto bad = w.dir.write("bad.yaml", "listen: 127.0.0.1:0\nthreads: many\n");
  CHECK(run(bad.string(), bad_out) == 1);
  CHECK(bad_out.find(bad.string() + ":2:10:") != std::string::npos);
}

TEST_CASE("slow heads, idle keep-alive connections and excess connections are closed",
          "[gateway][integration]") {
  rig w(rig_options{.header_read_timeout_ms = 400, .idle_timeout_ms = 600, .max_connections = 2});
  {
    // A head that never ends is cut off at the header-read timeout, unanswered.
    tls_client slow(w.gw->port(), "northshire-police");
    REQUIRE(slow.handshake_ok());
    REQUIRE(slow.send("GET " + case_path + " HTTP/1.1\r\nHost: gw\r\n"));
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(slow.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  {
    // A keep-alive connection is closed after the idle timeout.
    tls_client idle(w.gw->port(), "northshire-police");
    REQUIRE(idle.handshake_ok());
    REQUIRE(idle.send(get_case()));
    auto r = idle.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(idle.closed_by_server());
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited > 300ms);
    CHECK(waited < 3s);
  }
  {
    // limits.max_connections = 2: a third connection is closed at accept.
    for (int i = 0; i < 100; ++i) {
      if (admin_get(w.gw->admin_port(), "/metrics").second.find("dsa_open_connections 0") !=
          std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    tls_client a(w.gw->port(), "northshire-police");
    tls_client b(w.gw->port(), "northshire-police");
    REQUIRE(a.handshake_ok());
    REQUIRE(b.handshake_ok());
    tls_client c(w.gw->port(), "northshire-police");
    CHECK_FALSE(c.handshake_ok());
    auto [status, metrics] = admin_get(w.gw->admin_port(), "/metrics");
    CHECK(metrics.find("dsa_rejected_connections_total 1") != std::string::npos);
  }
  CHECK(w.requests().size() == 1);
}

TEST_CASE(
    "SIGTERM drains: in-flight requests finish, new connections are refused, exit 0, "
    "the final checkpoint covers the store and it verifies",
    "[gateway][integration][drain]") {
  rig w(rig_options{.upstream_args = {"--delay-ms", "1000"}, .threads = 2});
  // A keep-alive connection waiting for its next request is closed by the drain, unanswered.
  tls_client idle(w.gw->port(), "northshire-police");
  REQUIRE(idle.handshake_ok());
  // Three requests in flight on two I/O threads, each held by the upstream for a second.
  std::vector<std::unique_ptr<tls_client>> busy;
  for (int i = 0; i < 3; ++i) {
    busy.push_back(std::make_unique<tls_client>(w.gw->port(), "northshire-police"));
    REQUIRE(busy.back()->handshake_ok());
    REQUIRE(busy.back()->send(get_case()));
  }
  // Wait until the upstream holds all three (it records each request as it arrives).
  for (int i = 0; i < 250 && w.up->received().size() < 3; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(w.up->received().size() == 3);
  const auto signalled = std::chrono::steady_clock::now();
  REQUIRE(kill(w.gw->pid(), SIGTERM) == 0);
  // The listener closes at once: a new connection is refused while the three are still held.
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    const int fd = connect_tcp(w.gw->port());
    if (fd < 0) {
      refused = true;
    } else {
      close(fd);
      std::this_thread::sleep_for(5ms);
    }
  }
  CHECK(refused);
  CHECK(std::chrono::steady_clock::now() - signalled < 600ms);
  for (auto& c : busy) {
    auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("Connection") == "close");
    CHECK(r->body.find("ASB-2026-000001") != std::string::npos);
    CHECK(c->closed_by_server());
  }
  CHECK(idle.closed_by_server());
  // It exits by itself (signal 0 only waits), with status 0.
  CHECK(w.gw->stop(0) == 0);
  CHECK(audit_entries(w.gw->audit_db(), "shutdown").size() == 1);
  CHECK(w.requests().size() == 3);

  // The final checkpoint covers every entry, the shutdown entry included.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(w.gw->audit_db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
          SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    std::int64_t v = -1;
    if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
  };
  const std::int64_t entries = scalar("SELECT count(*) FROM entries");
  const std::int64_t checkpointed = scalar("SELECT size FROM checkpoints ORDER BY id DESC LIMIT 1");
  sqlite3_close(db);
  CHECK(entries == static_cast<std::int64_t>(audit_entries(w.gw->audit_db(), "").size()));
  CHECK(checkpointed == entries);

  const std::string verify = std::string(DSA_BINARY_DIR) + "/tools/dsa audit verify --db '" +
                             w.gw->audit_db().string() + "' 2>&1";
  FILE* p = popen(("timeout 60 " + verify).c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  const int st = pclose(p);
  INFO(out);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}
