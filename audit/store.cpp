#include "audit/store.hpp"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "audit/checkpoint.hpp"
#include "audit/schema.hpp"
#include "common/clock.hpp"

namespace dsa::audit {
namespace {

using detail::db_error;
using detail::exec;
using detail::statement;
using clock = std::chrono::steady_clock;

// A WAL this many frames long (4 KiB pages: ~16 MiB) is copied back into the database by the
// writer after a batch's callbacks have run, instead of inside a commit as SQLite's automatic
// checkpoint would, so the copy never adds to a request's latency.
constexpr int wal_checkpoint_frames = 4000;

// Group-commit window. A commit costs 150–200 µs of CPU here on its own (the WAL frames of every
// b-tree it touches, the fsync), however few entries it carries, against about 10 µs per entry;
// under load that fixed cost per entry is what the writer spends most on. So when the previous
// batch shows that entries arrive while a commit runs (gather_min_batch or more) and fewer than
// that are queued yet, the writer waits up to gather_window for more before it begins the next
// transaction. At low rates (batches of one or two) it never waits: latency comes first there.
constexpr std::size_t gather_min_batch = 3;
constexpr auto gather_window = std::chrono::microseconds(250);

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

void bind_optional(sqlite3_stmt* s, int i, std::string_view v) {
  if (v.empty()) {
    sqlite3_bind_null(s, i);
  } else {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
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
bool configure(sqlite3* db, std::string& error) {
  sqlite3_busy_timeout(db, 5000);
  return exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-16384;",
              error);
}

}  // namespace

store::store(const store_options& options) : options_(options) {}

store::~store() { close(); }

std::unique_ptr<store> store::open(const store_options& options, std::string& error) {
  // SQLite's memory statistics take a global mutex on every allocation; nothing here reads them.
  // Only possible before SQLite initialises; if something else initialised it first this is a
  // harmless SQLITE_MISUSE.
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  const std::string name = options.db_path.string();
  if (!valid_origin(options.origin)) {
    error = "audit origin \"" + options.origin + "\" must be one line of printable ASCII";
    return nullptr;
  }
  if (options.checkpoint_interval.count() <= 0 || options.max_batch == 0) {
    error = "audit checkpoint interval and batch size must be positive";
    return nullptr;
  }
  std::unique_ptr<store> s(new store(options));
  s->key_ = signing_key::load_or_create(options.signing_key_path, error);
  if (!s->key_) {
    return nullptr;
  }
  // A write-protected store is loaded without writing anything next to it (SQLite would create
  // -wal and -shm files with the database's read-only mode, which would then block writing after
  // the mode is fixed); the writer retries read-write before every batch until it succeeds.
  s->verify_key_ = public_key::from_pem(s->key_->public_key_pem(), error);
  if (!s->verify_key_) {
    return nullptr;
  }
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
    std::string lost;
    if (detail::wal_missing_frames(options.db_path, lost)) {
      error = "refusing to open audit store " + name + ": " + lost;
      return nullptr;
    }
    if (empty_db) {
      const std::string why = detail::wal_diagnosis(options.db_path, false);
      if (!why.empty()) {
        error = "refusing to create audit store " + name + ": " + why;
        return nullptr;
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
    error = "cannot open audit store " + name + ": " + db_error(s->db_);
    return nullptr;
  }
  sqlite3_busy_timeout(s->db_, 5000);

  bool fresh = false;
  {
    statement tables(s->db_, "SELECT count(*) FROM sqlite_schema");
    if (!tables.ok() || tables.step() != SQLITE_ROW) {
      error = "cannot read audit store " + name + ": " + db_error(s->db_);
      return nullptr;
    }
    fresh = sqlite3_column_int64(tables.get(), 0) == 0;
  }
  if (fresh) {
    if (read_only) {
      error = "cannot create audit store " + name + ": the file is not writable";
      return nullptr;
    }
    std::string sql_error;
    const std::string created = std::to_string(common::now_us());
    bool ok = configure(s->db_, sql_error) && exec(s->db_, "BEGIN IMMEDIATE", sql_error) &&
              exec(s->db_, detail::schema_sql, sql_error);
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
      ok = ok && exec(s->db_, "COMMIT", sql_error);
      if (!ok && sql_error.empty()) {
        sql_error = db_error(s->db_);
      }
    }
    if (!ok) {
      error = "cannot create audit store " + name + ": " + sql_error;
      return nullptr;
    }
  } else {
    auto format = read_meta(s->db_, "format");
    if (!format || !detail::known_format(*format)) {
      error = name + " is not a DSA audit store (" +
              (format ? "format " + *format : std::string("no dsa-audit metadata")) + ")";
      if (!format) {
        const std::string why = detail::wal_diagnosis(options.db_path, false);
        if (!why.empty()) {
          error += ": " + why;
        }
      }
      return nullptr;
    }
    auto origin = read_meta(s->db_, "origin");
    if (!origin || *origin != options.origin) {
      error = "audit store " + name + " belongs to origin \"" + origin.value_or("") + "\", not \"" +
              options.origin + "\"";
      return nullptr;
    }
    auto pem = read_meta(s->db_, "public_key");
    if (!pem || *pem != s->key_->public_key_pem()) {
      error = "signing key " + options.signing_key_path.string() +
              " is not the key that signed audit store " + name;
      return nullptr;
    }
    if (!read_only) {
      std::string sql_error;
      if (!configure(s->db_, sql_error)) {
        error = "cannot configure audit store " + name + ": " + sql_error;
        return nullptr;
      }
    }
  }
  if (!s->load_state(error)) {
    return nullptr;
  }
  if (read_only) {
    s->close_connection();
    s->need_reconnect_ = true;
  } else {
    s->writable_.store(true, std::memory_order_release);
    std::string prep_error;
    if (!s->reconnect(prep_error)) {
      error = prep_error;
      return nullptr;
    }
  }
  s->last_checkpoint_ = clock::now();
  s->writer_ = std::thread([p = s.get()] {
    // Named so that per-thread CPU figures (top -H, /proc/PID/task, dsa-bench) can tell it apart.
    pthread_setname_np(pthread_self(), "dsa-audit");
    p->run();
  });
  return s;
}

bool store::load_state(std::string& error) {
  const std::string name = options_.db_path.string();
  std::uint64_t checkpoint_size = 0;
  std::optional<hash> checkpoint_root;
  {
    statement s(db_, "SELECT note, signature FROM checkpoints ORDER BY id DESC LIMIT 1");
    if (!s.ok()) {
      error = "cannot read audit store " + name + ": " + db_error(db_);
      return false;
    }
    int rc = s.step();
    if (rc == SQLITE_ROW) {
      const std::string note = detail::column_text(s.get(), 0);
      auto c = parse_checkpoint_note(note);
      if (!c) {
        error = "audit store " + name + ": the latest checkpoint note is malformed";
        return false;
      }
      // The tree is checked against this checkpoint below; a forged one would make that check
      // (and the volume-cap seeding that relies on the tree) worthless.
      if (!verify_key_->verify(note, std::string(detail::column_view(s.get(), 1)))) {
        error = "audit store " + name +
                ": the latest checkpoint's signature does not verify with the signing key; run "
                "`dsa audit verify`";
        return false;
      }
      checkpoint_size = c->size;
      checkpoint_root = c->root;
    } else if (rc != SQLITE_DONE) {
      error = "cannot read audit store " + name + ": " + db_error(db_);
      return false;
    }
  }
  merkle_frontier tree;
  statement s(db_, "SELECT seq, leaf_hash FROM entries ORDER BY seq");
  if (!s.ok()) {
    error = "cannot read audit store " + name + ": " + db_error(db_);
    return false;
  }
  int rc = SQLITE_ROW;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    std::string_view leaf = detail::column_view(s.get(), 1);
    if (seq != tree.size() || leaf.size() != 32) {
      error = "audit store " + name + " is damaged at seq " + std::to_string(tree.size()) +
              "; run `dsa audit verify`";
      return false;
    }
    hash h;
    std::memcpy(h.data(), leaf.data(), 32);
    tree.append(h);
    // A writer that extended a tampered tree would sign over the forgery; refuse instead.
    if (checkpoint_root && tree.size() == checkpoint_size && tree.root() != *checkpoint_root) {
      error = "audit store " + name + " does not match its latest checkpoint (size " +
              std::to_string(checkpoint_size) + "); run `dsa audit verify`";
      return false;
    }
  }
  if (rc != SQLITE_DONE) {
    error = "cannot read audit store " + name + ": " + db_error(db_);
    return false;
  }
  if (checkpoint_size > tree.size()) {
    error = "audit store " + name + " holds " + std::to_string(tree.size()) +
            " entries but its latest checkpoint covers " + std::to_string(checkpoint_size) +
            "; run `dsa audit verify`";
    return false;
  }
  if (checkpoint_root && checkpoint_size == 0 && *checkpoint_root != empty_root()) {
    error = "audit store " + name + " does not match its latest checkpoint (size 0)";
    return false;
  }
  tree_ = tree;
  checkpoint_size_ = checkpoint_size;
  size_.store(tree.size(), std::memory_order_release);
  return true;
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
bool store::reconnect(std::string& error) {
  const std::string name = options_.db_path.string();
  const bool reuse = db_ != nullptr && !need_reconnect_;
  if (!reuse) {
    close_connection();
    if (::access(name.c_str(), W_OK) != 0) {
      error = "audit store " + name + " is not writable: " + std::strerror(errno);
      return false;
    }
    // No SQLITE_OPEN_CREATE: a store that vanished must not silently restart from seq 0.
    if (sqlite3_open_v2(name.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      error = "cannot open audit store " + name + ": " + db_error(db_);
      close_connection();
      return false;
    }
    if (sqlite3_db_readonly(db_, "main") == 1) {
      error = "audit store " + name + " is not writable";
      close_connection();
      return false;
    }
    std::string sql_error;
    if (!configure(db_, sql_error)) {
      error = "cannot open audit store " + name + ": " + sql_error;
      close_connection();
      return false;
    }
    statement count(db_, "SELECT count(*) FROM entries");
    if (!count.ok() || count.step() != SQLITE_ROW) {
      error = "cannot read audit store " + name + ": " + db_error(db_);
      close_connection();
      return false;
    }
    const auto rows = static_cast<std::uint64_t>(sqlite3_column_int64(count.get(), 0));
    if (rows < tree_.size()) {
      error = "audit store " + name + " holds " + std::to_string(rows) +
              " entries, fewer than the " + std::to_string(tree_.size()) +
              " committed; refusing to write";
      close_connection();
      return false;
    }
    std::string load_error;
    if (!load_state(load_error)) {
      error = load_error;
      close_connection();
      return false;
    }
  }
  std::string upgrade_error;
  if (!upgrade_format(upgrade_error)) {
    error = "cannot upgrade audit store " + name + " to " + std::string(detail::format_name) +
            ": " + upgrade_error;
    close_connection();
    return false;
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
    error = "cannot prepare audit store " + name + ": " + db_error(db_);
    close_connection();
    return false;
  }
  need_reconnect_ = false;
  return true;
}

// A dsa-audit/1 store is upgraded in place the first time a writer reaches it: from then on it
// holds timestamped checkpoint notes, which an older reader would refuse as malformed, so the
// format row must say so. The write-once trigger on meta is the application's own guard against
// mistakes; it is lifted for this one row inside the same transaction and put back.
bool store::upgrade_format(std::string& error) {
  auto format = read_meta(db_, "format");
  if (!format || *format != detail::legacy_format_name) {
    return true;
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
  if (!exec(db_, sql.c_str(), error)) {
    exec(db_, "ROLLBACK", error);
    return false;
  }
  return true;
}

void store::append(entry e, commit_callback done) {
  // Serialising here spreads the costliest per-entry work over the callers' threads.
  std::string after = json_after_seq(e);
  bool queued = false;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      // The writer only waits while the queue is empty, so only the append that makes it
      // non-empty needs to wake it: one wake-up per batch, not one per entry.
      wake = queue_.empty();
      queue_.push_back(pending{std::move(e), std::move(after), std::move(done)});
      queued = true;
    }
  }
  if (queued) {
    if (wake) {
      cv_.notify_one();
    }
    return;
  }
  commit_result r;
  r.error = "audit store " + options_.db_path.string() + " is closed";
  done(r);
}

void store::run() {
  std::vector<pending> batch;
  std::size_t last_batch = 0;
  for (;;) {
    bool stop = false;
    bool checkpoint_due = false;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (!queue_.empty() || stopping_) {
          break;
        }
        // While the store cannot write, a checkpoint is tried every interval even with nothing
        // new to cover: it re-tests the file, so writable() (and /readyz) recovers without
        // waiting for a request that a load balancer draining on 503 would never send.
        const bool retest = !writable_.load(std::memory_order_acquire);
        if (tree_.size() > checkpoint_size_ || retest) {
          auto due = last_checkpoint_ + options_.checkpoint_interval;
          if (clock::now() >= due) {
            checkpoint_due = true;
            break;
          }
          cv_.wait_until(lock, due);
        } else {
          cv_.wait(lock);
        }
      }
      if (!stopping_ && !queue_.empty() && last_batch >= gather_min_batch &&
          queue_.size() < last_batch) {
        // Appenders do not notify a non-empty queue, so this sleeps the window out; close()
        // notifies and ends it at once.
        cv_.wait_for(lock, gather_window, [this] { return stopping_; });
      }
      if (queue_.size() <= options_.max_batch) {
        batch.swap(queue_);
      } else {
        auto end = queue_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch);
        batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(end));
        queue_.erase(queue_.begin(), end);
      }
      stop = stopping_ && queue_.empty();
    }
    last_batch = batch.size();
    if (!batch.empty()) {
      commit_batch(batch);
      batch.clear();
    } else if (checkpoint_due) {
      write_checkpoint_alone();
    }
    if (stop) {
      if (tree_.size() > checkpoint_size_) {
        write_checkpoint_alone();
      }
      truncate_wal();
      break;
    }
  }
  close_connection();
}

// After a clean shutdown the database file alone holds the whole log: copy every WAL frame into
// it and truncate the WAL to zero bytes. SQLite does this by itself only when the last
// connection closes, which a reader (a `dsa audit` command, the store's own count connection)
// keeping the file open prevents.
void store::truncate_wal() {
  if (db_ == nullptr || need_reconnect_) {
    return;
  }
  int log_frames = 0;
  int copied = 0;
  // A reader in the middle of a transaction makes TRUNCATE wait; after its FULL part every frame
  // is in the database file already, so shutdown waits for the truncation only briefly.
  sqlite3_busy_timeout(db_, 1000);
  const int rc =
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &copied);
  std::lock_guard lock(stats_mu_);
  stats_.wal_truncated = rc == SQLITE_OK;
}

bool store::insert_checkpoint(const merkle_frontier& tree, std::string& error) {
  const std::int64_t time = common::now_us();
  checkpoint c{options_.origin, tree.size(), tree.root(), time};
  const std::string note = checkpoint_note(c);
  auto signature = key_->sign(note);
  if (!signature) {
    error = "cannot sign checkpoint";
    return false;
  }
  sqlite3_stmt* s = insert_checkpoint_;
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(c.size));
  sqlite3_bind_blob(s, 2, c.root.data(), static_cast<int>(c.root.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, time);
  sqlite3_bind_text(s, 4, note.data(), static_cast<int>(note.size()), SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, signature->data(), static_cast<int>(signature->size()), SQLITE_STATIC);
  const bool ok = sqlite3_step(s) == SQLITE_DONE;
  if (!ok) {
    error = db_error(db_);
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return ok;
}

bool store::write_checkpoint_alone() {
  std::string error;
  // Whatever happens, wait a full interval before trying again.
  last_checkpoint_ = clock::now();
  bool ok = !need_reconnect_ || reconnect(error);
  if (ok) {
    ok = sqlite3_step(begin_) == SQLITE_DONE;
    sqlite3_reset(begin_);
    ok = ok && insert_checkpoint(tree_, error);
    ok = ok && sqlite3_step(commit_) == SQLITE_DONE;
    if (commit_ != nullptr) {
      sqlite3_reset(commit_);
    }
    if (!ok && db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
      sqlite3_step(rollback_);
      sqlite3_reset(rollback_);
    }
  }
  if (ok) {
    checkpoint_size_ = tree_.size();
    writable_.store(true, std::memory_order_release);
    std::lock_guard lock(stats_mu_);
    ++stats_.checkpoints;
  } else {
    writable_.store(false, std::memory_order_release);
    need_reconnect_ = true;
  }
  return ok;
}

void store::commit_batch(std::vector<pending>& batch) {
  const auto start = clock::now();
  std::string error;
  bool ok = !need_reconnect_ || reconnect(error);
  // The batch extends a copy of the tree, so a failed commit leaves the real one untouched.
  merkle_frontier tree = tree_;
  const std::uint64_t first = tree.size();
  bool with_checkpoint = false;
  if (ok) {
    ok = sqlite3_step(begin_) == SQLITE_DONE;
    sqlite3_reset(begin_);
    std::string text;
    sqlite3_stmt* s = insert_entry_;
    entry_columns& c = columns_;
    for (std::size_t i = 0; ok && i < batch.size(); ++i) {
      text = json_with_seq(first + i, batch[i].after_seq);
      // The columns are derived from the text exactly as verification derives them, so they
      // agree byte for byte (the text has already replaced bytes that are not UTF-8).
      if (!derive_columns(text, c)) {
        error = "entry " + std::to_string(first + i) + " did not serialise to a well-formed entry";
        ok = false;
        break;
      }
      const hash leaf = leaf_hash(text);
      tree.append(leaf);
      sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(first + i));
      sqlite3_bind_int64(s, 2, c.time_us);
      sqlite3_bind_text(s, 3, c.kind.data(), static_cast<int>(c.kind.size()), SQLITE_STATIC);
      bind_optional(s, 4, c.decision);
      bind_optional(s, 5, c.reason);
      bind_optional(s, 6, c.agreement);
      bind_optional(s, 7, c.permission);
      bind_optional(s, 8, c.requester);
      bind_optional(s, 9, c.purpose);
      bind_optional(s, 10, c.case_ref);
      bind_optional(s, 11, c.acting_user);
      sqlite3_bind_int(s, 12, c.counted ? 1 : 0);
      sqlite3_bind_text(s, 13, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
      sqlite3_bind_blob(s, 14, leaf.data(), static_cast<int>(leaf.size()), SQLITE_STATIC);
      ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_reset(s);
    }
    if (ok && clock::now() - last_checkpoint_ >= options_.checkpoint_interval) {
      with_checkpoint = true;
      ok = insert_checkpoint(tree, error);
    }
    if (ok) {
      ok = sqlite3_step(commit_) == SQLITE_DONE;
      sqlite3_reset(commit_);
    }
    if (!ok) {
      if (error.empty()) {
        error = db_error(db_);
      }
      if (sqlite3_get_autocommit(db_) == 0) {
        sqlite3_step(rollback_);
        sqlite3_reset(rollback_);
      }
    }
  }
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start).count();
  if (ok) {
    tree_ = tree;
    size_.store(tree_.size(), std::memory_order_release);
    if (with_checkpoint) {
      checkpoint_size_ = tree_.size();
      last_checkpoint_ = clock::now();
    }
    writable_.store(true, std::memory_order_release);
    record_commit(micros, batch.size());
    if (with_checkpoint) {
      std::lock_guard lock(stats_mu_);
      ++stats_.checkpoints;
    }
  } else {
    writable_.store(false, std::memory_order_release);
    need_reconnect_ = true;
    std::lock_guard lock(stats_mu_);
    ++stats_.failed_batches;
    stats_.failed_entries += batch.size();
  }
  commit_result r;
  r.ok = ok;
  if (!ok) {
    const std::string name = options_.db_path.string();
    r.error = error.find(name) == std::string::npos ? "audit store " + name + ": " + error : error;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    r.seq = ok ? first + i : 0;
    // A throwing callback must not take the writer (and every later caller) down with it.
    try {
      batch[i].done(r);
    } catch (...) {
    }
  }
  if (ok) {
    maybe_wal_checkpoint();
  }
}

void store::maybe_wal_checkpoint() {
  if (wal_frames_ >= wal_checkpoint_frames && db_ != nullptr) {
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    wal_frames_ = 0;
  }
}

void store::record_commit(std::int64_t micros, std::size_t n) {
  std::lock_guard lock(stats_mu_);
  stats_.entries += n;
  ++stats_.batches;
  stats_.max_batch_size = std::max<std::uint64_t>(stats_.max_batch_size, n);
  stats_.last_commit_us = micros;
  stats_.commit_us_sum += micros;
  std::size_t b = 0;
  while (b < store_stats::bucket_bounds_us.size() && micros > store_stats::bucket_bounds_us[b]) {
    ++b;
  }
  // Cumulative buckets: a commit counts in its own bucket and every larger one.
  for (std::size_t i = b; i < stats_.commit_us_buckets.size(); ++i) {
    ++stats_.commit_us_buckets[i];
  }
}

store_stats store::stats() const {
  store_stats s;
  {
    std::lock_guard lock(stats_mu_);
    s = stats_;
  }
  std::lock_guard lock(mu_);
  s.queued = queue_.size();
  return s;
}

void store::close() {
  std::lock_guard close_lock(close_mu_);
  if (closed_) {
    return;
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) {
    writer_.join();
  } else {
    close_connection();
  }
  std::lock_guard lock(read_mu_);
  if (read_db_ != nullptr) {
    sqlite3_close_v2(read_db_);
    read_db_ = nullptr;
  }
  closed_ = true;
}

namespace {

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

std::optional<std::vector<counted_request>> store::counted_since(std::int64_t since_us,
                                                                 std::string& error) const {
  const std::string name = options_.db_path.string();
  // Taken before the snapshot begins, so the snapshot holds at least this many rows.
  const std::uint64_t committed = size();
  std::lock_guard lock(read_mu_);
  if (read_db_ == nullptr && (read_db_ = open_read(options_.db_path)) == nullptr) {
    error = "cannot open audit store " + name + " for reading";
    return std::nullopt;
  }
  std::string sql_error;
  // One snapshot for the checkpoint and the rows.
  if (!exec(read_db_, "BEGIN", sql_error)) {
    error = "cannot read audit store " + name + ": " + sql_error;
    return std::nullopt;
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
      error = "cannot read audit store " + name + ": " + db_error(read_db_);
      return std::nullopt;
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
    error = "cannot read audit store " + name + ": " + db_error(read_db_);
    return std::nullopt;
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
      error = "audit store " + name + " is damaged at seq " + std::to_string(expected) +
              " (rows are not contiguous); run `dsa audit verify`";
      return std::nullopt;
    }
    const hash h = leaf_hash(text);
    if (leaf.size() != 32 || std::memcmp(leaf.data(), h.data(), 32) != 0 ||
        claimed_seq(text) != std::optional<std::uint64_t>(seq) || !derive_columns(text, c)) {
      error = "audit store " + name + ": entry " + std::to_string(seq) +
              " does not match its hash; refusing to seed volume caps from it; run `dsa audit "
              "verify`";
      return std::nullopt;
    }
    ++expected;
    if (c.counted && c.time_us >= since_us) {
      out.push_back({c.time_us, std::string(c.agreement), std::string(c.permission),
                     std::string(c.requester), std::string(c.case_ref),
                     std::string(c.acting_user)});
    }
  }
  if (rc != SQLITE_DONE) {
    error = "cannot read audit store " + name + ": " + db_error(read_db_);
    return std::nullopt;
  }
  if (expected < committed) {
    error = "audit store " + name + " holds " + std::to_string(expected) +
            " entries, fewer than the " + std::to_string(committed) +
            " committed; run `dsa audit verify`";
    return std::nullopt;
  }
  return out;
}

}  // namespace dsa::audit
