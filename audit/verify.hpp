#pragma once

// Verification of an audit store against its signed checkpoints, in the shape of LevelDB's log
// reader: the verifier reads the whole log once and reports each problem it finds through a
// callback and in the result, ordered so that the first one names the first bad sequence number.
//
// What is checked (see store.hpp for the format): every checkpoint note parses, names the
// store's origin, matches its row and carries a valid Ed25519 signature by the auditor's key;
// checkpoint ids are contiguous and sizes never decrease; entry rows are contiguous from seq 0,
// each text claims its own seq and hashes to its stored leaf hash; every indexed column of the
// row (time_us, kind, decision, reason, agreement, permission, requester, purpose, case_ref,
// acting_user, counted) equals the value derived from the text (entry.hpp, derive_columns); the
// RFC 9162 root recomputed from the texts equals every valid checkpoint's root at its size; no
// checkpoint is larger than the log; a checkpoint row's time_us equals the time in its note.
// Streamed disclosures (docs/auditing.md, "Streamed disclosures"): among the entries whose text
// matches its leaf hash, every disclosure_completed or disclosure_interrupted entry ends exactly
// one earlier disclosure_started entry with its request_id that no other entry ended, and repeats
// its request fields (requester, agreement, permission, endpoint, purpose, case ref, acting user,
// request line, decision, status). A started entry without an end is not a problem (a crash or
// a stop mid-stream leaves one): it is listed in verify_result::open_disclosures.
//
// Thread safety: verify_store is reentrant. Errors: an unreadable store or an unusable key fails
// the result (common/result.hpp); tampering is a problem in the value, not an error.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/crypto.hpp"
#include "common/result.hpp"

namespace dsa::audit {

enum class problem_kind {
  entry_changed,        // an entry's text no longer matches its leaf hash, or is not an entry
  entry_missing,        // a seq is absent (rows deleted, possibly renumbered)
  entry_inserted,       // a row that was never appended (later rows claim an earlier seq)
  entries_reordered,    // rows exchanged places
  non_contiguous,       // a row's seq is out of the 0, 1, 2, … sequence in another way
  checkpoint_altered,   // a checkpoint row or note was changed, removed or reordered
  bad_signature,        // a checkpoint's signature does not verify with the key
  log_truncated,        // the log is shorter than a signed checkpoint
  root_mismatch,        // the entries up to a checkpoint hash to another root (altered together
                        // with their leaf hashes): seq is the first entry that checkpoint vouches
                        // for and no earlier one did
  key_mismatch,         // the key recorded in the store is not the auditor's key
  column_altered,       // an indexed column differs from the value derived from the hashed entry
  disclosure_unpaired,  // a streamed disclosure's end entry without its started entry, a second
                        // end for one, or an end whose request fields differ from its start's
};

[[nodiscard]] std::string_view to_string(problem_kind k);

struct problem {
  problem_kind kind;
  std::optional<std::uint64_t> seq;         // the first bad sequence number, when one applies
  std::optional<std::uint64_t> checkpoint;  // checkpoint id, for checkpoint problems
  std::string detail;                       // one line for people
};

// A disclosure_started entry that no later entry ends.
struct open_disclosure {
  std::uint64_t seq = 0;
  std::string request_id;
};

struct verify_options {
  // PEM public key the checkpoints must be signed with. Empty: the key recorded in the store
  // (which proves integrity only against someone who did not also replace that key).
  std::string public_key_pem;
  // Called once per problem, in the order of verify_result::problems.
  std::function<void(const problem&)> reporter;
};

struct verify_result {
  bool key_from_store = false;
  std::string format;  // the store's format (dsa-audit/1 or /2)
  std::uint64_t entries = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t covered = 0;      // entries covered by the largest checkpoint that verified
  hash root{};                    // RFC 9162 root over all entries as stored
  std::vector<problem> problems;  // entry problems by seq, then checkpoint problems
  // Streamed disclosures begun and never ended, in seq order: not tampering (a crash or a kill
  // mid-stream), but the bytes sent are unknown beyond the declared length.
  std::vector<open_disclosure> open_disclosures;

  [[nodiscard]] bool intact() const { return problems.empty(); }
};

[[nodiscard]] result<verify_result> verify_store(const std::filesystem::path& db,
                                                 const verify_options& options = {});

class reader;
// The same over an open reader, so a caller can verify and then query one snapshot.
[[nodiscard]] result<verify_result> verify_reader(const reader& r,
                                                  const verify_options& options = {});

}  // namespace dsa::audit
