// Reading the counted requests that seed the gateway's volume caps at start-up, the emergency
// disclosures and reviews that seed its overdue-review set, and one entry by seq, from verified
// entry texts only (audit/store.hpp, "COUNTED REQUESTS: WHERE THE WINDOW STARTS", "READING").
#include <sqlite3.h>

#include <cstring>
#include <optional>

#include "audit/checkpoint.hpp"
#include "audit/schema.hpp"
#include "audit/store.hpp"

namespace dsa::audit {
namespace {

using detail::db_error;
using detail::exec;
using detail::statement;

sqlite3* open_read(const std::filesystem::path& p) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace

result<std::vector<counted_request>> store::counted_since(std::int64_t since_us) const {
  const std::string name = options_.db_path.string();
  // Taken before the snapshot begins, so the snapshot holds at least this many rows.
  const std::uint64_t committed = size();
  std::lock_guard lock(read_mu_);
  if (read_db_ == nullptr && (read_db_ = open_read(options_.db_path)) == nullptr) {
    return fail("cannot open audit store " + name + " for reading");
  }
  // One snapshot for the checkpoint and the rows.
  if (auto begun = exec(read_db_, "BEGIN"); !begun) {
    return fail("cannot read audit store " + name + ": " + begun.error());
  }
  struct end_read {
    sqlite3* db;
    ~end_read() { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }
  } guard{read_db_};

  // Where to start: every entry below the size of a checkpoint signed before since_us was
  // appended before that signature and so carries an earlier time. The time_us column only
  // picks the candidate; its signed note decides. Without a usable one, start at seq 0.
  std::uint64_t first = 0;
  {
    statement s(read_db_,
                "SELECT note, signature FROM checkpoints WHERE time_us < ?1 "
                "ORDER BY id DESC LIMIT 1");
    if (!s.ok()) {
      return fail("cannot read audit store " + name + ": " + db_error(read_db_));
    }
    sqlite3_bind_int64(s.get(), 1, since_us);
    if (s.step() == SQLITE_ROW) {
      const std::string note = detail::column_text(s.get(), 0);
      auto c = parse_checkpoint_note(note);
      if (c && c->time_us && *c->time_us < since_us && c->size <= committed &&
          verify_key_->verify(note, std::string(detail::column_view(s.get(), 1)))) {
        first = c->size;
      }
    }
  }

  std::vector<counted_request> out;
  statement s(read_db_, "SELECT seq, entry, leaf_hash FROM entries WHERE seq >= ?1 ORDER BY seq");
  if (!s.ok()) {
    return fail("cannot read audit store " + name + ": " + db_error(read_db_));
  }
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(first));
  entry_columns c;
  std::uint64_t expected = first;
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    const std::string_view text = detail::column_view(s.get(), 1);
    const std::string_view leaf = detail::column_view(s.get(), 2);
    // The stored leaf hashes were checked against the signed tree at open; the text must still
    // hash to its leaf for what it says to be what was signed.
    if (seq != expected) {
      return fail("audit store " + name + " is damaged at seq " + std::to_string(expected) +
                  " (rows are not contiguous); run `dsa audit verify`");
    }
    const hash h = leaf_hash(text);
    if (leaf.size() != 32 || std::memcmp(leaf.data(), h.data(), 32) != 0 ||
        claimed_seq(text) != std::optional<std::uint64_t>(seq) || !derive_columns(text, c)) {
      return fail("audit store " + name + ": entry " + std::to_string(seq) +
                  " does not match its hash; refusing to seed volume caps from it; run `dsa audit "
                  "verify`");
    }
    ++expected;
    if (c.counted && c.time_us >= since_us) {
      out.push_back({c.time_us, std::string(c.agreement), std::string(c.permission),
                     std::string(c.requester), std::string(c.case_ref), std::string(c.acting_user),
                     std::string(c.incident_ref)});
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot read audit store " + name + ": " + db_error(read_db_));
  }
  if (expected < committed) {
    return fail("audit store " + name + " holds " + std::to_string(expected) +
                " entries, fewer than the " + std::to_string(committed) +
                " committed; run `dsa audit verify`");
  }
  return out;
}

result<std::vector<emergency_record>> store::emergency_records() const {
  const std::string name = options_.db_path.string();
  std::lock_guard lock(read_mu_);
  if (read_db_ == nullptr && (read_db_ = open_read(options_.db_path)) == nullptr) {
    return fail("cannot open audit store " + name + " for reading");
  }
  // The patterns are the writer's own spelling (entry.cpp): a key is never escaped, so every
  // emergency disclosure's text holds the first and every review's the second.
  statement s(
      read_db_,
      "SELECT seq, entry, leaf_hash FROM entries WHERE instr(entry, '\"incident_ref\":') > 0 "
      "OR instr(entry, '\"kind\":\"review\"') > 0 ORDER BY seq");
  if (!s.ok()) {
    return fail("cannot read audit store " + name + ": " + db_error(read_db_));
  }
  std::vector<emergency_record> out;
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    const std::string_view text = detail::column_view(s.get(), 1);
    const std::string_view leaf = detail::column_view(s.get(), 2);
    const hash h = leaf_hash(text);
    std::optional<entry> e;
    if (leaf.size() != 32 || std::memcmp(leaf.data(), h.data(), 32) != 0 ||
        claimed_seq(text) != std::optional<std::uint64_t>(seq) || !(e = entry_from_json(text))) {
      return fail("audit store " + name + ": entry " + std::to_string(seq) +
                  " does not match its hash; refusing to read emergency disclosures from it; run "
                  "`dsa audit verify`");
    }
    if (is_emergency_disclosure(*e) || e->kind == entry_kind::review) {
      out.push_back({seq, std::move(*e)});
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot read audit store " + name + ": " + db_error(read_db_));
  }
  return out;
}

result<std::optional<entry>> store::entry_at(std::uint64_t seq) const {
  const std::string name = options_.db_path.string();
  std::lock_guard lock(read_mu_);
  if (read_db_ == nullptr && (read_db_ = open_read(options_.db_path)) == nullptr) {
    return fail("cannot open audit store " + name + " for reading");
  }
  statement s(read_db_, "SELECT entry, leaf_hash FROM entries WHERE seq = ?1");
  if (!s.ok()) {
    return fail("cannot read audit store " + name + ": " + db_error(read_db_));
  }
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(seq));
  const int rc = s.step();
  if (rc == SQLITE_DONE) {
    return std::optional<entry>();
  }
  if (rc != SQLITE_ROW) {
    return fail("cannot read audit store " + name + ": " + db_error(read_db_));
  }
  const std::string_view text = detail::column_view(s.get(), 0);
  const std::string_view leaf = detail::column_view(s.get(), 1);
  const hash h = leaf_hash(text);
  std::optional<entry> e;
  if (leaf.size() != 32 || std::memcmp(leaf.data(), h.data(), 32) != 0 ||
      claimed_seq(text) != std::optional<std::uint64_t>(seq) || !(e = entry_from_json(text))) {
    return fail("audit store " + name + ": entry " + std::to_string(seq) +
                " does not match its hash; run `dsa audit verify`");
  }
  return e;
}

}  // namespace dsa::audit
