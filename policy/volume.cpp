#include "policy/volume.hpp"

#include <algorithm>
#include <functional>

namespace dsa::policy {

namespace {

std::string_view scope_value(const cap_keys& keys, cap_scope scope) {
  switch (scope) {
    case cap_scope::assignee:
      return keys.assignee;
    case cap_scope::case_ref:
      return keys.case_ref;
    case cap_scope::acting_user:
      return keys.acting_user;
    case cap_scope::incident:
      return keys.incident;
  }
  return keys.assignee;
}

// The key of one scope's list of times, written into a per-thread buffer so that a lookup of an
// existing key does not allocate.
const std::string& scope_key(const permission& perm, cap_scope scope, std::string_view value) {
  thread_local std::string key;
  key.clear();
  key.append(perm.counter_key);
  key.push_back('\x1f');
  key.append(to_string(scope));
  key.push_back('\x1f');
  key.append(value);
  return key;
}

std::chrono::microseconds longest_window(const permission& perm) {
  std::chrono::microseconds longest{0};
  for (const volume_cap& cap : perm.volume_caps) {
    longest = std::max(longest, cap.window);
  }
  return longest;
}

// Times nearly always arrive in order, so appending is the common case; a late one (seeding, or
// a thread that read the clock a moment earlier) is placed in order.
void insert_sorted(std::deque<time_point>& times, time_point t) {
  if (times.empty() || times.back() <= t) {
    times.push_back(t);
  } else {
    times.insert(std::upper_bound(times.begin(), times.end(), t), t);
  }
}

// One flag per cap_scope value (the last is `incident`), for the "recorded once per scope" loops.
constexpr std::size_t scope_count = static_cast<std::size_t>(cap_scope::incident) + 1;

void prune(std::deque<time_point>& times, time_point oldest) {
  while (!times.empty() && times.front() < oldest) {
    times.pop_front();
  }
}

}  // namespace

memory_volume_counter::shard& memory_volume_counter::shard_for(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % shard_count];
}

bool memory_volume_counter::try_acquire(const agreement& /*a*/, const permission& perm,
                                        const cap_keys& keys, time_point now,
                                        std::size_t& exceeded) {
  if (perm.volume_caps.empty()) {
    return true;
  }
  // Every cap of one permission lives in the same shard, so one lock makes the check-and-record
  // atomic across all of them.
  shard& s = shard_for(perm.counter_key);
  std::lock_guard lock(s.mutex);
  const time_point oldest = now - longest_window(perm);
  for (std::size_t i = 0; i < perm.volume_caps.size(); ++i) {
    const volume_cap& cap = perm.volume_caps[i];
    auto it = s.times.find(scope_key(perm, cap.scope, scope_value(keys, cap.scope)));
    if (it == s.times.end()) {
      if (cap.max == 0) {
        exceeded = i;
        return false;
      }
      continue;
    }
    prune(it->second, oldest);
    // Count the requests in [now − window, now]: an earlier request recorded at the same
    // microsecond (a burst, or `dsa test` cases sharing one instant) has already happened and
    // counts. Times after `now` (a clock stepped back) count too: both readings disclose less.
    auto from = std::lower_bound(it->second.begin(), it->second.end(), now - cap.window);
    if (static_cast<std::uint64_t>(it->second.end() - from) >= cap.max) {
      exceeded = i;
      return false;
    }
  }
  std::array<bool, scope_count> recorded{};
  for (const volume_cap& cap : perm.volume_caps) {
    auto& done = recorded[static_cast<std::size_t>(cap.scope)];
    if (done) {
      continue;  // two caps on one scope share one list of times
    }
    done = true;
    auto& times = s.times[scope_key(perm, cap.scope, scope_value(keys, cap.scope))];
    insert_sorted(times, now);
  }
  return true;
}

std::optional<std::chrono::microseconds> memory_volume_counter::until_free(const agreement& /*a*/,
                                                                           const permission& perm,
                                                                           const cap_keys& keys,
                                                                           time_point now) {
  std::chrono::microseconds wait{0};
  if (perm.volume_caps.empty()) {
    return wait;
  }
  shard& s = shard_for(perm.counter_key);
  std::lock_guard lock(s.mutex);
  for (const volume_cap& cap : perm.volume_caps) {
    if (cap.max == 0) {
      return std::nullopt;
    }
    auto it = s.times.find(scope_key(perm, cap.scope, scope_value(keys, cap.scope)));
    if (it == s.times.end()) {
      continue;
    }
    // The same count as try_acquire: times in [now − window, …). With n counted and room for
    // max, the (n − max + 1)-th oldest must leave; a time t is counted while now' − window <= t,
    // so it leaves one microsecond after t + window.
    auto from = std::lower_bound(it->second.begin(), it->second.end(), now - cap.window);
    const auto counted = static_cast<std::uint64_t>(it->second.end() - from);
    if (counted < cap.max) {
      continue;
    }
    const time_point leaves = *(from + static_cast<std::ptrdiff_t>(counted - cap.max)) +
                              cap.window + std::chrono::microseconds(1);
    wait = std::max(wait, std::chrono::duration_cast<std::chrono::microseconds>(leaves - now));
  }
  return wait;
}

void memory_volume_counter::record(const agreement& /*a*/, const permission& perm,
                                   const cap_keys& keys, time_point when) {
  if (perm.volume_caps.empty()) {
    return;
  }
  shard& s = shard_for(perm.counter_key);
  std::lock_guard lock(s.mutex);
  std::array<bool, scope_count> recorded{};
  for (const volume_cap& cap : perm.volume_caps) {
    auto& done = recorded[static_cast<std::size_t>(cap.scope)];
    if (done) {
      continue;
    }
    done = true;
    auto& times = s.times[scope_key(perm, cap.scope, scope_value(keys, cap.scope))];
    insert_sorted(times, when);
  }
}

std::uint64_t memory_volume_counter::count(const permission& perm, const volume_cap& cap,
                                           const cap_keys& keys, time_point now) {
  shard& s = shard_for(perm.counter_key);
  std::lock_guard lock(s.mutex);
  auto it = s.times.find(scope_key(perm, cap.scope, scope_value(keys, cap.scope)));
  if (it == s.times.end()) {
    return 0;
  }
  auto from = std::lower_bound(it->second.begin(), it->second.end(), now - cap.window);
  return static_cast<std::uint64_t>(it->second.end() - from);
}

}  // namespace dsa::policy
