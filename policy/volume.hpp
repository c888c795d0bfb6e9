#pragma once

// Volume caps (docs/design.md §3): a cap counts the allowed requests under its permission whose
// time lies in [now − window, now) for the same scope key, and refuses once that count has reached
// `max`. Requests recorded at exactly `now` (or later, after a clock step) were allowed before this
// one and are counted as well: the reading that discloses less (docs/agreements.md, Decisions). The
// engine asks through volume_counter, so the gateway can seed counts from the audit store today and
// share them between instances later.

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "policy/model.hpp"

namespace dsa::policy {

// The scope keys of one request: the requester party, its case reference, acting user and the
// incident reference of a declared emergency (DSA-Emergency; empty when none).
struct cap_keys {
  std::string_view assignee, case_ref, acting_user, incident;
};

// Thread-safe counter of allowed requests.
class volume_counter {
 public:
  virtual ~volume_counter() = default;

  // Atomically: when every cap of `perm` is below its max for `keys` at `now`, records one
  // request at `now` and returns true; otherwise records nothing, stores the index of the first
  // cap that has reached its max in `exceeded` and returns false. A permission without caps
  // always returns true and records nothing.
  virtual bool try_acquire(const agreement& a, const permission& perm, const cap_keys& keys,
                           time_point now, std::size_t& exceeded) = 0;

  // After try_acquire refused: how long from `now` until every cap of `perm` that is full for
  // `keys` has a free slot again, which is when the oldest request that must leave its window
  // leaves it (the Retry-After of a 429). nullopt when a cap with `max: 0` is full (it never
  // frees); zero when no cap is full.
  virtual std::optional<std::chrono::microseconds> until_free(const agreement& a,
                                                              const permission& perm,
                                                              const cap_keys& keys,
                                                              time_point now) = 0;

  // Records a request allowed in the past (seeding from the audit store at start).
  virtual void record(const agreement& a, const permission& perm, const cap_keys& keys,
                      time_point when) = 0;
};

// In-process counter: per (agreement, permission, scope, key) a sorted list of times, pruned to
// the longest window of that permission. Counts survive an agreement reload because they are
// keyed by ids, not by pointers.
class memory_volume_counter final : public volume_counter {
 public:
  bool try_acquire(const agreement& a, const permission& perm, const cap_keys& keys, time_point now,
                   std::size_t& exceeded) override;
  void record(const agreement& a, const permission& perm, const cap_keys& keys,
              time_point when) override;
  std::optional<std::chrono::microseconds> until_free(const agreement& a, const permission& perm,
                                                      const cap_keys& keys,
                                                      time_point now) override;

  // The requests `cap` of `perm` counts for `keys` at `now` (those in [now − window, now] and
  // any later), as try_acquire counts them: what `dsa explain` shows beside each cap.
  std::uint64_t count(const permission& perm, const volume_cap& cap, const cap_keys& keys,
                      time_point now);

 private:
  static constexpr std::size_t shard_count = 16;
  struct shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::deque<time_point>> times;
  };
  shard& shard_for(const std::string& key);
  std::array<shard, shard_count> shards_;
};

}  // namespace dsa::policy
