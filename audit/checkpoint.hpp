#pragma once

// Signed checkpoints: the note text that commits to a tree size, root and signing time, in the
// C2SP tlog-checkpoint body form (three mandatory lines, then one extension line), signed with
// Ed25519 over exactly these bytes:
//
//   <origin>\n
//   <size, decimal, no leading zeros>\n
//   <base64 (RFC 4648 §4, padded) of the 32-byte RFC 9162 root>\n
//   time_us <UTC microseconds since the Unix epoch, decimal, no leading zeros>\n
//
// The time line is inside the signed bytes, so a checkpoint proves when the log had at least
// `size` entries. Stores of format dsa-audit/1 hold checkpoints without it (the first three lines
// only); those still parse, with `time_us` empty, and verify as before (see store.hpp).
//
// The exported form (`dsa audit checkpoint`) is a JSON document an auditor or a partner gateway
// keeps:
//
//   {"type": "dsa-audit-checkpoint", "origin": …, "size": N, "root": base64,
//    "time_us": T, "time": "RFC 3339 (informational)", "signature": base64}
//
// `time_us` is absent for a legacy checkpoint. The note is rebuilt from origin, size, root and
// time_us for the signature; `time` is for people and must agree with time_us.
//
// Thread safety: values and pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/crypto.hpp"
#include "common/result.hpp"

namespace dsa::audit {

struct checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  hash root{};
  std::optional<std::int64_t> time_us;  // absent only in legacy (dsa-audit/1) notes
};

[[nodiscard]] std::string checkpoint_note(const checkpoint& c);
// Strict parse: three or four lines each ending in \n, canonical decimal and base64, non-empty
// origin, the fourth line exactly "time_us " and a canonical non-negative decimal. nullopt for
// anything else, so one checkpoint has exactly one note.
[[nodiscard]] std::optional<checkpoint> parse_checkpoint_note(std::string_view note);
// An origin is one non-empty line of printable ASCII.
[[nodiscard]] bool valid_origin(std::string_view origin);

// A checkpoint with its signature, as exported for safekeeping outside the store.
struct signed_checkpoint {
  checkpoint c;
  std::string signature;  // raw 64 bytes
};

// `time` renders time_us as RFC 3339 UTC with microseconds, e.g. 2026-11-24T10:30:00.123456Z.
[[nodiscard]] std::string format_utc(std::int64_t time_us);
[[nodiscard]] std::string signed_checkpoint_to_json(const signed_checkpoint& s);
// Strict: the type, every member with its type and canonical encoding; fails naming the member.
[[nodiscard]] result<signed_checkpoint> signed_checkpoint_from_json(std::string_view text);
// The signature over checkpoint_note(s.c) verifies with `key`.
[[nodiscard]] bool verify_signed_checkpoint(const signed_checkpoint& s, const public_key& key);

}  // namespace dsa::audit
