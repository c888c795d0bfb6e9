#include "policy/reason.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>

using dsa::policy::reason;

namespace {

constexpr int k_count = static_cast<int>(reason::upstream_status) + 1;

reason nth(int i) { return static_cast<reason>(i); }

}  // namespace

TEST_CASE("every reason round-trips through its spelling", "[reason]") {
  std::set<std::string> seen;
  for (int i = 0; i < k_count; ++i) {
    const reason r = nth(i);
    const std::string_view name = dsa::policy::to_string(r);
    INFO("reason #" << i << " spelled '" << name << "'");
    CHECK_FALSE(name.empty());
    CHECK(seen.insert(std::string(name)).second);  // spellings are unique
    reason back = reason::allowed;
    if (r == reason::allowed) {
      back = reason::bad_request;  // so the check below proves from_string wrote `out`
    }
    REQUIRE(dsa::policy::from_string(name, back));
    CHECK(back == r);
    CHECK_FALSE(dsa::policy::title(r).empty());
  }
  CHECK(seen.size() == static_cast<std::size_t>(k_count));
}

TEST_CASE("spellings are the fixed wire vocabulary", "[reason]") {
  CHECK(dsa::policy::to_string(reason::allowed) == "allowed");
  CHECK(dsa::policy::to_string(reason::purpose_missing) == "purpose_missing");
  CHECK(dsa::policy::to_string(reason::volume_cap_exceeded) == "volume_cap_exceeded");
  CHECK(dsa::policy::to_string(reason::response_not_filterable) == "response_not_filterable");
  CHECK(dsa::policy::to_string(reason::upstream_status) == "upstream_status");
  CHECK(dsa::policy::title(reason::purpose_missing) == "Purpose missing");
}

TEST_CASE("from_string refuses what no reason spells", "[reason]") {
  reason out = reason::prohibited;
  CHECK_FALSE(dsa::policy::from_string("", out));
  CHECK_FALSE(dsa::policy::from_string("Allowed", out));
  CHECK_FALSE(dsa::policy::from_string("purpose_missing ", out));
  CHECK_FALSE(dsa::policy::from_string("no_such_reason", out));
  CHECK(out == reason::prohibited);  // untouched on failure
}

TEST_CASE("HTTP status of every reason", "[reason]") {
  using dsa::policy::http_status;
  CHECK(http_status(reason::allowed) == 200);
  for (int i = static_cast<int>(reason::unknown_requester);
       i < static_cast<int>(reason::volume_cap_exceeded); ++i) {
    INFO(dsa::policy::to_string(nth(i)));
    CHECK(http_status(nth(i)) == 403);
  }
  CHECK(http_status(reason::unknown_requester) == 403);
  CHECK(http_status(reason::ambiguous_requester) == 403);
  CHECK(http_status(reason::no_agreement) == 403);
  CHECK(http_status(reason::prohibited) == 403);
  CHECK(http_status(reason::volume_cap_exceeded) == 429);
  CHECK(http_status(reason::withheld_by_agreement) == 403);
  CHECK(http_status(reason::too_many_items) == 403);
  CHECK(http_status(reason::response_not_filterable) == 502);
  CHECK(http_status(reason::response_too_large) == 502);
  CHECK(http_status(reason::bad_request) == 400);
  CHECK(http_status(reason::headers_too_large) == 431);
  CHECK(http_status(reason::body_too_large) == 413);
  CHECK(http_status(reason::audit_unavailable) == 503);
  CHECK(http_status(reason::upstream_unavailable) == 502);
  CHECK(http_status(reason::upstream_timeout) == 504);
  CHECK(http_status(reason::upstream_status) == 502);
}

TEST_CASE("an out-of-range value never reads as allowed", "[reason]") {
  const auto bogus = static_cast<reason>(200);
  CHECK(dsa::policy::http_status(bogus) != 200);
  CHECK(dsa::policy::to_string(bogus) != "allowed");
  reason out = reason::allowed;
  CHECK_FALSE(dsa::policy::from_string(dsa::policy::to_string(bogus), out));
}
