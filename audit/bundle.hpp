#pragma once

// Evidence bundles: a chosen set of audit entries, each with its RFC 9162 inclusion proof against
// one signed checkpoint, the checkpoint key, and the archived agreement texts that decided them,
// in one JSON file that can be checked with no database and no part of this software. The file
// format (dsa-evidence-bundle/1) is specified in docs/evidence-bundle.md; in outline:
//
//   {"format": "dsa-evidence-bundle/1",
//    "about": "…", "scheme": {…fixed descriptions of every construction…},
//    "created_time": "RFC 3339", "created_by": "dsa x.y.z", "selection": {…},   -- not signed
//    "public_key": {"pem": "-----BEGIN PUBLIC KEY-----…", "sha256": "<hex of DER SPKI>"},
//    "checkpoint": {…the dsa-audit-checkpoint document `dsa audit checkpoint` writes…},
//    "checkpoint_note": "<origin>\n<size>\n<root base64>\ntime_us <µs>\n",   -- the signed bytes
//    "entries": [{"leaf_index": N, "text": "<stored text>", "leaf_hash": b64,
//                 "inclusion_path": [b64, …]}, …],                         -- the selection
//    "agreement_texts": [ same shape ]}      -- agreement_text entries the selection refers to
//
// Building reads only verified data: make_bundle runs the same verification as `dsa audit
// verify` on the reader's snapshot first and refuses a store that fails it.
//
// Thread safety: pure functions over values (make_bundle reads through the caller's reader).
// Errors: an unreadable store or file is a result error (common/result.hpp); a refusal (tampered
// store, nothing selected, an entry not provable) and an invalid bundle are values that say why.
// Nothing throws.

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

inline constexpr std::string_view bundle_format = "dsa-evidence-bundle/1";

// Which entries a bundle holds. Exactly one criterion. Whatever criterion selected them, both
// halves of a streamed disclosure (disclosure_started and the entry that ends it, same request
// id) are included together.
struct bundle_selection {
  enum class by { case_ref, request_id, subject, seq_range };
  by criterion = by::case_ref;
  // case_ref: the case reference; request_id: the request id; subject: the lowercase-hex
  // HMAC-SHA-256 of the subject identifier (audit/subject_key.hpp), matched against entries'
  // `subjects`.
  std::string value;
  std::uint64_t first_seq = 0, last_seq = 0;  // seq_range, inclusive
};

// One log entry in a bundle: the stored text byte for byte and PATH(leaf_index, D[size]).
struct bundle_entry {
  std::uint64_t leaf_index = 0;
  std::string text;
  hash leaf{};
  std::vector<hash> path;
};

struct evidence_bundle {
  // Informational, not signed: who made the bundle, when (RFC 3339 UTC) and what was asked for.
  std::string created_by, created_time;
  bundle_selection selection;
  std::string public_key_pem;     // PEM SubjectPublicKeyInfo (Ed25519)
  std::string public_key_sha256;  // lowercase hex SHA-256 of the DER SubjectPublicKeyInfo
  signed_checkpoint checkpoint;
  std::string
      checkpoint_note;  // exactly the signed bytes; must equal checkpoint_note(checkpoint.c)
  std::vector<bundle_entry> entries;          // the selection, ascending leaf_index
  std::vector<bundle_entry> agreement_texts;  // referenced agreement_text entries not in entries
};

struct bundle_request {
  bundle_selection selection;
  // The auditor's copy of the checkpoint key (PEM); empty: the key recorded in the store.
  std::string public_key_pem;
  std::string created_by;
  std::int64_t created_us = 0;
};

struct bundle_outcome {
  enum class status {
    built,             // `bundle` holds the evidence
    tampered,          // the store fails verification; nothing is bundled
    nothing_selected,  // no entry matches the selection
    not_provable,      // no matching entry is covered by the latest checkpoint yet, a text a
                       // covered one needs is not, or the log archives no text of an agreement
                       // a selected entry names
  };
  status state = status::built;
  std::string detail;  // one line for people when not built
  evidence_bundle bundle;
  // Entries that match but were written after the latest checkpoint, so cannot be proven yet:
  // not in the bundle. Ascending seq.
  std::vector<std::uint64_t> left_out;
};

// Verifies the store on `r`'s snapshot (verify.hpp), selects the entries, adds the other half of
// each streamed disclosure, leaves out (and lists in left_out) those after the latest checkpoint,
// adds the agreement_text entry (the earliest) for every agreement_sha256 a selected entry names,
// and proves each against the store's latest checkpoint. A result error only when the store or
// key cannot be read.
[[nodiscard]] result<bundle_outcome> make_bundle(const reader& r, const bundle_request& request);

[[nodiscard]] std::string bundle_to_json(const evidence_bundle& b);

// Strict parse of a dsa-evidence-bundle/1 document: every member present with its type and
// canonical encoding, no unknown member. Fails naming the member (and the entry) that is wrong;
// a document that is not JSON or not of this format fails with `not_a_bundle` set.
struct bundle_parse_error {
  bool not_a_bundle = false;
  std::string detail;
};
[[nodiscard]] result<evidence_bundle> bundle_from_json(std::string_view text,
                                                       bundle_parse_error& error);

// One failed check: where ("checkpoint", "public key", "entry seq 12", "agreement text seq 3")
// and what does not hold.
struct bundle_problem {
  std::string where;
  std::string what;
};

// Every check of docs/evidence-bundle.md ("Verifying a bundle") against the auditor's own copy
// of the key: the embedded key and its fingerprint equal `key`; the note equals the checkpoint's
// members and its signature verifies; each entry claims its leaf_index as seq, hashes to its
// leaf_hash, and its path leads to the signed root; every agreement_sha256 a selected entry names
// has an agreement_text entry in the bundle whose text hashes to it. Empty when all hold.
[[nodiscard]] std::vector<bundle_problem> verify_bundle(const evidence_bundle& b,
                                                        const public_key& key);

// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo of a PEM public key; nullopt if the PEM
// does not parse.
[[nodiscard]] std::optional<std::string> public_key_fingerprint(std::string_view pem);

}  // namespace dsa::audit
