#pragma once

// Read-only access to an audit store (format in store.hpp) for auditors' tools: query, stats,
// metadata, and the raw rows verification and proofs need. Never creates or modifies a file:
// a missing path is an error ("no such audit store"), and the whole reader sees one consistent
// snapshot (one read transaction), even while a gateway is appending.
//
// query() and stats() read only the entry texts: every value they filter, group or report on is
// derived from the hashed bytes (entry.hpp, derive_columns), never from the indexed columns,
// which whoever can write the file can change. Callers that report to people run verification
// on the same reader first (verify.hpp, verify_reader), so what they report is also covered by
// the signed checkpoints.
//
// Thread safety: one reader per thread. Errors: a result naming the store and the problem
// (common/result.hpp); nothing throws.

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/crypto.hpp"
#include "common/result.hpp"

struct sqlite3;

namespace dsa::audit {

// The values one filter accepts: any of them; empty accepts every value. Built from one value
// (what a single `--requester X` gives), an optional one or a list.
// Implicit on purpose: `f.requester = "police"` reads as the one-value filter it is.
struct value_set {
  std::vector<std::string> values;
  value_set() = default;
  value_set(const char* v) : values{v} {}
  value_set(std::string v) : values{std::move(v)} {}
  value_set(const std::optional<std::string>& v) {
    if (v) {
      values.push_back(*v);
    }
  }
  value_set(std::vector<std::string> v) : values(std::move(v)) {}
  value_set(std::initializer_list<std::string> v) : values(v) {}
  [[nodiscard]] explicit operator bool() const { return !values.empty(); }
  [[nodiscard]] bool accepts(std::string_view have) const;
};

struct query_filter {
  value_set agreement, requester, purpose, case_ref, acting_user, decision, reason, kind,
      permission, request_id;
  std::optional<std::int64_t> since_us;  // inclusive
  std::optional<std::int64_t> until_us;  // exclusive
  std::uint64_t limit = 0;               // 0: no limit
};

// The keys stats() can group by (docs/auditing.md, "Statistics"); "day" is the calendar day of
// the entry's time in the zone stats_options::day_of applies.
inline constexpr std::array<std::string_view, 8> stats_keys{
    "agreement", "requester", "reason", "decision", "purpose", "permission", "endpoint", "day"};

struct stats_options {
  std::vector<std::string> by;  // zero, one or two of stats_keys
  // The day key of a time (UTC µs), e.g. "2026-03-29"; null: the UTC day.
  std::function<std::string(std::int64_t)> day_of;
  // Fill group_count's bytes, items and fields_removed (parses every selected entry).
  bool sums = false;
};

// A streamed disclosure (a disclosure_started entry and the entry that ends it, joined by request
// id) counts once, as its started entry: the end entries are not counted in total or by_decision,
// and the started entry's group holds the disclosure's outcome.
struct group_count {
  std::string key;                // the first key's value (one key), or every value joined by " / "
  std::vector<std::string> keys;  // one value per stats_options::by key, in that order
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> by_decision;  // decision, or the kind for lifecycle events
  std::uint64_t streamed = 0;   // streamed disclosures begun (disclosure_started entries)
  std::uint64_t completed = 0;  // … ended by disclosure_completed
  std::map<std::string, std::uint64_t> interrupted;  // … by disclosure_interrupted, by cause
  std::uint64_t open = 0;                            // … not ended (a crash or a stop mid-stream)
  // Sums over the group's requests (end entries excluded, as above): bytes and items sent and
  // response fields removed by the agreement's rules (docs/auditing.md, "Statistics").
  std::int64_t bytes = 0, items = 0, fields_removed = 0;
};

struct stored_checkpoint {
  std::uint64_t id = 0, size = 0;
  std::string root;  // the column, raw bytes (not trusted; the note is)
  std::int64_t time_us = 0;
  std::string note, signature;
};

// One row of the entries table as stored, for verification: the text, the stored leaf hash and
// each indexed column as it is in the file (nullopt for NULL). Views are valid during the callback.
struct stored_row {
  static constexpr std::array<const char*, 9> string_columns{
      "kind",      "decision", "reason",   "agreement",  "permission",
      "requester", "purpose",  "case_ref", "acting_user"};
  std::uint64_t seq = 0;
  std::string_view text, leaf;
  std::optional<std::int64_t> time_us, counted;  // nullopt: NULL or not an integer
  std::array<std::optional<std::string_view>, string_columns.size()> strings;
};

class reader {
 public:
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;
  ~reader();

  [[nodiscard]] static result<std::unique_ptr<reader>> open(const std::filesystem::path& db);

  // Calls `row(text)` for each entry matching `f`, in seq order, with its stored text; stops when
  // `row` returns false. Filters apply to values derived from each text; a text that is not a
  // well-formed entry fails the query naming its seq.
  [[nodiscard]] result<void> query(const query_filter& f,
                                   const std::function<bool(std::string_view)>& row) const;
  // Entry counts grouped by `by` (one of stats_keys, day in UTC, or "" for one total group), each
  // split by decision, all derived from the entry texts; groups in key order. A streamed disclosure
  // counts once, in the group of its started entry (group_count).
  [[nodiscard]] result<std::vector<group_count>> stats(std::string_view by) const;
  // The same over the entries `f` selects (its limit is ignored), grouped by up to two keys
  // (stats_options); groups in key order. A streamed disclosure's end entry is joined to its
  // started entry whatever its own time, so a disclosure begun before `f.until_us` counts its
  // outcome even when it ended later.
  [[nodiscard]] result<std::vector<group_count>> stats(const query_filter& f,
                                                       const stats_options& options) const;
  [[nodiscard]] std::optional<std::string> meta(std::string_view key) const;
  [[nodiscard]] result<std::vector<stored_checkpoint>> checkpoints() const;
  // Every row in seq order: (row seq, entry text, stored leaf hash bytes). Stops when `row`
  // returns false.
  [[nodiscard]] result<void> for_each_entry(
      const std::function<bool(std::uint64_t, std::string_view, std::string_view)>& row) const;
  // Every row with all its columns, in seq order, for verification. Stops when `row` returns false.
  [[nodiscard]] result<void> for_each_row(const std::function<bool(const stored_row&)>& row) const;
  // The stored leaf hashes of seq [0, count) in order; fails if a row is missing or malformed.
  [[nodiscard]] result<std::vector<hash>> leaf_hashes(std::uint64_t count) const;
  [[nodiscard]] std::optional<std::string> entry_text(std::uint64_t seq) const;
  [[nodiscard]] std::uint64_t entry_count() const;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  reader(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::filesystem::path path_;
};

}  // namespace dsa::audit
