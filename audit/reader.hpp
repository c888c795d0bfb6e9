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

struct query_filter {
  std::optional<std::string> agreement, requester, purpose, case_ref, acting_user, decision, reason;
  std::optional<std::int64_t> since_us;  // inclusive
  std::optional<std::int64_t> until_us;  // exclusive
  std::uint64_t limit = 0;               // 0: no limit
};

// A streamed disclosure (a disclosure_started entry and the entry that ends it, joined by request
// id) counts once, as its started entry: the end entries are not counted in total or by_decision,
// and the started entry's group holds the disclosure's outcome.
struct group_count {
  std::string key;
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> by_decision;  // decision, or the kind for lifecycle events
  std::uint64_t streamed = 0;   // streamed disclosures begun (disclosure_started entries)
  std::uint64_t completed = 0;  // … ended by disclosure_completed
  std::map<std::string, std::uint64_t> interrupted;  // … by disclosure_interrupted, by cause
  std::uint64_t open = 0;                            // … not ended (a crash or a stop mid-stream)
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
  // Entry counts grouped by `by` (agreement | requester | reason | day (UTC) | "" for one total
  // group), each split by decision, all derived from the entry texts; groups in key order. A
  // streamed disclosure counts once, in the group of its started entry (group_count).
  [[nodiscard]] result<std::vector<group_count>> stats(std::string_view by) const;
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
