#pragma once

// Consistency of an audit store with a checkpoint kept outside it (RFC 9162 §2.1.4).
//
// An auditor or a partner gateway keeps a signed checkpoint (checkpoint.hpp, the exported JSON
// form) from each visit. Later, check_consistency() proves that the store still holds that
// checkpoint's log as a prefix: the entries as stored hash to the saved root at the saved size,
// and the store's newest signed checkpoint extends it, with the RFC 9162 consistency proof
// between the two. Whoever can write the store can delete a tail of entries together with the
// checkpoints that cover it, and the store alone then looks intact; only a checkpoint kept
// elsewhere can tell.
//
// The proof document (`dsa audit consistency --proof-out`) lets the check be repeated with
// nothing but the key and the two checkpoints:
//
//   {"type": "dsa-audit-consistency", "origin": …, "old_size": m, "old_root": base64,
//    "new_size": n, "new_root": base64, "proof": [base64, …]}     -- PROOF(m, D[n])
//
// Thread safety: pure functions over their arguments. Errors: I/O and unusable input fail the
// result (common/result.hpp); a log that does not extend the checkpoint is a finding.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/crypto.hpp"
#include "common/result.hpp"

namespace dsa::audit {

class reader;

// The newest checkpoint row of the store whose note parses and whose signature verifies with
// `key`, or nullopt when there is none. Fails when the store cannot be read.
[[nodiscard]] result<std::optional<signed_checkpoint>> latest_valid_checkpoint(
    const reader& r, const public_key& key);

enum class consistency_finding {
  consistent,           // the log extends the saved checkpoint
  bad_signature,        // the saved checkpoint is not signed by the key
  other_origin,         // the saved checkpoint belongs to another log
  truncated,            // the log holds fewer entries than the saved checkpoint covers
  rewritten,            // the entries up to the saved size hash to another root
  entry_altered,        // an entry's text no longer hashes to its stored leaf, or rows are missing
  checkpoints_removed,  // the store's newest checkpoint is older than the saved one
  store_inconsistent,   // the store's newest checkpoint does not match its own entries
};

[[nodiscard]] std::string_view to_string(consistency_finding f);

struct consistency_result {
  consistency_finding finding = consistency_finding::consistent;
  std::string detail;  // one line for people: what was proved, or what is wrong
  bool key_from_store = false;
  std::uint64_t entries = 0;  // entries in the store
  signed_checkpoint newest;   // the store's newest valid checkpoint (when consistent)
  std::vector<hash> proof;    // PROOF(saved.size, newest.size) (when consistent)

  [[nodiscard]] bool consistent() const { return finding == consistency_finding::consistent; }
};

// `public_key_pem` empty: use the key recorded in the store (which proves nothing against whoever
// replaced it; the auditor's own copy should be given). Fails when the store or the key cannot be
// used; a log that does not extend `saved` is a finding in the value.
[[nodiscard]] result<consistency_result> check_consistency(const std::filesystem::path& db,
                                                           const signed_checkpoint& saved,
                                                           const std::string& public_key_pem);

struct consistency_proof {
  std::string origin;
  std::uint64_t old_size = 0, new_size = 0;
  hash old_root{}, new_root{};
  std::vector<hash> path;
};

[[nodiscard]] std::string consistency_proof_to_json(const consistency_proof& p);
[[nodiscard]] result<consistency_proof> consistency_proof_from_json(std::string_view text);

// Offline: both checkpoints signed by `key`, of one origin, the proof about exactly these two
// (sizes and roots) and valid by RFC 9162 §2.1.4.2. The value says what was proved, for people;
// the error what failed.
[[nodiscard]] result<std::string> verify_consistency_offline(const signed_checkpoint& old_cp,
                                                             const signed_checkpoint& new_cp,
                                                             const consistency_proof& proof,
                                                             const public_key& key);

}  // namespace dsa::audit
