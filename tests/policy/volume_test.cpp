// The in-memory volume counter under concurrency: the check and the record are one atomic step,
// so N threads racing for a cap of M get exactly M grants.

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;

TEST_CASE("concurrent requests never exceed a cap") {
  std::string text = replace(base_agreement, "max: 3}", "max: 50}");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  const agreement& a = *r.set->agreements[0];
  const permission& p = a.permissions[0];
  memory_volume_counter counter;
  std::atomic<int> granted{0};
  std::atomic<int> wrong_cap{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        std::size_t exceeded = 99;
        if (counter.try_acquire(a, p, {"police", "ASB-2026-000123", "PC1234"},
                                at("2026-11-24T10:00:00Z"), exceeded)) {
          granted.fetch_add(1);
        } else if (exceeded != 0) {
          wrong_cap.fetch_add(1);  // Catch2 assertions are not thread-safe: checked after join
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(granted.load() == 50);
  CHECK(wrong_cap.load() == 0);
}

TEST_CASE("two caps on one scope share one count, and the first cap reached is reported") {
  std::string text =
      replace(base_agreement, "volume_caps: [{scope: case_ref, window: P1D, max: 3}]",
              "volume_caps: [{scope: case_ref, window: P1D, max: 3}, {scope: assignee, window: "
              "PT1H, max: 2}]");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  const agreement& a = *r.set->agreements[0];
  const permission& p = a.permissions[0];
  memory_volume_counter counter;
  std::size_t exceeded = 99;
  CHECK(counter.try_acquire(a, p, {"police", "C1", ""}, at("2026-11-24T10:00:00Z"), exceeded));
  CHECK(counter.try_acquire(a, p, {"police", "C2", ""}, at("2026-11-24T10:00:01Z"), exceeded));
  // The assignee cap (2 per hour) is reached although case C3 has no requests yet.
  CHECK_FALSE(
      counter.try_acquire(a, p, {"police", "C3", ""}, at("2026-11-24T10:00:02Z"), exceeded));
  CHECK(exceeded == 1);
  // An hour later the assignee cap has room again.
  CHECK(counter.try_acquire(a, p, {"police", "C3", ""}, at("2026-11-24T11:00:02Z"), exceeded));
}

TEST_CASE("until_free is the wait after which the refused request would be granted") {
  std::string text =
      replace(base_agreement, "volume_caps: [{scope: case_ref, window: P1D, max: 3}]",
              "volume_caps: [{scope: case_ref, window: P1D, max: 3}, {scope: assignee, window: "
              "PT1H, max: 2}]");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  const agreement& a = *r.set->agreements[0];
  const permission& p = a.permissions[0];
  memory_volume_counter counter;
  std::size_t exceeded = 99;
  const cap_keys c3{"police", "C3", ""};
  CHECK(counter.until_free(a, p, c3, at("2026-11-24T10:00:00Z")) == std::chrono::microseconds(0));
  REQUIRE(counter.try_acquire(a, p, {"police", "C1", ""}, at("2026-11-24T10:00:00Z"), exceeded));
  REQUIRE(counter.try_acquire(a, p, {"police", "C2", ""}, at("2026-11-24T10:00:01Z"), exceeded));
  const time_point now = at("2026-11-24T10:00:02Z");
  REQUIRE_FALSE(counter.try_acquire(a, p, c3, now, exceeded));
  // The request at 10:00:00 leaves the one-hour window one microsecond after 11:00:00.
  const auto wait = counter.until_free(a, p, c3, now);
  REQUIRE(wait);
  CHECK(*wait == std::chrono::seconds(3598) + std::chrono::microseconds(1));
  CHECK_FALSE(counter.try_acquire(a, p, c3, now + *wait - std::chrono::microseconds(1), exceeded));
  CHECK(counter.try_acquire(a, p, c3, now + *wait, exceeded));

  // Case C1 (3 a day) is full after two more: its wait runs to the first C1 request plus a day.
  const time_point later = at("2026-11-24T12:00:00Z");
  REQUIRE(counter.try_acquire(a, p, {"police", "C1", ""}, later, exceeded));
  REQUIRE(
      counter.try_acquire(a, p, {"police", "C1", ""}, later + std::chrono::seconds(1), exceeded));
  const time_point then = later + std::chrono::seconds(2);
  REQUIRE_FALSE(counter.try_acquire(a, p, {"police", "C1", ""}, then, exceeded));
  CHECK(counter.until_free(a, p, {"police", "C1", ""}, then) ==
        at("2026-11-25T10:00:00Z") + std::chrono::microseconds(1) - then);
}

TEST_CASE("a cap of max 0 never frees") {
  std::string text = replace(base_agreement, "max: 3}", "max: 0}");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE(r.ok());
  const agreement& a = *r.set->agreements[0];
  memory_volume_counter counter;
  CHECK_FALSE(
      counter.until_free(a, a.permissions[0], {"police", "C1", ""}, at("2026-11-24T10:00:00Z")));
}
