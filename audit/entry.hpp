#pragma once

// One audit record and its stored form: compact JSON with a fixed key order. The JSON text is
// what the store keeps and hashes byte for byte (leaf hash = SHA-256(0x00 ‖ text)), so the
// serialisation here is part of the on-disk format (see store.hpp): never reorder keys, never
// change how a value is written, only add new keys after the existing ones.
//
// Thread safety: plain values and pure functions.

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsa::audit {

struct requester_info {
  std::string party, subject, cert_sha256, trust_anchor;
};

// What an entry records. The spelling is the stored "kind" text, part of the format: never
// rename one. To add a kind, add one line here (at the end, so no existing value moves); the
// enum, to_string and from_string follow from this list.
//   request              an answered HTTP request
//   forwarding           the durable intent to forward a request that changes state, written
//                        before the upstream sees it (docs/auditing.md)
//   startup, agreements_loaded, agreements_rejected, shutdown   gateway lifecycle events
//   agreement_text       an agreement file archived byte for byte, once per distinct SHA-256
//                        (docs/auditing.md, "Agreement archive")
//   review               the review of an emergency disclosure, on the record: request_id is the
//                        reviewed disclosure's, details {"seq","outcome","reviewer","note"}
//                        (docs/auditing.md, "Emergency disclosures and their reviews")
#define DSA_AUDIT_ENTRY_KINDS(X) \
  X(request)                     \
  X(forwarding)                  \
  X(startup)                     \
  X(agreements_loaded)           \
  X(agreements_rejected)         \
  X(shutdown)                    \
  X(disclosure_started)          \
  X(disclosure_completed)        \
  X(disclosure_interrupted)      \
  X(agreement_text)              \
  X(review)

// The decision a request entry records; `none` for entries that record no decision (lifecycle
// events), which the stored text shows by having no "decision" member. Same rules as the kinds.
#define DSA_AUDIT_ENTRY_DECISIONS(X) \
  X(allow)                           \
  X(deny)                            \
  X(withheld)                        \
  X(reject)                          \
  X(error)

#define DSA_AUDIT_ENUMERATOR(name) name,
// `unknown`: a text this build does not know, read back from a store a newer gateway wrote
// (entry_from_json keeps the text in entry::unknown_kind; see docs/auditing.md).
enum class entry_kind : std::uint8_t { DSA_AUDIT_ENTRY_KINDS(DSA_AUDIT_ENUMERATOR) unknown };
enum class entry_decision : std::uint8_t {
  none,
  DSA_AUDIT_ENTRY_DECISIONS(DSA_AUDIT_ENUMERATOR) unknown
};
#undef DSA_AUDIT_ENUMERATOR

// The stored spelling, e.g. "agreements_loaded"; "" for entry_decision::none and for unknown
// (whose text only the entry holds: see kind_text, decision_text).
[[nodiscard]] std::string_view to_string(entry_kind k) noexcept;
[[nodiscard]] std::string_view to_string(entry_decision d) noexcept;
// Parses a spelling produced by to_string; false if `text` names none (then `out` is unchanged).
// "" is not a kind; for decisions it is `none`.
[[nodiscard]] bool from_string(std::string_view text, entry_kind& out) noexcept;
[[nodiscard]] bool from_string(std::string_view text, entry_decision& out) noexcept;

// One audit record.
struct entry {
  std::uint64_t seq = 0;     // position in the log; assigned by store::append
  std::int64_t time_us = 0;  // UTC microseconds since the Unix epoch
  entry_kind kind = entry_kind::request;
  std::string request_id;
  entry_decision decision = entry_decision::none;  // request entries: never none
  std::string reason;  // reason code (docs/design.md §4), empty for allow
  int status = 0;      // HTTP status sent to the client
  requester_info requester;
  std::string agreement, agreement_version, agreement_sha256, permission, endpoint;
  std::string purpose, case_ref, acting_user;
  std::string method, path, query;
  std::string upstream;
  int upstream_status = 0;
  std::int64_t upstream_latency_us = -1;
  std::int64_t bytes = 0, items = 0, fields_removed = 0;
  std::string body_sha256;
  bool counted = false;  // the policy allowed it under `permission`: counts toward volume caps
  boost::json::object
      details;  // lifecycle events: e.g. {"files":[{"id","version","sha256"}]}, error text
  // What was disclosed and why (docs/auditing.md, "What each entry records"): the client's
  // address ("127.0.0.1:5555", "[::1]:5555"); on an entry whose decision is allow, the deciding
  // permission's lawful basis and legal gateway ids, and the allow_fields patterns (as written
  // in the agreement) that matched at least one member of the released body.
  std::string client;
  std::vector<std::string> lawful_basis, legal_gateway, released_fields;
  // The people a disclosure was about: HMAC-SHA-256 under the store's subject key of each
  // identifier response.subjects found in what was released, as lowercase hex, sorted and unique
  // (audit/subject_key.hpp, docs/auditing.md "A subject access request"). Never the identifiers.
  std::vector<std::string> subjects;
  // An emergency request (DSA-Emergency, docs/operations.md "Emergency disclosures"): the
  // incident reference and free-text justification the caller sent, and for an emergency
  // disclosure the time its review is due (UTC µs; 0 when none). Stored after details.
  std::string incident_ref, justification;
  std::int64_t review_due_us = 0;
  // The stored text of a kind or decision this build does not know (kind or decision is then
  // `unknown`), kept so that such an entry reads back and serialises unchanged.
  std::string unknown_kind, unknown_decision;
};

// The kind and decision as stored: to_string of the enum, or the kept text when it is unknown.
[[nodiscard]] std::string_view kind_text(const entry& e) noexcept;
[[nodiscard]] std::string_view decision_text(const entry& e) noexcept;

// An emergency disclosure, the thing a review answers for: a request or disclosure_started entry
// whose decision is allow and that carries an incident_ref (the policy allowed it under a
// permission's emergency terms). Refused emergency requests carry incident_ref too but disclosed
// nothing, so they are not.
[[nodiscard]] bool is_emergency_disclosure(const entry& e) noexcept;

// The stored text: {"seq":N,"time_us":T,"kind":K,...} in the order of the struct above; strings
// that are empty, numbers at their default (0, or -1 for upstream_latency_us), counted=false, an
// empty details object and empty arrays are omitted. Strings are JSON-escaped; bytes that are not
// valid UTF-8 are replaced by U+FFFD so every stored entry is valid JSON.
[[nodiscard]] std::string to_json(const entry& e);

// The same text split for the store's writer: everything after the seq member
// (",\"time_us\":…}"), which callers can build before the sequence number is known, and the join.
[[nodiscard]] std::string json_after_seq(const entry& e);
[[nodiscard]] std::string json_with_seq(std::uint64_t seq, std::string_view after_seq);

// Parses a stored entry back (unknown keys are ignored, so newer entries still read). nullopt if
// the text is not a JSON object with a numeric seq and time_us.
[[nodiscard]] std::optional<entry> entry_from_json(std::string_view text);

// The seq a stored text claims, read from its fixed prefix {"seq":N, without a full parse.
[[nodiscard]] std::optional<std::uint64_t> claimed_seq(std::string_view text);

// The values of the store's indexed columns (store.hpp), derived from an entry's stored text:
// what query, stats and the volume-cap seeding read, and what verification compares each row's
// columns with. A string member that is absent or empty is empty here (NULL in its column);
// requester is requester.party; counted is true only for "counted":true.
//
// The views point into the text given to derive_columns, or into this object for a value that
// had to be unescaped: they are valid while both live and until the next derive_columns. Not
// copyable for that reason; reuse one object across rows.
struct entry_columns {
  entry_columns() = default;
  entry_columns(const entry_columns&) = delete;
  entry_columns& operator=(const entry_columns&) = delete;

  std::int64_t time_us = 0;
  std::string_view kind, decision, reason, agreement, permission, requester, purpose, case_ref,
      acting_user;
  bool counted = false;
  // Not a column of the store (so its format is unchanged): derived for the volume-cap seeding,
  // whose `incident` scope counts per incident reference (store_counted.cpp).
  std::string_view incident_ref;
  std::string decoded[10];  // storage for unescaped values, one per string field
};

// Fills `out` from `text` with one pass over the bytes (no allocation unless a value holds an
// escape). False unless the text is one JSON object whose time_us is an integer and kind a
// string, whose other column members, when present, have the types the writer gives them, and
// that names none of them twice; `out` is then unspecified.
[[nodiscard]] bool derive_columns(std::string_view text, entry_columns& out);

// `s` with every byte sequence that is not valid UTF-8 replaced by U+FFFD, as to_json() writes it.
[[nodiscard]] std::string utf8_sanitised(std::string_view s);

}  // namespace dsa::audit
