// Config parsing (docs/design.md §7): defaults, relative paths, and errors that name file:line:col.
#include "gateway/config.hpp"

#include <catch2/catch.hpp>

#include "gateway/expiry.hpp"
#include "tests/gateway/harness.hpp"

using namespace dsa::gateway;
using dsa::gateway::testing::temp_dir;

namespace {
const std::string minimal = R"(listen: 127.0.0.1:0
tls:
  certificate: certs/gateway.pem
  private_key: certs/gateway.key
  trust_anchors:
    - {name: partner-ca, ca_file: certs/ca.pem}
agreements_dir: ../agreements
upstreams:
  council-asb: {url: "https://127.0.0.1:9001", ca_file: certs/upstream-ca.pem}
  plain: {url: "http://localhost:8080/"}
audit: {path: audit.db, signing_key: key.pem}
)";
}  // namespace

TEST_CASE("a minimal config gets the documented defaults and resolves paths against its directory",
          "[gateway][config]") {
  temp_dir dir;
  auto r = load_config(dir.write("gw/gateway.yaml", minimal));
  REQUIRE(r.error().empty());
  const config& c = *r;
  CHECK(c.listen.text() == "127.0.0.1:0");
  CHECK(c.admin_listen.text() == "127.0.0.1:0");
  CHECK(c.threads == 1);
  CHECK_FALSE(c.tls.min_tls13);
  CHECK(c.tls.certificate == dir.path() / "gw/certs/gateway.pem");
  CHECK(c.agreements_dir == dir.path() / "agreements");
  CHECK(c.limits.max_header_bytes == 16384);
  CHECK(c.limits.max_body_bytes == 10485760);
  CHECK(c.limits.header_read_timeout == std::chrono::seconds(10));
  CHECK(c.limits.idle_timeout == std::chrono::seconds(60));
  const auto& up = c.upstreams.at("council-asb");
  CHECK(up.tls);
  CHECK(up.authority == "127.0.0.1:9001");
  CHECK(up.connect_timeout == std::chrono::seconds(2));
  CHECK(up.response_timeout == std::chrono::seconds(30));
  CHECK(c.upstreams.at("plain").port == 8080);
  CHECK(c.upstreams.at("plain").authority == "localhost:8080");
}

TEST_CASE("config errors name file:line:col", "[gateway][config]") {
  temp_dir dir;
  auto check = [&](std::string text, const std::string& where, const std::string& what) {
    auto path = dir.write("gateway.yaml", text);
    auto r = load_config(path);
    INFO(text);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error(), Catch::Matchers::StartsWith(path.string() + ":" + where + ": "));
    CHECK_THAT(r.error(), Catch::Matchers::Contains(what));
  };
  check(minimal + "colour: blue\n", "12:1", "unknown key 'colour'");
  check(std::string(minimal).replace(minimal.find("127.0.0.1:0"), 11, "localhost"), "1:9",
        "HOST:PORT");
  check(std::string(minimal).replace(minimal.find("https://127.0.0.1:9001"), 22, "ftp://x"), "9:22",
        "http:// or https://");
  check(minimal + "limits: {max_body_bytes: lots}\n", "12:26", "integer");
  check(minimal + "tls2: 1\n", "12:1", "unknown key");
}

TEST_CASE("format_unix spells Unix seconds as RFC 3339 UTC, whole years included", "[expiry]") {
  CHECK(format_unix(0) == "1970-01-01T00:00:00Z");
  CHECK(format_unix(1'795'000'000) == "2026-11-18T11:06:40Z");
  CHECK(format_unix(253'402'300'799) == "9999-12-31T23:59:59Z");
}
