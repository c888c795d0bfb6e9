#include "audit/reader.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>
#include <unordered_map>

#include "audit/entry.hpp"
#include "audit/schema.hpp"

namespace dsa::audit {
namespace {

using detail::column_text;
using detail::column_view;
using detail::db_error;
using detail::statement;

std::uint64_t bytes_of(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

bool file_exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

std::filesystem::path sibling(const std::filesystem::path& db, const char* suffix) {
  auto p = db;
  p += suffix;
  return p;
}

// The wal-index header at the start of a -shm file (SQLite's wal.c, WalIndexHdr): iVersion
// (u32, 3007000) at 0, isInit (u8) at 12, szPage (u16; 1 means 65536) at 14, mxFrame (u32, the
// last valid frame of the WAL) at 16, in the machine's byte order. Only trusted when the two
// copies SQLite keeps (at 0 and 48) agree.
struct shm_header {
  std::uint32_t max_frame = 0;
  std::uint32_t page_size = 0;
};

std::optional<shm_header> read_shm_header(const std::filesystem::path& shm) {
  std::ifstream in(shm, std::ios::binary);
  unsigned char buf[96];
  if (!in.read(reinterpret_cast<char*>(buf), sizeof buf)) {
    return std::nullopt;
  }
  if (std::memcmp(buf, buf + 48, 48) != 0) {
    return std::nullopt;
  }
  std::uint32_t version = 0;
  std::uint16_t page = 0;
  shm_header h;
  std::memcpy(&version, buf, 4);
  std::memcpy(&page, buf + 14, 2);
  std::memcpy(&h.max_frame, buf + 16, 4);
  if (version != 3007000 || buf[12] != 1) {
    return std::nullopt;
  }
  h.page_size = page == 1 ? 65536u : page;
  return h;
}

}  // namespace

namespace detail {

result<void> wal_complete(const std::filesystem::path& db) {
  const auto wal = sibling(db, "-wal");
  const auto shm = sibling(db, "-shm");
  auto before = read_shm_header(shm);
  if (!before || before->max_frame == 0 || before->page_size == 0) {
    return {};
  }
  // A WAL is a 32-byte header and frames of a 24-byte header plus one page.
  const std::uint64_t needed =
      32 + static_cast<std::uint64_t>(before->max_frame) * (24 + before->page_size);
  const std::uint64_t have = file_exists(wal) ? bytes_of(wal) : 0;
  if (have >= needed) {
    return {};
  }
  // A gateway closing right now truncates its WAL and resets the index: read the header again so
  // a clean shutdown between the two looks is not taken for a lost WAL.
  auto after = read_shm_header(shm);
  if (!after || after->max_frame != before->max_frame) {
    return {};
  }
  return fail(
      shm.string() + " records " + std::to_string(before->max_frame) +
      " committed WAL frames, but " + wal.string() +
      (file_exists(wal) ? " holds only " + std::to_string(have) + " bytes (" +
                              std::to_string(needed) + " expected)"
                        : " is missing") +
      ": the latest transactions of the log are in the write-ahead log that was not copied "
      "with " +
      db.string() + ". Copy " + wal.filename().string() +
      " from the gateway's audit directory next to it "
      "(same name plus -wal), or stop the gateway (a clean shutdown writes everything into " +
      db.filename().string() + ") and copy " + db.filename().string() + " again");
}

std::string wal_diagnosis(const std::filesystem::path& db, bool store_found) {
  const auto wal = sibling(db, "-wal");
  if (auto complete = wal_complete(db); !complete) {
    return complete.error();
  }
  const std::uint64_t wal_bytes = file_exists(wal) ? bytes_of(wal) : 0;
  if (!file_exists(db) || bytes_of(db) == 0) {
    if (wal_bytes > 32) {
      return "its write-ahead log " + wal.string() + " (" + std::to_string(wal_bytes) +
             " bytes) exists without the database it belongs to: restore " + db.string() +
             " from the same place and moment as the -wal file (copy both together), or stop the "
             "gateway first (a clean shutdown writes everything into " +
             db.filename().string() + ")";
    }
    return "";
  }
  if (store_found) {
    return "";
  }
  if (wal_bytes > 32) {
    return "the write-ahead log " + wal.string() + " (" + std::to_string(wal_bytes) +
           " bytes) beside it was not applied: a -wal file only applies to the copy of the "
           "database it was written with. Copy " +
           db.filename().string() + " and " + wal.filename().string() +
           " together, from the same place at the same moment, or stop "
           "the gateway first and copy " +
           db.filename().string() + " alone";
  }
  return "if it was copied from a running or crashed gateway, its content was still in " +
         wal.filename().string() + ", which was not copied with it: copy " +
         db.filename().string() + " together with " + wal.filename().string() +
         ", or stop the gateway (a clean shutdown writes everything into " +
         db.filename().string() + ") and copy " + db.filename().string() + " alone";
}

}  // namespace detail

reader::~reader() {
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close_v2(db_);
}

result<std::unique_ptr<reader>> reader::open(const std::filesystem::path& db) {
  std::error_code ec;
  auto status = std::filesystem::status(db, ec);
  if (ec || !std::filesystem::exists(status)) {
    std::string error = "no such audit store: " + db.string();
    const std::string why = detail::wal_diagnosis(db, false);
    if (!why.empty()) {
      error += "; " + why;
    }
    return fail(std::move(error));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return fail("not an audit store (not a regular file): " + db.string());
  }
  if (auto wal = detail::wal_complete(db); !wal) {
    return fail("cannot read audit store " + db.string() + " as it stands: " + wal.error());
  }
  sqlite3* handle = nullptr;
  // SQLITE_OPEN_READONLY never creates the database file.
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string error = "cannot open audit store " + db.string() + ": " + db_error(handle);
    sqlite3_close_v2(handle);
    return fail(std::move(error));
  }
  sqlite3_busy_timeout(handle, 5000);
  // Reading pages through a memory map saves a copy per page on a full scan (verify).
  sqlite3_exec(handle, "PRAGMA mmap_size=1073741824", nullptr, nullptr, nullptr);
  std::unique_ptr<reader> r(new reader(handle, db));
  if (auto begun = detail::exec(handle, "BEGIN"); !begun) {
    return fail("cannot read audit store " + db.string() + ": " + begun.error());
  }
  statement s(handle, "SELECT value FROM meta WHERE key = 'format'");
  if (!s.ok() || s.step() != SQLITE_ROW || !detail::known_format(column_text(s.get(), 0))) {
    const bool has_meta = s.ok();
    std::string format = has_meta && sqlite3_data_count(s.get()) > 0 ? column_text(s.get(), 0) : "";
    std::string error = db.string() + " is not a DSA audit store" +
                        (!has_meta        ? std::string(" (") + db_error(handle) + ")"
                         : format.empty() ? std::string()
                                          : " (format \"" + format + "\"; this dsa reads " +
                                                std::string(detail::legacy_format_name) + " and " +
                                                std::string(detail::format_name) + ")");
    if (format.empty()) {
      const std::string why = detail::wal_diagnosis(db, false);
      if (!why.empty()) {
        error += ": " + why;
      }
    }
    return fail(std::move(error));
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

bool value_set::accepts(std::string_view have) const {
  return values.empty() || std::find(values.begin(), values.end(), have) != values.end();
}

namespace {

// Whether the entry `text` (its columns in `c`) is one `f` selects. The request id is not a
// column: it is read from the parsed entry, only when the filter names one.
bool selected(const query_filter& f, const entry_columns& c, std::string_view text) {
  if (!f.agreement.accepts(c.agreement) || !f.requester.accepts(c.requester) ||
      !f.purpose.accepts(c.purpose) || !f.case_ref.accepts(c.case_ref) ||
      !f.acting_user.accepts(c.acting_user) || !f.decision.accepts(c.decision) ||
      !f.reason.accepts(c.reason) || !f.kind.accepts(c.kind) ||
      !f.permission.accepts(c.permission) || (f.since_us && c.time_us < *f.since_us) ||
      (f.until_us && c.time_us >= *f.until_us)) {
    return false;
  }
  if (f.request_id) {
    std::optional<entry> e = entry_from_json(text);
    return e && f.request_id.accepts(e->request_id);
  }
  return true;
}

std::string utc_day(std::int64_t time_us) {
  using namespace std::chrono;
  const year_month_day ymd{floor<days>(sys_time<microseconds>(microseconds(time_us)))};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

}  // namespace

result<void> reader::query(const query_filter& f,
                           const std::function<bool(std::string_view)>& row) const {
  statement s(db_, "SELECT seq, entry FROM entries ORDER BY seq");
  if (!s.ok()) {
    return fail("cannot query audit store " + path_.string() + ": " + db_error(db_));
  }
  entry_columns c;
  std::uint64_t emitted = 0;
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::string_view text = column_view(s.get(), 1);
    if (!derive_columns(text, c)) {
      return fail("entry " + std::to_string(sqlite3_column_int64(s.get(), 0)) +
                  " is not a well-formed entry; run `dsa audit verify`");
    }
    if (!selected(f, c, text)) {
      continue;
    }
    if (!row(text)) {
      return {};
    }
    if (f.limit > 0 && ++emitted >= f.limit) {
      return {};
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot query audit store " + path_.string() + ": " + db_error(db_));
  }
  return {};
}

result<std::vector<group_count>> reader::stats(std::string_view by) const {
  stats_options options;
  if (!by.empty()) {
    options.by.emplace_back(by);
  }
  return stats(query_filter{}, options);
}

result<std::vector<group_count>> reader::stats(const query_filter& f,
                                               const stats_options& options) const {
  if (options.by.size() > 2) {
    return fail("at most two grouping keys, not " + std::to_string(options.by.size()));
  }
  bool needs_entry = options.sums;
  for (const std::string& by : options.by) {
    if (std::find(stats_keys.begin(), stats_keys.end(), by) == stats_keys.end()) {
      std::string known;
      for (std::string_view k : stats_keys) {
        known += (known.empty() ? "" : ", ") + std::string(k);
      }
      return fail("unknown grouping \"" + by + "\" (" + known + ")");
    }
    needs_entry = needs_entry || by == "endpoint";
  }
  if (options.by.size() == 2 && options.by[0] == options.by[1]) {
    return fail("grouping by \"" + options.by[0] + "\" twice");
  }
  statement s(db_, "SELECT seq, entry FROM entries ORDER BY seq");
  if (!s.ok()) {
    return fail("cannot read audit store " + path_.string() + ": " + db_error(db_));
  }
  // Keyed by the values joined with a byte no id holds, so the groups sort by first key, then
  // by second.
  std::map<std::string, group_count> groups;
  // request id → the group of a streamed disclosure begun and not yet ended. Its end entry
  // carries the same fields, but not always the same day, so it is joined by request id.
  std::unordered_map<std::string, std::string> open_streams;
  const std::string_view started = to_string(entry_kind::disclosure_started);
  const std::string_view completed = to_string(entry_kind::disclosure_completed);
  const std::string_view interrupted = to_string(entry_kind::disclosure_interrupted);
  entry_columns c;
  std::vector<std::string> keys(options.by.size());
  std::string map_key;
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::string_view text = column_view(s.get(), 1);
    if (!derive_columns(text, c)) {
      return fail("entry " + std::to_string(sqlite3_column_int64(s.get(), 0)) +
                  " is not a well-formed entry; run `dsa audit verify`");
    }
    if (c.kind == completed || c.kind == interrupted) {
      // Not a request of its own: the outcome of the disclosure its started entry counted.
      if (open_streams.empty()) {
        continue;
      }
      const bool done = c.kind == completed;
      std::optional<entry> e = entry_from_json(text);
      if (!e) {
        continue;
      }
      auto it = open_streams.find(e->request_id);
      if (it == open_streams.end()) {
        continue;  // an end without its start (`dsa audit verify` reports it), or not selected
      }
      group_count& g = groups[it->second];
      --g.open;
      if (done) {
        ++g.completed;
      } else {
        const boost::json::value* cause = e->details.if_contains("cause");
        ++g.interrupted[cause != nullptr && cause->is_string() ? std::string(cause->get_string())
                                                               : std::string("unknown")];
      }
      if (options.sums) {
        // The started entry sends nothing countable yet; its end says what left.
        g.bytes += e->bytes;
        g.items += e->items;
        g.fields_removed += e->fields_removed;
      }
      open_streams.erase(it);
      continue;
    }
    if (!selected(f, c, text)) {
      continue;
    }
    std::optional<entry> e;
    if (needs_entry || c.kind == started) {
      e = entry_from_json(text);
    }
    map_key.clear();
    for (std::size_t i = 0; i < options.by.size(); ++i) {
      const std::string& by = options.by[i];
      std::string& key = keys[i];
      if (by == "agreement") {
        key = c.agreement;
      } else if (by == "requester") {
        key = c.requester;
      } else if (by == "reason") {
        key = c.reason;
      } else if (by == "decision") {
        // Lifecycle events have no decision; they are grouped under their kind.
        key = c.decision.empty() ? c.kind : c.decision;
      } else if (by == "purpose") {
        key = c.purpose;
      } else if (by == "permission") {
        key = c.permission;
      } else if (by == "endpoint") {
        key = e ? e->endpoint : std::string();
      } else {
        key = options.day_of ? options.day_of(c.time_us) : utc_day(c.time_us);
      }
      map_key += (i ? std::string(1, '\0') : std::string()) + key;
    }
    auto [it, inserted] = groups.try_emplace(map_key);
    group_count& g = it->second;
    if (inserted) {
      g.keys = keys;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        g.key += (i ? " / " : "") + keys[i];
      }
    }
    ++g.total;
    // Lifecycle events have no decision; they are counted under their kind.
    ++g.by_decision[std::string(c.decision.empty() ? c.kind : c.decision)];
    if (options.sums && e) {
      g.bytes += e->bytes;
      g.items += e->items;
      g.fields_removed += e->fields_removed;
    }
    if (c.kind == started && e) {
      ++g.streamed;
      ++g.open;
      open_streams[e->request_id] = map_key;
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot read audit store " + path_.string() + ": " + db_error(db_));
  }
  std::vector<group_count> out;
  out.reserve(groups.size());
  for (auto& [k, g] : groups) {
    out.push_back(std::move(g));
  }
  return out;
}

result<std::vector<stored_checkpoint>> reader::checkpoints() const {
  std::vector<stored_checkpoint> out;
  statement s(db_, "SELECT id, size, root, time_us, note, signature FROM checkpoints ORDER BY id");
  if (!s.ok()) {
    return fail("cannot read checkpoints of " + path_.string() + ": " + db_error(db_));
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
    return fail("cannot read checkpoints of " + path_.string() + ": " + db_error(db_));
  }
  return out;
}

result<void> reader::for_each_entry(
    const std::function<bool(std::uint64_t, std::string_view, std::string_view)>& row) const {
  statement s(db_, "SELECT seq, entry, leaf_hash FROM entries ORDER BY seq");
  if (!s.ok()) {
    return fail("cannot read entries of " + path_.string() + ": " + db_error(db_));
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    // Text first, then blob: each accessor returns a pointer valid until the next step.
    auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    std::string_view text = column_view(s.get(), 1);
    std::string_view leaf = column_view(s.get(), 2);
    if (!row(seq, text, leaf)) {
      return {};
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot read entries of " + path_.string() + ": " + db_error(db_));
  }
  return {};
}

result<void> reader::for_each_row(const std::function<bool(const stored_row&)>& row) const {
  statement s(db_,
              "SELECT seq, entry, leaf_hash, time_us, counted, kind, decision, reason, agreement, "
              "permission, requester, purpose, case_ref, acting_user FROM entries ORDER BY seq");
  if (!s.ok()) {
    return fail("cannot read entries of " + path_.string() + ": " + db_error(db_));
  }
  stored_row r;
  auto integer = [&](int i) -> std::optional<std::int64_t> {
    if (sqlite3_column_type(s.get(), i) != SQLITE_INTEGER) {
      return std::nullopt;
    }
    return sqlite3_column_int64(s.get(), i);
  };
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    r.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    // Every value is read as a blob: no copy, a pointer valid until the next step.
    r.text = column_view(s.get(), 1);
    r.leaf = column_view(s.get(), 2);
    r.time_us = integer(3);
    r.counted = integer(4);
    for (std::size_t i = 0; i < r.strings.size(); ++i) {
      const int col = static_cast<int>(i) + 5;
      // Read as a blob: sqlite3_column_text would copy each value to NUL-terminate it. A blob
      // pointer is NULL for NULL and also for an empty value, which the type then tells apart.
      const void* p = sqlite3_column_blob(s.get(), col);
      if (p != nullptr) {
        r.strings[i] =
            std::string_view(static_cast<const char*>(p),
                             static_cast<std::size_t>(sqlite3_column_bytes(s.get(), col)));
      } else if (sqlite3_column_type(s.get(), col) == SQLITE_NULL) {
        r.strings[i] = std::nullopt;
      } else {
        r.strings[i] = std::string_view();
      }
    }
    if (!row(r)) {
      return {};
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot read entries of " + path_.string() + ": " + db_error(db_));
  }
  return {};
}

result<std::vector<hash>> reader::leaf_hashes(std::uint64_t count) const {
  std::vector<hash> out;
  out.reserve(count);
  statement s(db_, "SELECT seq, leaf_hash FROM entries WHERE seq < ?1 ORDER BY seq");
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(count));
  int rc = SQLITE_ROW;
  while (s.ok() && (rc = s.step()) == SQLITE_ROW) {
    std::string_view leaf = column_view(s.get(), 1);
    if (static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0)) != out.size() ||
        leaf.size() != 32) {
      return fail("entry " + std::to_string(out.size()) +
                  " is missing or damaged; run `dsa audit verify`");
    }
    hash h;
    std::memcpy(h.data(), leaf.data(), 32);
    out.push_back(h);
  }
  if (!s.ok() || rc != SQLITE_DONE) {
    return fail("cannot read entries of " + path_.string() + ": " + db_error(db_));
  }
  if (out.size() != count) {
    return fail("the store holds " + std::to_string(out.size()) + " entries, fewer than " +
                std::to_string(count) + "; run `dsa audit verify`");
  }
  return out;
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
