#pragma once

// Reading members of the JSON documents an auditor keeps (inclusion and consistency proofs,
// exported checkpoints): a string member, or an unsigned integer member, or nothing when the
// member is absent or of another type. The callers say which member was wrong and why.

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsa::audit {

// The string member `key` of `o`; null when absent or not a string.
inline const boost::json::string* string_member(const boost::json::object& o,
                                                std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? &it->value().get_string() : nullptr;
}

// The non-negative integer member `key` of `o`; nullopt when absent, negative or not an integer.
inline std::optional<std::uint64_t> uint_member(const boost::json::object& o,
                                                std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) {
    return std::nullopt;
  }
  if (it->value().is_uint64()) {
    return it->value().get_uint64();
  }
  if (it->value().is_int64() && it->value().get_int64() >= 0) {
    return static_cast<std::uint64_t>(it->value().get_int64());
  }
  return std::nullopt;
}

}  // namespace dsa::audit
