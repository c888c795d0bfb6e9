// Unit tests of the strict request-head checks and the canonical re-serialisation (no network).
#include "gateway/http_message.hpp"

#include <catch2/catch.hpp>

using namespace dsa::gateway;

namespace {
head_result parse(const std::string& s) { return parse_request_head(s); }
}  // namespace

TEST_CASE("find_head_end finds CRLFCRLF and refuses bare CR or LF early", "[gateway][http]") {
  CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n").end == 0);
  CHECK(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest").end == 27);
  CHECK(find_head_end("GET / HTTP/1.1\nHost").error == "bare LF in the request head");
  CHECK(find_head_end("GET / HTTP/1.1\rX").error == "bare CR in the request head");
  // A CR at the very end may still be followed by LF.
  CHECK(find_head_end("GET / HTTP/1.1\r").error.empty());
}

TEST_CASE("parse_request_head accepts a plain request and reads its framing", "[gateway][http]") {
  auto r = parse(
      "POST /a HTTP/1.1\r\nHost: gw:8443\r\nContent-Length: 12\r\n"
      "Connection: close, X-Trace\r\nDSA-Purpose:  p \r\n\r\n");
  REQUIRE(r.ok());
  CHECK(r.head.method == "POST");
  CHECK(r.head.target == "/a");
  CHECK(r.head.host == "gw:8443");
  CHECK(r.head.content_length == 12u);
  CHECK_FALSE(r.head.keep_alive);
  CHECK(r.head.connection_tokens == std::vector<std::string>{"close", "x-trace"});
  CHECK(r.head.field("dsa-purpose") == std::optional<std::string_view>("p"));
  auto h10 = parse("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(h10.ok());
  CHECK(h10.head.keep_alive);
}

TEST_CASE("parse_request_head refuses what RFC 9112 and docs/design.md §5 refuse",
          "[gateway][http]") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"GET / HTTP/1.1\r\n\r\n", "missing Host"},
      {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "duplicate Host"},
      {"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "origin-form"},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, cow\r\n\r\n", "exactly"},
      {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", "exactly"},
      {"GET / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       "both"},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "duplicate"},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\n", "malformed"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "obs-fold"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n", "name"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", "control"},
      {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "version"},
      {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", "upgrade"},
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request-line"},
      {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "Host"},
      {"GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", "expectation"},
  };
  for (const auto& [text, why] : bad) {
    INFO(text);
    auto r = parse(text);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.error, Catch::Matchers::Contains(why, Catch::CaseSensitive::No));
  }
}

TEST_CASE("the upstream request is canonical: hop-by-hop and client DSA-* removed",
          "[gateway][http]") {
  auto r = parse(
      "GET /x?q=1 HTTP/1.1\r\nHost: gw\r\nA: 1\r\nDSA-Requester: forged\r\n"
      "Connection: X-Hop\r\nX-Hop: 2\r\nTE: trailers\r\nB: 3\r\n\r\n");
  REQUIRE(r.ok());
  dsa_headers d{"police", "a@1", "p", "purpose", "", "", "rid"};
  CHECK(serialize_upstream_request(r.head, "/x?q=1", "up:9001", 0, d,
                                   conditional_fields::forward_all) ==
        "GET /x?q=1 HTTP/1.1\r\nHost: up:9001\r\nA: 1\r\nB: 3\r\nDSA-Requester: police\r\n"
        "DSA-Agreement: a@1\r\nDSA-Permission: p\r\nDSA-Purpose: purpose\r\n"
        "DSA-Request-Id: rid\r\n\r\n");
  CHECK(is_stripped_field("dsa-anything"));
  CHECK(is_stripped_field("Proxy-Authorization"));
  CHECK_FALSE(is_stripped_field("Accept"));
}

TEST_CASE("an upload's upstream head keeps its length, or goes chunked without one",
          "[gateway][http]") {
  auto r = parse(
      "POST /e HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
      "Content-Type: video/mp4\r\n\r\n");
  REQUIRE(r.ok());
  dsa_headers d{"police", "a@1", "p", "purpose", "", "", "rid"};
  const std::string chunked = serialize_upstream_request(r.head, "/e", "up", std::nullopt, d,
                                                         conditional_fields::strip_all);
  CHECK(chunked.find("Content-Type: video/mp4\r\nTransfer-Encoding: chunked\r\nDSA-") !=
        std::string::npos);
  CHECK(chunked.find("Content-Length") == std::string::npos);
  CHECK(chunked.find("Expect") == std::string::npos);
  CHECK(parse(chunked).head.chunked);
  const std::string sized = serialize_upstream_request(r.head, "/e", "up", 2147483648ull, d,
                                                       conditional_fields::strip_all);
  CHECK(sized.find("Content-Length: 2147483648\r\n") != std::string::npos);
  CHECK(sized.find("Transfer-Encoding") == std::string::npos);
}

TEST_CASE("fields a proxy would set never come from the client, in any spelling",
          "[gateway][http]") {
  for (const char* name :
       {"X-Forwarded-For", "x-forwarded-host", "X_Forwarded_Proto", "X-Forwarded-Client-Cert",
        "X-SSL-Client-Cert", "x_ssl_client_s_dn", "X-Original-URL", "X-Rewrite-URL",
        "X-HTTP-Method-Override", "X_HTTP_Method_Override", "X-Real-IP", "Forwarded",
        "DSA_Acting_User", "dsa_requester", "Via", "True-Client-IP"}) {
    INFO(name);
    CHECK(is_stripped_field(name));
  }
  for (const char* name : {"Accept", "Accept-Language", "X-Correlation-Id", "User-Agent"}) {
    INFO(name);
    CHECK_FALSE(is_stripped_field(name));
  }
}

TEST_CASE(
    "range and conditional fields: all dropped for filtered endpoints, range fields for "
    "streamed endpoints without ranges, none for streamed endpoints with ranges",
    "[gateway][http]") {
  auto r = parse(
      "GET /x HTTP/1.1\r\nHost: gw\r\nRange: bytes=0-10\r\nIf-None-Match: \"e\"\r\n"
      "if-modified-since: Tue, 01 Dec 2026 00:00:00 GMT\r\nIf_Range: \"e\"\r\nA: 1\r\n\r\n");
  REQUIRE(r.ok());
  dsa_headers d{"police", "a@1", "p", "purpose", "", "", "rid"};
  const std::string filtered =
      serialize_upstream_request(r.head, "/x", "up", 0, d, conditional_fields::strip_all);
  CHECK(filtered.find("Range") == std::string::npos);
  CHECK(filtered.find("If-") == std::string::npos);
  CHECK(filtered.find("if-") == std::string::npos);
  CHECK(filtered.find("If_") == std::string::npos);
  CHECK(filtered.find("A: 1\r\n") != std::string::npos);
  const std::string streamed =
      serialize_upstream_request(r.head, "/x", "up", 0, d, conditional_fields::forward_all);
  CHECK(streamed.find("Range: bytes=0-10\r\n") != std::string::npos);
  CHECK(streamed.find("If_Range") != std::string::npos);
  CHECK(streamed.find("If-None-Match") != std::string::npos);
  const std::string no_ranges =
      serialize_upstream_request(r.head, "/x", "up", 0, d, conditional_fields::strip_range);
  CHECK(no_ranges.find("Range") == std::string::npos);
  CHECK(no_ranges.find("If_Range") == std::string::npos);
  CHECK(no_ranges.find("If-None-Match: \"e\"\r\n") != std::string::npos);
  CHECK(no_ranges.find("if-modified-since") != std::string::npos);
}

TEST_CASE("only POST, PUT and PATCH take a body; others get no Content-Length upstream",
          "[gateway][http]") {
  CHECK(method_takes_body("POST"));
  CHECK(method_takes_body("PUT"));
  CHECK(method_takes_body("PATCH"));
  CHECK_FALSE(method_takes_body("GET"));
  CHECK_FALSE(method_takes_body("HEAD"));
  CHECK_FALSE(method_takes_body("DELETE"));
  auto r = parse("GET /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(r.ok());
  dsa_headers d{"police", "a@1", "p", "purpose", "", "", "rid"};
  CHECK(serialize_upstream_request(r.head, "/x", "up", 0, d, conditional_fields::strip_all)
            .find("Content-Length") == std::string::npos);
}

TEST_CASE("Host ports are decimal and at most 65535", "[gateway][http]") {
  for (const char* host :
       {"gw", "gw:443", "gw:", "127.0.0.1:8443", "[::1]", "[::1]:443", "gw.example.org:65535"}) {
    INFO(host);
    CHECK(parse(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n").ok());
  }
  for (const char* host : {"gw:99999x", "gw:65536", "gw:-1", "gw:1:2", ":443", "[::1", "[::1]x",
                           "[zz]:1", "gw:123456", "user@gw"}) {
    INFO(host);
    auto r = parse(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.error, Catch::Matchers::Contains("Host"));
  }
}

TEST_CASE("problem bodies carry the RFC 9457 members", "[gateway][http]") {
  CHECK(
      problem_body(403, "purpose_missing", "Purpose missing", "d", "rid") ==
      R"({"type":"https://dsa-gateway.example/problems/purpose_missing","title":"Purpose missing",)"
      R"("status":403,"detail":"d","reason":"purpose_missing","request_id":"rid"})");
  CHECK(serialize_response_head(200, {{"A", "b"}}, 3, true) ==
        "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
}
