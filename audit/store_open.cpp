// Opening an audit store (format in audit/store.hpp): create or check the schema, upgrade a
// dsa-audit/1 store, rebuild the Merkle frontier from the stored leaves and check it against the
// latest signed checkpoint, and (re)connect the writer after a failure. The writer itself is in
// store.cpp, the start-up read of counted requests in store_counted.cpp.
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "audit/checkpoint.hpp"
#include "audit/schema.hpp"
#include "audit/store.hpp"
#include "common/clock.hpp"

namespace dsa::audit {
namespace {

using detail::db_error;
using detail::exec;
using detail::statement;
using clock = std::chrono::steady_clock;

// Percent-escapes the characters with a meaning in an SQLite URI filename.
std::string uri_escape(std::string_view path) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      out.push_back('%');
      out.push_back(digits[static_cast<unsigned char>(c) >> 4]);
      out.push_back(digits[static_cast<unsigned char>(c) & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

int wal_hook(void* arg, sqlite3*, const char*, int frames) {
  *static_cast<int*>(arg) = frames;
  return SQLITE_OK;
}

std::optional<std::string> read_meta(sqlite3* db, const char* key) {
  statement s(db, "SELECT value FROM meta WHERE key = ?1");
  if (!s.ok()) {
    return std::nullopt;
  }
  sqlite3_bind_text(s.get(), 1, key, -1, SQLITE_STATIC);
  if (s.step() != SQLITE_ROW) {
    return std::nullopt;
  }
  return detail::column_text(s.get(), 0);
}

// Per-connection settings. journal_mode=WAL is persistent in the file; synchronous is not.
result<void> configure(sqlite3* db) {
  sqlite3_busy_timeout(db, 5000);
  return exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-4096;");
}

}  // namespace

result<std::unique_ptr<store>> store::open(const store_options& options) {
  // SQLite's memory statistics take a global mutex on every allocation; nothing here reads them.
  // Only possible before SQLite initialises; if something else initialised it first this is a
  // harmless SQLITE_MISUSE.
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  const std::string name = options.db_path.string();
  if (!valid_origin(options.origin)) {
    return fail("audit origin \"" + options.origin + "\" must be one line of printable ASCII");
  }
  if (options.checkpoint_interval.count() <= 0 || options.max_batch == 0 ||
      options.wal_checkpoint_frames <= 0 || options.wal_checkpoint_frames > (1 << 24)) {
    return fail(
        "audit checkpoint interval, batch size and WAL checkpoint length must be positive (the "
        "WAL length at most 16777216 frames)");
  }
  std::unique_ptr<store> s(new store(options));
  auto key = signing_key::load_or_create(options.signing_key_path);
  if (!key) {
    return fail(key.error());
  }
  s->key_ = std::move(key).value();
  // A write-protected store is loaded without writing anything next to it (SQLite would create
  // -wal and -shm files with the database's read-only mode, which would then block writing after
  // the mode is fixed); the writer retries read-write before every batch until it succeeds.
  auto verify_key = public_key::from_pem(s->key_->public_key_pem());
  if (!verify_key) {
    return fail(verify_key.error());
  }
  s->verify_key_ = std::move(verify_key).value();
  std::error_code exists_error;
  const bool read_only =
      std::filesystem::exists(options.db_path, exists_error) && ::access(name.c_str(), W_OK) != 0;
  // A write-ahead log beside a missing or empty database is a log separated from its file; SQLite
  // would apply it to a new database or discard it. Either way the history it holds must not be
  // silently restarted from seq 0.
  {
    std::error_code size_error;
    const bool empty_db = !std::filesystem::exists(options.db_path, exists_error) ||
                          std::filesystem::file_size(options.db_path, size_error) == 0;
    if (auto wal = detail::wal_complete(options.db_path); !wal) {
      return fail("refusing to open audit store " + name + ": " + wal.error());
    }
    if (empty_db) {
      const std::string why = detail::wal_diagnosis(options.db_path, false);
      if (!why.empty()) {
        return fail("refusing to create audit store " + name + ": " + why);
      }
    }
  }
  int rc = SQLITE_OK;
  if (read_only) {
    auto wal = options.db_path;
    wal += "-wal";
    // Without a -wal file everything is in the main file and no writer is active, so it can be
    // read as immutable (no locks, no -shm); with one, a normal read-only open replays it.
    if (std::filesystem::exists(wal, exists_error)) {
      rc = sqlite3_open_v2(name.c_str(), &s->db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                           nullptr);
    } else {
      rc = sqlite3_open_v2(("file:" + uri_escape(name) + "?immutable=1").c_str(), &s->db_,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nullptr);
    }
  } else {
    rc = sqlite3_open_v2(name.c_str(), &s->db_,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  }
  if (rc != SQLITE_OK) {
    return fail("cannot open audit store " + name + ": " + db_error(s->db_));
  }
  sqlite3_busy_timeout(s->db_, 5000);

  bool fresh = false;
  {
    statement tables(s->db_, "SELECT count(*) FROM sqlite_schema");
    if (!tables.ok() || tables.step() != SQLITE_ROW) {
      return fail("cannot read audit store " + name + ": " + db_error(s->db_));
    }
    fresh = sqlite3_column_int64(tables.get(), 0) == 0;
  }
  if (fresh) {
    if (read_only) {
      return fail("cannot create audit store " + name + ": the file is not writable");
    }
    const std::string created = std::to_string(common::now_us());
    result<void> step = configure(s->db_);
    if (step) {
      step = exec(s->db_, "BEGIN IMMEDIATE");
    }
    if (step) {
      step = exec(s->db_, detail::schema_sql);
    }
    std::string sql_error = step.error();
    bool ok = step.has_value();
    if (ok) {
      statement ins(s->db_, "INSERT INTO meta(key, value) VALUES (?1, ?2)");
      const std::pair<const char*, std::string> rows[] = {
          {"format", std::string(detail::format_name)},
          {"origin", options.origin},
          {"public_key", s->key_->public_key_pem()},
          {"created_us", created}};
      for (const auto& [k, v] : rows) {
        sqlite3_bind_text(ins.get(), 1, k, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins.get(), 2, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        ok = ok && ins.step() == SQLITE_DONE;
        sqlite3_reset(ins.get());
      }
      if (ok) {
        if (auto committed = exec(s->db_, "COMMIT"); !committed) {
          ok = false;
          sql_error = committed.error();
        }
      }
      if (!ok && sql_error.empty()) {
        sql_error = db_error(s->db_);
      }
    }
    if (!ok) {
      return fail("cannot create audit store " + name + ": " + sql_error);
    }
  } else {
    auto format = read_meta(s->db_, "format");
    if (!format || !detail::known_format(*format)) {
      std::string error = name + " is not a DSA audit store (" +
                          (format ? "format " + *format : std::string("no dsa-audit metadata")) +
                          ")";
      if (!format) {
        const std::string why = detail::wal_diagnosis(options.db_path, false);
        if (!why.empty()) {
          error += ": " + why;
        }
      }
      return fail(std::move(error));
    }
    auto origin = read_meta(s->db_, "origin");
    if (!origin || *origin != options.origin) {
      return fail("audit store " + name + " belongs to origin \"" + origin.value_or("") +
                  "\", not \"" + options.origin + "\"");
    }
    auto pem = read_meta(s->db_, "public_key");
    if (!pem || *pem != s->key_->public_key_pem()) {
      return fail("signing key " + options.signing_key_path.string() +
                  " is not the key that signed audit store " + name);
    }
    if (!read_only) {
      if (auto configured = configure(s->db_); !configured) {
        return fail("cannot configure audit store " + name + ": " + configured.error());
      }
    }
  }
  if (auto loaded = s->load_state(); !loaded) {
    return fail(loaded.error());
  }
  if (read_only) {
    s->close_connection();
    s->need_reconnect_ = true;
  } else {
    s->writable_.store(true, std::memory_order_release);
    if (auto connected = s->reconnect(); !connected) {
      return fail(connected.error());
    }
  }
  s->last_checkpoint_ = clock::now();
  s->checkpointer_ = std::thread([p = s.get()] {
    pthread_setname_np(pthread_self(), "dsa-audit-wal");
    p->run_checkpointer();
  });
  s->writer_ = std::thread([p = s.get()] {
    // Named so that per-thread CPU figures (top -H, /proc/PID/task, dsa-bench) can tell it apart.
    pthread_setname_np(pthread_self(), "dsa-audit");
    p->run();
  });
  return s;
}

result<void> store::load_state() {
  const std::string name = options_.db_path.string();
  std::uint64_t checkpoint_size = 0;
  std::optional<hash> checkpoint_root;
  {
    statement s(db_, "SELECT note, signature FROM checkpoints ORDER BY id DESC LIMIT 1");
    if (!s.ok()) {
      return fail("cannot read audit store " + name + ": " + db_error(db_));
    }
    int rc = s.step();
    if (rc == SQLITE_ROW) {
      const std::string note = detail::column_text(s.get(), 0);
      auto c = parse_checkpoint_note(note);
      if (!c) {
        return fail("audit store " + name + ": the latest checkpoint note is malformed");
      }
      // The tree is checked against this checkpoint below; a forged one would make that check
      // (and the volume-cap seeding that relies on the tree) worthless.
      if (!verify_key_->verify(note, std::string(detail::column_view(s.get(), 1)))) {
        return fail("audit store " + name +
                    ": the latest checkpoint's signature does not verify with the signing key; run "
                    "`dsa audit verify`");
      }
      checkpoint_size = c->size;
      checkpoint_root = c->root;
    } else if (rc != SQLITE_DONE) {
      return fail("cannot read audit store " + name + ": " + db_error(db_));
    }
  }
  merkle_frontier tree;
  // The same pass notes the rows whose kind column says agreement_text, with their leaf hashes,
  // for the archive index below (the column only picks candidates; their texts decide).
  std::vector<std::pair<std::uint64_t, hash>> archive_rows;
  const std::string kind_sql = "SELECT seq, leaf_hash, kind = '" +
                               std::string(to_string(entry_kind::agreement_text)) +
                               "' FROM entries ORDER BY seq";
  statement s(db_, kind_sql);
  if (!s.ok()) {
    return fail("cannot read audit store " + name + ": " + db_error(db_));
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    std::string_view leaf = detail::column_view(s.get(), 1);
    if (seq != tree.size() || leaf.size() != 32) {
      return fail("audit store " + name + " is damaged at seq " + std::to_string(tree.size()) +
                  "; run `dsa audit verify`");
    }
    hash h;
    std::memcpy(h.data(), leaf.data(), 32);
    tree.append(h);
    if (sqlite3_column_int(s.get(), 2) == 1) {
      archive_rows.emplace_back(seq, h);
    }
    // A writer that extended a tampered tree would sign over the forgery; refuse instead.
    if (checkpoint_root && tree.size() == checkpoint_size && tree.root() != *checkpoint_root) {
      return fail("audit store " + name + " does not match its latest checkpoint (size " +
                  std::to_string(checkpoint_size) + "); run `dsa audit verify`");
    }
  }
  if (rc != SQLITE_DONE) {
    return fail("cannot read audit store " + name + ": " + db_error(db_));
  }
  if (checkpoint_size > tree.size()) {
    return fail("audit store " + name + " holds " + std::to_string(tree.size()) +
                " entries but its latest checkpoint covers " + std::to_string(checkpoint_size) +
                "; run `dsa audit verify`");
  }
  if (checkpoint_root && checkpoint_size == 0 && *checkpoint_root != empty_root()) {
    return fail("audit store " + name + " does not match its latest checkpoint (size 0)");
  }
  auto archived = archived_agreements(archive_rows);
  if (!archived) {
    return fail(archived.error());
  }
  {
    std::lock_guard lock(archive_mu_);
    archived_ = std::move(archived).value();
  }
  tree_ = tree;
  checkpoint_size_ = checkpoint_size;
  size_.store(tree.size(), std::memory_order_release);
  return {};
}

// The SHA-256s the agreement_text entries among `rows` (seq, leaf hash as stored) archive. A text
// that no longer hashes to its leaf, or that is not an agreement_text entry, archives nothing:
// the gateway then archives that file again, and `dsa audit verify` reports the row.
result<std::set<std::string, std::less<>>> store::archived_agreements(
    const std::vector<std::pair<std::uint64_t, hash>>& rows) const {
  const std::string name = options_.db_path.string();
  std::set<std::string, std::less<>> out;
  if (rows.empty()) {
    return out;
  }
  statement s(db_, "SELECT entry FROM entries WHERE seq = ?1");
  if (!s.ok()) {
    return fail("cannot read audit store " + name + ": " + db_error(db_));
  }
  for (const auto& [seq, leaf] : rows) {
    sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(seq));
    const int rc = s.step();
    if (rc != SQLITE_ROW) {
      return fail("cannot read audit store " + name + " at seq " + std::to_string(seq) + ": " +
                  db_error(db_));
    }
    const std::string_view text = detail::column_view(s.get(), 0);
    if (leaf_hash(text) == leaf) {
      if (auto e = entry_from_json(text);
          e && e->kind == entry_kind::agreement_text && !e->agreement_sha256.empty()) {
        out.insert(std::move(e->agreement_sha256));
      }
    }
    sqlite3_reset(s.get());
  }
  return out;
}

void store::close_connection() {
  for (sqlite3_stmt** s : {&begin_, &commit_, &rollback_, &insert_entry_, &insert_checkpoint_}) {
    sqlite3_finalize(*s);
    *s = nullptr;
  }
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

// (Re)establishes the writer's read-write connection. After a failure the file may hold more
// rows than the tree (a COMMIT reported failed but reached the disk) or be unreachable; the
// in-memory state is rebuilt from the file so the two cannot disagree.
result<void> store::reconnect() {
  const std::string name = options_.db_path.string();
  const bool reuse = db_ != nullptr && !need_reconnect_;
  if (!reuse) {
    close_connection();
    if (::access(name.c_str(), W_OK) != 0) {
      return fail("audit store " + name + " is not writable: " + std::strerror(errno));
    }
    // No SQLITE_OPEN_CREATE: a store that vanished must not silently restart from seq 0.
    if (sqlite3_open_v2(name.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      std::string error = "cannot open audit store " + name + ": " + db_error(db_);
      close_connection();
      return fail(std::move(error));
    }
    if (sqlite3_db_readonly(db_, "main") == 1) {
      std::string error = "audit store " + name + " is not writable";
      close_connection();
      return fail(std::move(error));
    }
    if (auto configured = configure(db_); !configured) {
      std::string error = "cannot open audit store " + name + ": " + configured.error();
      close_connection();
      return fail(std::move(error));
    }
    statement count(db_, "SELECT count(*) FROM entries");
    if (!count.ok() || count.step() != SQLITE_ROW) {
      std::string error = "cannot read audit store " + name + ": " + db_error(db_);
      close_connection();
      return fail(std::move(error));
    }
    const auto rows = static_cast<std::uint64_t>(sqlite3_column_int64(count.get(), 0));
    if (rows < tree_.size()) {
      std::string error = "audit store " + name + " holds " + std::to_string(rows) +
                          " entries, fewer than the " + std::to_string(tree_.size()) +
                          " committed; refusing to write";
      close_connection();
      return fail(std::move(error));
    }
    if (auto loaded = load_state(); !loaded) {
      std::string error = loaded.error();
      close_connection();
      return fail(std::move(error));
    }
  }
  if (auto upgraded = upgrade_format(); !upgraded) {
    std::string error = "cannot upgrade audit store " + name + " to " +
                        std::string(detail::format_name) + ": " + upgraded.error();
    close_connection();
    return fail(std::move(error));
  }
  sqlite3_wal_hook(db_, wal_hook, &wal_frames_);
  auto prepare = [&](const char* sql, sqlite3_stmt** out) {
    return sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, out, nullptr) == SQLITE_OK;
  };
  if (!prepare("BEGIN IMMEDIATE", &begin_) || !prepare("COMMIT", &commit_) ||
      !prepare("ROLLBACK", &rollback_) ||
      !prepare("INSERT INTO entries(seq, time_us, kind, decision, reason, agreement, permission, "
               "requester, purpose, case_ref, acting_user, counted, entry, leaf_hash) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
               &insert_entry_) ||
      !prepare("INSERT INTO checkpoints(size, root, time_us, note, signature) "
               "VALUES (?1, ?2, ?3, ?4, ?5)",
               &insert_checkpoint_)) {
    std::string error = "cannot prepare audit store " + name + ": " + db_error(db_);
    close_connection();
    return fail(std::move(error));
  }
  need_reconnect_ = false;
  return {};
}

// A dsa-audit/1 store is upgraded in place the first time a writer reaches it: from then on it
// holds timestamped checkpoint notes, which an older reader would refuse as malformed, so the
// format row must say so. The write-once trigger on meta is the application's own guard against
// mistakes; it is lifted for this one row inside the same transaction and put back.
result<void> store::upgrade_format() {
  auto format = read_meta(db_, "format");
  if (!format || *format != detail::legacy_format_name) {
    return {};
  }
  const std::string sql =
      "BEGIN IMMEDIATE;"
      "DROP TRIGGER IF EXISTS meta_no_update;"
      "UPDATE meta SET value = '" +
      std::string(detail::format_name) +
      "' WHERE key = 'format';"
      "INSERT INTO meta(key, value) VALUES ('upgraded_from', '" +
      std::string(detail::legacy_format_name) + "'), ('upgraded_us', '" +
      std::to_string(common::now_us()) +
      "');"
      "CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta "
      "  BEGIN SELECT RAISE(ABORT, 'audit metadata is write-once'); END;"
      "COMMIT;";
  if (auto done = exec(db_, sql.c_str()); !done) {
    // The ROLLBACK's own outcome adds nothing: the statement that failed is what to report.
    (void)exec(db_, "ROLLBACK");
    return done;
  }
  return {};
}

}  // namespace dsa::audit
