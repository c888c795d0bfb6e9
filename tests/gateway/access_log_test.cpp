// The access log (docs/operations.md, section 8): one JSON line per answered request with the
// fields an edge-proxy admin expects, never a case reference, acting user, query or body; the
// diagnostic log's level; reopening after logrotate on SIGHUP.
#include "gateway/access_log.hpp"

#include "gateway/config.hpp"
#include "tests/gateway/ops_rig.hpp"

namespace {

using namespace dsa::gateway::testing;
using namespace dsa::gateway::testing::ops;

std::vector<json::object> lines_of(const fs::path& file) {
  std::vector<json::object> out;
  std::istringstream in(read_file(file));
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(json::parse(line).as_object());
  }
  return out;
}

const std::string base_config = R"(listen: 127.0.0.1:0
tls:
  certificate: gateway.pem
  private_key: gateway.key
  trust_anchors: [{name: partner-ca, ca_file: ca.pem}]
agreements_dir: agreements
audit: {path: audit.db, signing_key: key.pem}
)";

}  // namespace

TEST_CASE("access log paths lose their query and any case reference or acting user segment",
          "[gateway][access-log]") {
  using dsa::gateway::scrub_path;
  CHECK(scrub_path("/asb/v1/cases/ASB-2026-000001?q=1", "ASB-2026-000001", "") ==
        "/asb/v1/cases/{case_ref}");
  CHECK(scrub_path("/users/PC1234/cases/C9", "C9", "PC1234") ==
        "/users/{acting_user}/cases/{case_ref}");
  CHECK(scrub_path("/asb/v1/cases/ASB-2026-000001", "", "") == "/asb/v1/cases/ASB-2026-000001");
  CHECK(scrub_path("/a/ASB-1x/b", "ASB-1", "") == "/a/ASB-1x/b");  // whole segments only
  CHECK(scrub_path("", "x", "y").empty());

  dsa::gateway::access_record r;
  r.time_us = 1764583200123456;  // 2025-12-01T10:00:00.123456Z
  r.client = "127.0.0.1:5555";
  r.request_id = "abc";
  r.requester = "police";
  r.method = "GET";
  r.path = "/cases/C1?x=C1";
  r.case_ref = "C1";
  r.endpoint = "case";
  r.status = 200;
  r.reason = "allowed";
  r.bytes = 12;
  r.duration_us = 4127;
  CHECK(dsa::gateway::format_access_line(r) ==
        R"({"time":"2025-12-01T10:00:00.123456Z","client":"127.0.0.1:5555","request_id":"abc",)"
        R"("requester":"police","method":"GET","path":"/cases/{case_ref}","endpoint":"case",)"
        R"("status":200,"reason":"allowed","bytes":12,"duration_us":4127})"
        "\n");
}

TEST_CASE("access_log and log.level are read and checked", "[gateway][config][access-log]") {
  temp_dir dir;
  auto r = dsa::gateway::load_config(dir.write("a.yaml", base_config));
  REQUIRE(r.has_value());
  CHECK_FALSE(r.value().access_log.enabled);
  CHECK(r.value().log.level == dsa::gateway::log_level::info);
  r = dsa::gateway::load_config(dir.write(
      "b.yaml", base_config + "access_log: {enabled: true, path: logs/access.log}\nlog: {level: "
                              "warn}\n"));
  REQUIRE(r.has_value());
  CHECK(r.value().access_log.enabled);
  CHECK(r.value().access_log.path == dir.path() / "logs" / "access.log");
  CHECK(r.value().log.level == dsa::gateway::log_level::warn);
  r = dsa::gateway::load_config(dir.write("c.yaml", base_config + "access_log: {enabled: true}\n"));
  CHECK_FALSE(r.has_value());
  INFO(r.error());
  CHECK(r.error().find("c.yaml:8:13: access_log.enabled is true but access_log.path is missing") !=
        std::string::npos);
  r = dsa::gateway::load_config(dir.write("d.yaml", base_config + "log: {level: debug}\n"));
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("log.level must be info, warn or error, got 'debug'") != std::string::npos);
  r = dsa::gateway::load_config(
      dir.write("e.yaml", base_config + "access_log: {enabled: yes, path: a.log}\n"));
  CHECK_FALSE(r.has_value());
  CHECK(r.error().find("access_log.enabled must be true or false") != std::string::npos);
}

TEST_CASE(
    "the access log has a line per request with no case reference, acting user or body; "
    "log.level warn drops info lines; SIGHUP reopens a rotated file",
    "[gateway][integration][access-log]") {
  rig w(rig_options{.extra_yaml = "access_log: {enabled: true, path: access.log}\n"
                                  "log: {level: warn}\n"});
  const fs::path file = w.dir.path() / "access.log";
  std::string request_id;
  std::size_t body_bytes = 0;
  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send("GET " + case_path +
                   "?x=1 HTTP/1.1\r\nHost: gw.test\r\n\r\n"));  // query_not_allowed
    auto bad = c.read_response();
    REQUIRE(bad);
    CHECK(bad->status == 403);
    REQUIRE(c.send("GET " + case_path +
                   " HTTP/1.1\r\nHost: gw.test\r\nDSA-Purpose: asb-case-management\r\n"
                   "DSA-Case-Ref: ASB-2026-000001\r\nDSA-Acting-User: PC-4411\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    request_id = r->header("DSA-Request-Id");
    body_bytes = r->body.size();
  }
  {
    // No endpoint matches: the path as sent, less its query and the case reference.
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(
        c.send("GET /elsewhere/ASB-2026-000001/PC-4411?q=ASB-2026-000001 HTTP/1.1\r\n"
               "Host: gw.test\r\nDSA-Purpose: asb-case-management\r\n"
               "DSA-Case-Ref: ASB-2026-000001\r\nDSA-Acting-User: PC-4411\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 403);
  }
  REQUIRE(rig::wait_for([&] { return lines_of(file).size() == 3; }));
  const std::string text = read_file(file);
  INFO(text);
  CHECK(text.find("ASB-2026-000001") == std::string::npos);
  CHECK(text.find("PC-4411") == std::string::npos);
  CHECK(text.find("x=1") == std::string::npos);
  CHECK(text.find("open") == std::string::npos);  // a field of the body
  const auto lines = lines_of(file);
  const json::object& refused = lines[0];
  CHECK(refused.at("status") == 403);
  CHECK(refused.at("reason") == "query_not_allowed");
  // A matched endpoint is logged by its template: no identifier from the path.
  CHECK(refused.at("path") == "/asb/v1/cases/{case_id}");
  const json::object& allowed = lines[1];
  CHECK(allowed.at("request_id").as_string() == request_id);
  CHECK(allowed.at("requester") == "police");
  CHECK(allowed.at("method") == "GET");
  CHECK(allowed.at("path") == "/asb/v1/cases/{case_id}");
  CHECK(allowed.at("endpoint") == "asb-case");
  CHECK(allowed.at("status") == 200);
  CHECK(allowed.at("reason") == "allowed");
  CHECK(allowed.at("bytes") == static_cast<std::int64_t>(body_bytes));
  CHECK(allowed.at("duration_us").as_int64() > 0);
  CHECK(std::string(allowed.at("client").as_string()).rfind("127.0.0.1:", 0) == 0);
  CHECK(std::string(allowed.at("time").as_string()).size() == 27);
  const json::object& unmatched = lines[2];
  CHECK(unmatched.at("path") == "/elsewhere/{case_ref}/{acting_user}");
  CHECK(unmatched.at("endpoint") == "");
  CHECK(unmatched.at("reason") == "no_agreement");
  std::vector<std::string> keys;
  for (const auto& kv : allowed) {
    keys.emplace_back(kv.key());
  }
  CHECK(keys == std::vector<std::string>{"time", "client", "request_id", "requester", "method",
                                         "path", "endpoint", "status", "reason", "bytes",
                                         "duration_us"});

  // log.level warn: no info line on stderr (the start, the refusals of callers).
  CHECK(w.stderr_log().find(R"("level":"info")") == std::string::npos);

  // logrotate: the file is renamed, SIGHUP reopens the configured path.
  fs::rename(file, w.dir.path() / "access.log.1");
  REQUIRE(kill(w.gw->pid(), SIGHUP) == 0);
  REQUIRE(rig::wait_for(
      [&] { return audit_entries(w.gw->audit_db(), "agreements_loaded").size() == 2; }));
  CHECK(rig::wait_for([&] { return fs::exists(file); }));
  {
    tls_client c(w.gw->port(), "northshire-police");
    REQUIRE(c.handshake_ok());
    REQUIRE(c.send(request()));
    REQUIRE(c.read_response());
  }
  CHECK(rig::wait_for([&] { return lines_of(file).size() == 1; }));
  CHECK(lines_of(w.dir.path() / "access.log.1").size() == 3);
}
