#include "policy/canonical_path.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

using dsa::policy::canonicalize_target;
using dsa::policy::percent_decode;

namespace {

// The refusal text for `raw`; fails the test if `raw` is accepted.
std::string refusal(std::string_view raw) {
  const auto r = canonicalize_target(raw);
  INFO("target: " << raw);
  CHECK_FALSE(r.ok());
  CHECK(r.value.path.empty());  // nothing usable is left behind on refusal
  return r.error;
}

std::string canonical_path(std::string_view raw) {
  const auto r = canonicalize_target(raw);
  INFO("target: " << raw << " error: " << r.error);
  REQUIRE(r.ok());
  return r.value.path;
}

}  // namespace

using Catch::Matchers::Contains;

TEST_CASE("plain origin-form targets pass unchanged", "[canonical_path]") {
  CHECK(canonical_path("/") == "/");
  CHECK(canonical_path("/asb/v1/cases/ASB-2024-0001") == "/asb/v1/cases/ASB-2024-0001");
  CHECK(canonical_path("/a/b/") == "/a/b/");  // a trailing '/' is not an empty segment
  CHECK(canonical_path("/a!$&'()*+,;=:@b/c-d._~") == "/a!$&'()*+,;=:@b/c-d._~");
  CHECK(canonical_path("/...") == "/...");  // not a dot segment
  CHECK(canonical_path("/.well-known/x") == "/.well-known/x");
  CHECK(canonical_path("/a..b") == "/a..b");
}

TEST_CASE("target forms other than origin-form are refused", "[canonical_path]") {
  CHECK_THAT(refusal(""), Contains("empty request target"));
  CHECK_THAT(refusal("*"), Contains("asterisk-form"));
  CHECK_THAT(refusal("http://example.org/a"), Contains("absolute-form target is not accepted"));
  CHECK_THAT(refusal("https://partner.example/asb"), Contains("absolute-form"));
  CHECK_THAT(refusal("example.org:443"), Contains("authority-form"));
  CHECK_THAT(refusal("asb/v1/cases"), Contains("must start with '/'"));
  CHECK_THAT(refusal("?a=1"), Contains("must start with '/'"));
}

TEST_CASE("encoded separators, NUL and dots are refused in any case", "[canonical_path]") {
  CHECK_THAT(refusal("/a%2Fb"), Contains("encoded '/' (%2F) in path"));
  CHECK_THAT(refusal("/a%2fb"), Contains("encoded '/' (%2F) in path"));
  CHECK_THAT(refusal("/a%5Cb"), Contains("encoded '\\' (%5C) in path"));
  CHECK_THAT(refusal("/a%5cb"), Contains("encoded '\\' (%5C) in path"));
  CHECK_THAT(refusal("/a%00b"), Contains("encoded NUL (%00) in path"));
  CHECK_THAT(refusal("/a/%2E%2E/b"), Contains("encoded '.' (%2E) in path"));
  CHECK_THAT(refusal("/a/%2e/b"), Contains("encoded '.' (%2E) in path"));
  CHECK_THAT(refusal("/a/.%2e/b"), Contains("encoded '.' (%2E) in path"));
  // Even inside a segment: '%2E' is never decoded, so it can never form a dot segment later.
  CHECK_THAT(refusal("/file%2Ejson"), Contains("encoded '.' (%2E) in path"));
}

TEST_CASE("raw dot segments are refused wherever they are", "[canonical_path]") {
  CHECK_THAT(refusal("/a/../b"), Contains("dot segment '..' in path"));
  CHECK_THAT(refusal("/a/./b"), Contains("dot segment '.' in path"));
  CHECK_THAT(refusal("/.."), Contains("dot segment '..' in path"));
  CHECK_THAT(refusal("/a/.."), Contains("dot segment '..' in path"));
  CHECK_THAT(refusal("/a/."), Contains("dot segment '.' in path"));
  CHECK_THAT(refusal("/a/..?x=1"), Contains("dot segment '..' in path"));
  // Servlet containers strip ";param" and would then see "..".
  CHECK_THAT(refusal("/a/..;/admin"), Contains("dot segment with parameter '..'"));
  CHECK_THAT(refusal("/a/.;x/b"), Contains("dot segment with parameter '.'"));
}

TEST_CASE("empty segments are refused", "[canonical_path]") {
  CHECK_THAT(refusal("//"), Contains("empty path segment (//)"));
  CHECK_THAT(refusal("//evil.example/a"), Contains("empty path segment (//)"));
  CHECK_THAT(refusal("/a//b"), Contains("empty path segment (//)"));
  CHECK_THAT(refusal("/a/b//"), Contains("empty path segment (//)"));
}

TEST_CASE("backslashes, control and non-ASCII bytes are refused", "[canonical_path]") {
  CHECK_THAT(refusal("/a\\b"), Contains("backslash in path"));
  CHECK_THAT(refusal("/a/\\../b"), Contains("backslash in path"));
  CHECK_THAT(refusal("/caf\xC3\xA9"), Contains("non-ASCII byte 0xC3 in path"));
  CHECK_THAT(refusal("/\xFF"), Contains("non-ASCII byte 0xFF in path"));
  CHECK_THAT(refusal(std::string_view("/a\0b", 4)), Contains("control byte 0x00 in path"));
  CHECK_THAT(refusal("/a\tb"), Contains("control byte 0x09 in path"));
  CHECK_THAT(refusal("/a\r\nHost: x"), Contains("control byte 0x0D in path"));
  CHECK_THAT(refusal("/a\x7F"), Contains("control byte 0x7F in path"));
}

TEST_CASE("characters outside pchar are refused", "[canonical_path]") {
  CHECK_THAT(refusal("/a b"), Contains("space (0x20) in path"));
  CHECK_THAT(refusal("/a\"b"), Contains("character '\"' (0x22) not allowed in path"));
  CHECK_THAT(refusal("/a<b>"), Contains("character '<' (0x3C)"));
  CHECK_THAT(refusal("/a{b}"), Contains("character '{' (0x7B)"));
  CHECK_THAT(refusal("/a|b"), Contains("character '|' (0x7C)"));
  CHECK_THAT(refusal("/a^b"), Contains("character '^' (0x5E)"));
  CHECK_THAT(refusal("/a`b"), Contains("character '`' (0x60)"));
  CHECK_THAT(refusal("/a[0]"), Contains("character '[' (0x5B)"));
  CHECK_THAT(refusal("/a#frag"), Contains("fragment ('#') in target is not accepted"));
  CHECK_THAT(refusal("/a?x=1#frag"), Contains("fragment ('#')"));
}

TEST_CASE("bad percent-escapes are refused", "[canonical_path]") {
  CHECK_THAT(refusal("/a%zz"), Contains("bad percent-escape '%zz' in path"));
  CHECK_THAT(refusal("/a%G1/b"), Contains("bad percent-escape '%G1' in path"));
  CHECK_THAT(refusal("/a%4/b"), Contains("bad percent-escape '%4/' in path"));
  CHECK_THAT(refusal("/a%4"), Contains("truncated percent-escape at end of path"));
  CHECK_THAT(refusal("/a%"), Contains("truncated percent-escape at end of path"));
  CHECK_THAT(refusal("/a%?x=1"), Contains("truncated percent-escape at end of path"));
  CHECK_THAT(refusal("/a%%41"), Contains("bad percent-escape '%%4' in path"));
  CHECK_THAT(refusal("/a%4\xC3"), Contains("bad percent-escape '%4\\xC3' in path"));
}

TEST_CASE("escapes of unreserved characters are decoded, others kept as sent", "[canonical_path]") {
  CHECK(canonical_path("/%41") == "/A");
  CHECK(canonical_path("/c%61ses") == "/cases");
  CHECK(canonical_path("/%2D%5F%7E%30") == "/-_~0");
  CHECK(canonical_path("/%7e%2d") == "/~-");
  CHECK(canonical_path("/a%20b") == "/a%20b");
  CHECK(canonical_path("/a%3Ab%3a") == "/a%3Ab%3a");  // ':' is reserved: not decoded, case kept
  CHECK(canonical_path("/100%25") == "/100%25");      // '%' stays encoded
  CHECK(canonical_path("/%252F") == "/%252F");        // no double decoding
  CHECK(canonical_path("/a%3Fb") == "/a%3Fb");        // an encoded '?' is not a query
}

TEST_CASE("queries are validated but kept exactly as sent", "[canonical_path]") {
  const auto r = canonicalize_target("/search?date=2024%2F01&q=a/b?c&x=%7E");
  REQUIRE(r.ok());
  CHECK(r.value.path == "/search");
  CHECK(r.value.has_query);
  CHECK(r.value.query == "date=2024%2F01&q=a/b?c&x=%7E");
  CHECK(r.value.target() == "/search?date=2024%2F01&q=a/b?c&x=%7E");

  const auto decoded_path = canonicalize_target("/c%61ses?id=%41");
  REQUIRE(decoded_path.ok());
  CHECK(decoded_path.value.target() == "/cases?id=%41");

  CHECK_THAT(refusal("/a?x=%zz"), Contains("bad percent-escape '%zz' in query"));
  CHECK_THAT(refusal("/a?x=%4"), Contains("truncated percent-escape at end of query"));
  CHECK_THAT(refusal("/a?x=%00"), Contains("encoded NUL (%00) in query"));
  CHECK_THAT(refusal("/a?x=\xC3\xA9"), Contains("non-ASCII byte 0xC3 in query"));
  CHECK_THAT(refusal("/a?x=a b"), Contains("space (0x20) in query"));
  CHECK_THAT(refusal("/a?x=a\\b"), Contains("backslash in query"));
  CHECK_THAT(refusal("/a?x=\n"), Contains("control byte 0x0A in query"));
  CHECK_THAT(refusal("/a?x=<script>"), Contains("character '<' (0x3C) not allowed in query"));
}

TEST_CASE("a bare '?' means no query", "[canonical_path]") {
  const auto r = canonicalize_target("/a/b?");
  REQUIRE(r.ok());
  CHECK(r.value.path == "/a/b");
  CHECK_FALSE(r.value.has_query);
  CHECK(r.value.query.empty());
  CHECK(r.value.target() == "/a/b");

  const auto none = canonicalize_target("/a/b");
  REQUIRE(none.ok());
  CHECK_FALSE(none.value.has_query);
  CHECK(none.value.target() == "/a/b");

  const auto qq = canonicalize_target("/a??");  // the query is "?", which is not empty
  REQUIRE(qq.ok());
  CHECK(qq.value.has_query);
  CHECK(qq.value.query == "?");
  CHECK(qq.value.target() == "/a??");
}

TEST_CASE("percent_decode decodes every escape and refuses malformed ones", "[canonical_path]") {
  std::string out = "stale";
  REQUIRE(percent_decode("ASB%2D2024%2f01%20x+y", out));
  CHECK(out == "ASB-2024/01 x+y");  // no '+'-to-space
  REQUIRE(percent_decode("", out));
  CHECK(out.empty());
  REQUIRE(percent_decode("%c3%A9", out));
  CHECK(out == "\xC3\xA9");
  REQUIRE(percent_decode("%00", out));
  CHECK(out == std::string(1, '\0'));
  CHECK_FALSE(percent_decode("%", out));
  CHECK_FALSE(percent_decode("a%4", out));
  CHECK_FALSE(percent_decode("%zz", out));
  CHECK_FALSE(percent_decode("%-1", out));
}

TEST_CASE("encoded non-ASCII bytes in the path are refused: no second spelling of a character",
          "[canonical_path]") {
  // An overlong '.', a fullwidth '/', and plain UTF-8 text: each is a spelling some reader folds.
  CHECK_THAT(refusal("/a/%C0%AE%C0%AE/b"), Contains("encoded non-ASCII byte 0xC0 in path"));
  CHECK_THAT(refusal("/a%EF%BC%8Fb"), Contains("encoded non-ASCII byte 0xEF in path"));
  CHECK_THAT(refusal("/caf%c3%a9"), Contains("encoded non-ASCII byte 0xC3 in path"));
  CHECK_THAT(refusal("/a%80"), Contains("encoded non-ASCII byte 0x80 in path"));
  CHECK_THAT(refusal("/a%ff"), Contains("encoded non-ASCII byte 0xFF in path"));
  // In the query an encoded UTF-8 value is data and passes.
  const auto q = canonicalize_target("/a?name=caf%C3%A9");
  REQUIRE(q.ok());
  CHECK(q.value.query == "name=caf%C3%A9");
}

TEST_CASE("encoded control bytes are refused in the path and in query names and values",
          "[canonical_path]") {
  // LF and CR after a value a pattern ending in '.?' or '.*' would otherwise have accepted.
  CHECK_THAT(refusal("/referrals/R123456%0A"), Contains("encoded control byte 0x0A in path"));
  CHECK_THAT(refusal("/referrals/R123456%0d"), Contains("encoded control byte 0x0D in path"));
  CHECK_THAT(refusal("/a%01"), Contains("encoded control byte 0x01 in path"));
  CHECK_THAT(refusal("/a%1F"), Contains("encoded control byte 0x1F in path"));
  CHECK_THAT(refusal("/a%7f"), Contains("encoded control byte 0x7F in path"));
  CHECK_THAT(refusal("/a?include=actions%0D%0AX-Injected:%201"),
             Contains("encoded control byte 0x0D in query"));
  CHECK_THAT(refusal("/a?x%0A=1"), Contains("encoded control byte 0x0A in query"));
  CHECK_THAT(refusal("/a?x=%09"), Contains("encoded control byte 0x09 in query"));
  CHECK_THAT(refusal("/a?x=%7F"), Contains("encoded control byte 0x7F in query"));
  CHECK_THAT(refusal("/a?x=1&%00=2"), Contains("encoded NUL (%00) in query"));
  // The byte just above the control range is ordinary data.
  CHECK(canonicalize_target("/a?x=%20").ok());
  CHECK(canonical_path("/a%20b") == "/a%20b");
}

TEST_CASE("edge targets: empty last segment, ';' dot segments", "[canonical_path]") {
  // A trailing '/' is accepted here; it never matches a {name} placeholder (engine test).
  CHECK(canonical_path("/mash/v1/referrals/") == "/mash/v1/referrals/");
  CHECK_THAT(refusal("/a/..;x/b"), Contains("dot segment with parameter '..'; in path"));
  CHECK_THAT(refusal("/a/.;/b"), Contains("dot segment with parameter '.'; in path"));
  CHECK_THAT(refusal("/a//b"), Contains("empty path segment (//)"));
}
