// dsa::result (common/result.hpp): the one return type of the project's fallible operations.

#include "common/result.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "policy/result.hpp"

namespace {

dsa::result<int> half(int n) {
  if (n % 2 != 0) {
    return dsa::fail(std::to_string(n) + " is odd");
  }
  return n / 2;
}

dsa::result<void> check_even(int n) {
  if (auto h = half(n); !h) {
    return dsa::fail("cannot halve: " + h.error());
  }
  return {};
}

dsa::result<std::unique_ptr<std::string>> boxed(bool ok) {
  if (!ok) {
    return dsa::fail("no box");
  }
  return std::make_unique<std::string>("boxed");
}

}  // namespace

TEST_CASE("result<T> holds a value or the error text, never both", "[result]") {
  const auto ok = half(8);
  REQUIRE(ok);
  CHECK(ok.has_value());
  CHECK(ok.value() == 4);
  CHECK(*ok == 4);
  CHECK(ok.error().empty());

  const auto odd = half(7);
  CHECK_FALSE(odd);
  CHECK_FALSE(odd.has_value());
  CHECK(odd.error() == "7 is odd");
  // Asking an error for its value is a programming error, reported with the error's text.
  CHECK_THROWS_WITH(odd.value(), "result::value() called on an error: 7 is odd");
  CHECK_THROWS_AS(*odd, std::logic_error);

  // The static spelling the policy library uses builds the same error.
  const auto named = dsa::result<int>::failure("named");
  CHECK_FALSE(named);
  CHECK(named.error() == "named");
}

TEST_CASE("result<T> moves a move-only value out", "[result]") {
  auto r = boxed(true);
  REQUIRE(r);
  CHECK(**r == "boxed");
  CHECK((*r)->size() == 5);
  std::unique_ptr<std::string> taken = std::move(r).value();
  REQUIRE(taken);
  CHECK(*taken == "boxed");

  auto none = boxed(false);
  CHECK_FALSE(none);
  CHECK(none.error() == "no box");
}

TEST_CASE("result<void> is success by default and carries an error otherwise", "[result]") {
  const dsa::result<void> done;
  CHECK(done);
  CHECK(done.error().empty());

  CHECK(check_even(10));
  const auto failed = check_even(3);
  CHECK_FALSE(failed);
  CHECK_FALSE(failed.has_value());
  CHECK(failed.error() == "cannot halve: 3 is odd");
  CHECK(dsa::result<void>::failure("x").error() == "x");
}

TEST_CASE("policy::result names the same type", "[result]") {
  STATIC_REQUIRE(std::is_same_v<dsa::policy::result<int>, dsa::result<int>>);
}
