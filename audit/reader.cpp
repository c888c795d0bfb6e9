#include "audit/reader.hpp"

#include <sqlite3.h>

#include <cstring>
#include <system_error>

#include "audit/schema.hpp"

namespace dsa::audit {
namespace {

using detail::column_text;
using detail::column_view;
using detail::db_error;
using detail::statement;

}  // namespace

reader::~reader() {
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db_);
}

std::unique_ptr<reader> reader::open(const std::filesystem::path& db, std::string& error) {
  std::error_code ec;
  auto status = std::filesystem::status(db, ec);
  if (ec || !std::filesystem::exists(status)) {
    error = "no such audit store: " + db.string();
    return nullptr;
  }
  if (!std::filesystem::is_regular_file(status)) {
    error = "not an audit store (not a regular file): " + db.string();
    return nullptr;
  }
  sqlite3* handle = nullptr;
  // SQLITE_OPEN_READONLY never creates the database file.
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    error = "cannot open audit store " + db.string() + ": " + db_error(handle);
    sqlite3_close_v2(handle);
    return nullptr;
  }
  sqlite3_busy_timeout(handle, 5000);
  // Reading pages through a memory map saves a copy per page on a full scan (verify).
  sqlite3_exec(handle, "PRAGMA mmap_size=1073741824", nullptr, nullptr, nullptr);
  std::unique_ptr<reader> r(new reader(handle, db));
  std::string sql_error;
  if (!detail::exec(handle, "BEGIN", sql_error)) {
    error = "cannot read audit store " + db.string() + ": " + sql_error;
    return nullptr;
  }
  statement s(handle, "SELECT value FROM meta WHERE key = 'format'");
  if (!s.ok() || s.step() != SQLITE_ROW || column_text(s.get(), 0) != detail::format_name) {
    error = db.string() + " is not a DSA audit store" +
            (s.ok() ? std::string() : std::string(" (") + db_error(handle) + ")");
    return nullptr;
  }
  return r;
}

std::optional<std::string> reader::meta(std::string_view key) const {
  statement s(db_, "SELECT value FROM meta WHERE key = ?1");
  sqlite3_bind_text(s.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  if (!s.ok() || s.step() != SQLITE_ROW) {
    return std::nullopt;
  }
  return column_text(s.get(), 0);
}

std::uint64_t reader::entry_count() const {
  statement s(db_, "SELECT count(*) FROM entries");
  if (!s.ok() || s.step() != SQLITE_ROW) {
    return 0;
  }
  return static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
}

bool reader::query(const query_filter& f, const std::function<bool(std::string_view)>& row,
                   std::string& error) const {
  std::string sql = "SELECT entry FROM entries WHERE 1";
  std::vector<const std::string*> texts;
  auto text_filter = [&](const std::optional<std::string>& v, const char* column) {
    if (v) {
      texts.push_back(&*v);
      sql += std::string(" AND ") + column + " = ?" + std::to_string(texts.size());
    }
  };
  text_filter(f.agreement, "agreement");
  text_filter(f.requester, "requester");
  text_filter(f.purpose, "purpose");
  text_filter(f.case_ref, "case_ref");
  text_filter(f.acting_user, "acting_user");
  text_filter(f.decision, "decision");
  text_filter(f.reason, "reason");
  const int since_index = static_cast<int>(texts.size()) + 1;
  const int until_index = since_index + 1;
  if (f.since_us) {
    sql += " AND time_us >= ?" + std::to_string(since_index);
  }
  if (f.until_us) {
    sql += " AND time_us < ?" + std::to_string(until_index);
  }
  sql += " ORDER BY seq";
  if (f.limit > 0) {
    sql += " LIMIT " + std::to_string(f.limit);
  }
  statement s(db_, sql);
  if (!s.ok()) {
    error = "cannot query audit store " + path_.string() + ": " + db_error(db_);
    return false;
  }
  for (std::size_t i = 0; i < texts.size(); ++i) {
    sqlite3_bind_text(s.get(), static_cast<int>(i + 1), texts[i]->data(),
                      static_cast<int>(texts[i]->size()), SQLITE_STATIC);
  }
  if (f.since_us) {
    sqlite3_bind_int64(s.get(), since_index, *f.since_us);
  }
  if (f.until_us) {
    sqlite3_bind_int64(s.get(), until_index, *f.until_us);
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    if (!row(column_view(s.get(), 0))) {
      return true;
    }
  }
  if (rc != SQLITE_DONE) {
    error = "cannot query audit store " + path_.string() + ": " + db_error(db_);
    return false;
  }
  return true;
}

bool reader::stats(std::string_view by, std::vector<group_count>& out, std::string& error) const {
  std::string key;
  if (by.empty()) {
    key = "''";
  } else if (by == "agreement" || by == "requester" || by == "reason") {
    key = "coalesce(" + std::string(by) + ", '')";
  } else if (by == "day") {
    key = "date(time_us / 1000000, 'unixepoch')";
  } else {
    error = "unknown grouping \"" + std::string(by) + "\" (agreement, requester, reason, day)";
    return false;
  }
  // Lifecycle events have no decision; they are counted under their kind.
  const std::string sql = "SELECT " + key +
                          " AS k, coalesce(decision, kind) AS d, count(*) FROM entries "
                          "GROUP BY k, d ORDER BY k, d";
  statement s(db_, sql);
  if (!s.ok()) {
    error = "cannot read audit store " + path_.string() + ": " + db_error(db_);
    return false;
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    std::string k = column_text(s.get(), 0);
    if (out.empty() || out.back().key != k) {
      out.push_back({k, 0, {}});
    }
    auto n = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 2));
    out.back().total += n;
    out.back().by_decision[column_text(s.get(), 1)] += n;
  }
  if (rc != SQLITE_DONE) {
    error = "cannot read audit store " + path_.string() + ": " + db_error(db_);
    return false;
  }
  return true;
}

bool reader::checkpoints(std::vector<stored_checkpoint>& out, std::string& error) const {
  statement s(db_, "SELECT id, size, root, time_us, note, signature FROM checkpoints ORDER BY id");
  if (!s.ok()) {
    error = "cannot read checkpoints of " + path_.string() + ": " + db_error(db_);
    return false;
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    stored_checkpoint c;
    c.id = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    c.size = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 1));
    c.root = std::string(column_view(s.get(), 2));
    c.time_us = sqlite3_column_int64(s.get(), 3);
    c.note = column_text(s.get(), 4);
    c.signature = std::string(column_view(s.get(), 5));
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) {
    error = "cannot read checkpoints of " + path_.string() + ": " + db_error(db_);
    return false;
  }
  return true;
}

bool reader::for_each_entry(
    const std::function<bool(std::uint64_t, std::string_view, std::string_view)>& row,
    std::string& error) const {
  statement s(db_, "SELECT seq, entry, leaf_hash FROM entries ORDER BY seq");
  if (!s.ok()) {
    error = "cannot read entries of " + path_.string() + ": " + db_error(db_);
    return false;
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    // Text first, then blob: each accessor returns a pointer valid until the next step.
    auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    std::string_view text = column_view(s.get(), 1);
    std::string_view leaf = column_view(s.get(), 2);
    if (!row(seq, text, leaf)) {
      return true;
    }
  }
  if (rc != SQLITE_DONE) {
    error = "cannot read entries of " + path_.string() + ": " + db_error(db_);
    return false;
  }
  return true;
}

bool reader::leaf_hashes(std::uint64_t count, std::vector<hash>& out, std::string& error) const {
  out.clear();
  out.reserve(count);
  statement s(db_, "SELECT seq, leaf_hash FROM entries WHERE seq < ?1 ORDER BY seq");
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(count));
  int rc = SQLITE_ROW;
  while (s.ok() && (rc = s.step()) == SQLITE_ROW) {
    std::string_view leaf = column_view(s.get(), 1);
    if (static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0)) != out.size() ||
        leaf.size() != 32) {
      error =
          "entry " + std::to_string(out.size()) + " is missing or damaged; run `dsa audit verify`";
      return false;
    }
    hash h;
    std::memcpy(h.data(), leaf.data(), 32);
    out.push_back(h);
  }
  if (!s.ok() || rc != SQLITE_DONE) {
    error = "cannot read entries of " + path_.string() + ": " + db_error(db_);
    return false;
  }
  if (out.size() != count) {
    error = "the store holds " + std::to_string(out.size()) + " entries, fewer than " +
            std::to_string(count) + "; run `dsa audit verify`";
    return false;
  }
  return true;
}

std::optional<std::string> reader::entry_text(std::uint64_t seq) const {
  statement s(db_, "SELECT entry FROM entries WHERE seq = ?1");
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(seq));
  if (!s.ok() || s.step() != SQLITE_ROW) {
    return std::nullopt;
  }
  return column_text(s.get(), 0);
}

}  // namespace dsa::audit
