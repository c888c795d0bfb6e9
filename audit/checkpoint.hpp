#pragma once

// Signed checkpoints: the note text that commits to a tree size and root, in the C2SP
// tlog-checkpoint body form, signed with Ed25519 over exactly these bytes:
//
//   <origin>\n
//   <size, decimal, no leading zeros>\n
//   <base64 (RFC 4648 §4, padded) of the 32-byte RFC 9162 root>\n
//
// Thread safety: values and pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/crypto.hpp"

namespace dsa::audit {

struct checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  hash root{};
};

[[nodiscard]] std::string checkpoint_note(const checkpoint& c);
// Strict parse: exactly three lines each ending in \n, canonical decimal and base64, non-empty
// origin. nullopt for anything else, so one checkpoint has exactly one note.
[[nodiscard]] std::optional<checkpoint> parse_checkpoint_note(std::string_view note);
// An origin is one non-empty line of printable ASCII.
[[nodiscard]] bool valid_origin(std::string_view origin);

}  // namespace dsa::audit
