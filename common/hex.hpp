#pragma once

// Lowercase hex and SHA-256 digests, shared by every library: policy (agreement file pins),
// audit (leaf and root hashes in proofs and notes) and gateway (certificate fingerprints, body
// hashes, request ids). It sits below all of them so none depends on another for it
// (docs/design.md §2).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dsa::common {

// Lowercase hex of `bytes`, two digits per byte.
[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
[[nodiscard]] std::string to_hex(std::string_view bytes);

// Lowercase hex SHA-256 of `data` (64 digits).
[[nodiscard]] std::string sha256_hex(std::string_view data);

}  // namespace dsa::common
