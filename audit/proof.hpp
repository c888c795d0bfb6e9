#pragma once

// Inclusion proofs (RFC 9162 §2.1.3) of one entry against the store's latest signed checkpoint,
// as a self-contained JSON document an auditor can check with only the public key:
//
//   {"origin": …, "size": N, "root": base64, "time_us": T, "signature": base64,  -- checkpoint
//    "leaf_index": i, "entry": "<stored text>", "leaf_hash": base64,             -- the entry
//    "path": [base64, …]}                                                        -- PATH(i, D[N])
//
// The checkpoint note is rebuilt from origin, size, root and time_us (checkpoint.hpp) for the
// signature; time_us is absent when the checkpoint is a legacy one without a signed time.
//
// Thread safety: pure functions. Errors: a result saying what failed (common/result.hpp); nothing
// throws.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/crypto.hpp"
#include "common/result.hpp"

namespace dsa::audit {

struct inclusion_proof {
  std::string origin;
  std::uint64_t size = 0;
  hash root{};
  std::optional<std::int64_t> time_us;  // the checkpoint's signed time; absent for legacy notes
  std::string signature;                // raw 64 bytes
  std::uint64_t leaf_index = 0;
  std::string entry;  // the stored entry text
  hash leaf{};
  std::vector<hash> path;
};

// Builds the proof of entry `seq` from the store at `db` (opened read-only) against its latest
// checkpoint. Fails if the entry is not yet covered by a checkpoint, or if the stored data does
// not agree with that checkpoint (then `dsa audit verify` says why).
[[nodiscard]] result<inclusion_proof> prove(const std::filesystem::path& db, std::uint64_t seq);

[[nodiscard]] std::string proof_to_json(const inclusion_proof& p);
// Strict: every member present with the right type and canonical encoding.
[[nodiscard]] result<inclusion_proof> proof_from_json(std::string_view text);

// Checks the checkpoint signature with `key`, that the entry hashes to the leaf and claims
// leaf_index as its seq, and that the path leads from the leaf to the signed root.
// Fails saying what does not hold.
[[nodiscard]] result<void> verify_proof(const inclusion_proof& p, const public_key& key);

}  // namespace dsa::audit
