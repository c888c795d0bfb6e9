#pragma once

// The wall-clock time every audit entry and volume window is stamped with.

#include <chrono>
#include <cstdint>

namespace dsa::common {

// Microseconds since the Unix epoch, from the system clock.
[[nodiscard]] inline std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace dsa::common
