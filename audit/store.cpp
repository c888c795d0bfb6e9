// The audit store's single writer (format in audit/store.hpp): the append queue, group commit,
// checkpoints, WAL housekeeping, counters and close. Opening and reconnecting are in
// store_open.cpp, the start-up read of counted requests in store_counted.cpp.
#include "audit/store.hpp"

#include <sqlite3.h>

#include <optional>

#include "audit/checkpoint.hpp"
#include "audit/schema.hpp"
#include "common/clock.hpp"

namespace dsa::audit {
namespace {

using detail::db_error;
using clock = std::chrono::steady_clock;

// The WAL grows by the frames of every commit until a checkpoint has copied all of them into the
// database file; the next commit then restarts it from its start. Copying ~16 MiB and syncing
// the database file takes milliseconds (tens under load), so the bulk of it runs on a thread of
// its own with its own connection (SQLite lets a checkpointer work beside the writer) and never
// holds up a commit. Its PASSIVE checkpoint cannot copy the frames committed while it runs, and
// retrying until one happens to fall between two commits would cost the disk two syncs a try
// (measured: hundreds of tries in 10 s at 1,000 commits/s). So the writer copies that remainder
// itself, a few pages, at the first moment no entry is queued; if the WAL still reaches this many
// times the threshold (commits never pause, or a reader pins old frames), the writer checkpoints
// there and then. Either way the WAL stays bounded (store_options::wal_checkpoint_frames;
// docs/performance.md §8).
constexpr int wal_writer_checkpoint_factor = 4;

// Group-commit window. A commit costs 70–110 µs of CPU here on its own (its WAL frames, six file
// locks, the fdatasync through the VM's disk; docs/performance.md §8), however few entries it
// carries, against about 5 µs per entry;
// under load that fixed cost per entry is what the writer spends most on. So when the previous
// batch shows that entries arrive while a commit runs (gather_min_batch or more) and fewer than
// that are queued yet, the writer waits up to gather_window for more before it begins the next
// transaction. At low rates (batches of one or two) it never waits: latency comes first there.
constexpr std::size_t gather_min_batch = 3;
constexpr auto gather_window = std::chrono::microseconds(250);

// Cumulative buckets (Prometheus `le`): a duration counts in its own bucket and every larger one.
void count_in_buckets(std::array<std::uint64_t, store_stats::bucket_bounds_us.size() + 1>& buckets,
                      std::int64_t micros) {
  std::size_t b = 0;
  while (b < store_stats::bucket_bounds_us.size() && micros > store_stats::bucket_bounds_us[b]) {
    ++b;
  }
  for (std::size_t i = b; i < buckets.size(); ++i) {
    ++buckets[i];
  }
}

void bind_optional(sqlite3_stmt* s, int i, std::string_view v) {
  if (v.empty()) {
    sqlite3_bind_null(s, i);
  } else {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
}

}  // namespace

store::store(const store_options& options)
    : options_(options), wal_request_at_(options.wal_checkpoint_frames) {}

store::~store() { close(); }

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
      // A checkpoint running on the other connection would make TRUNCATE wait or fail.
      stop_checkpointer();
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

result<void> store::insert_checkpoint(const merkle_frontier& tree) {
  const std::int64_t time = common::now_us();
  checkpoint c{options_.origin, tree.size(), tree.root(), time};
  const std::string note = checkpoint_note(c);
  auto signature = key_->sign(note);
  if (!signature) {
    return fail("cannot sign checkpoint");
  }
  sqlite3_stmt* s = insert_checkpoint_;
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(c.size));
  sqlite3_bind_blob(s, 2, c.root.data(), static_cast<int>(c.root.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, time);
  sqlite3_bind_text(s, 4, note.data(), static_cast<int>(note.size()), SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, signature->data(), static_cast<int>(signature->size()), SQLITE_STATIC);
  const bool ok = sqlite3_step(s) == SQLITE_DONE;
  // SQLite's message is read before the reset that clears it.
  std::string error = ok ? std::string() : db_error(db_);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (!ok) {
    return fail(std::move(error));
  }
  return {};
}

bool store::write_checkpoint_alone() {
  // Whatever happens, wait a full interval before trying again. Nobody waits on this checkpoint,
  // so a failure only marks the store unwritable (its cause shows on the next batch's callbacks).
  last_checkpoint_ = clock::now();
  bool ok = !need_reconnect_ || reconnect().has_value();
  if (ok) {
    ok = sqlite3_step(begin_) == SQLITE_DONE;
    sqlite3_reset(begin_);
    ok = ok && insert_checkpoint(tree_).has_value();
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
  bool ok = true;
  if (need_reconnect_) {
    if (auto connected = reconnect(); !connected) {
      ok = false;
      error = connected.error();
    }
  }
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
      if (auto inserted = insert_checkpoint(tree); !inserted) {
        ok = false;
        error = inserted.error();
      }
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
    for (const pending& p : batch) {
      if (p.e.kind == entry_kind::agreement_text) {
        std::lock_guard lock(archive_mu_);
        archived_.insert(p.e.agreement_sha256);
      }
    }
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

// Runs on the writer thread after a batch's callbacks.
void store::maybe_wal_checkpoint() {
  const int threshold = options_.wal_checkpoint_frames;
  if (db_ == nullptr) {
    return;
  }
  if (wal_frames_ < threshold) {
    // The WAL restarted (or has not reached the threshold yet): a new cycle.
    wal_request_at_ = threshold;
    wal_asked_ = false;
    return;
  }
  if (wal_frames_ < wal_request_at_) {
    return;
  }
  {
    std::lock_guard lock(wal_mu_);
    if (wal_requested_) {
      return;  // the checkpointer is at work
    }
  }
  const bool too_long = wal_frames_ >= wal_writer_checkpoint_factor * threshold;
  if (!wal_asked_ && !too_long) {
    wal_asked_ = true;
    {
      std::lock_guard lock(wal_mu_);
      wal_requested_ = true;
    }
    wal_cv_.notify_one();
    return;
  }
  // The checkpointer has run this cycle and the WAL did not restart: its checkpoint left the
  // frames committed while it ran (or failed). Copy them here, when no entry is waiting.
  if (!too_long) {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) {
      return;
    }
  }
  int log = 0;
  int copied = 0;
  const int rc = wal_checkpoint(db_, log, copied);
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.wal_checkpoints_by_writer;
  }
  if (rc != SQLITE_OK || copied < log) {
    // A reader's snapshot still uses frames no checkpoint may overwrite: let the checkpointer
    // try again once the WAL has grown by another threshold, not after every commit.
    wal_request_at_ = wal_frames_ + threshold;
    wal_asked_ = false;
  }
}

// A timed PASSIVE checkpoint on `db` (the writer's or the checkpointer's connection); returns
// SQLite's result code, and in `log` and `copied` the frames in the WAL and those now in the
// database file (equal when the checkpoint completed).
int store::wal_checkpoint(sqlite3* db, int& log, int& copied) {
  const auto start = clock::now();
  const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start).count();
  if (rc == SQLITE_OK) {
    std::lock_guard lock(stats_mu_);
    ++stats_.wal_checkpoints;
    stats_.wal_checkpoint_us_sum += micros;
    stats_.wal_checkpoint_us_max = std::max(stats_.wal_checkpoint_us_max, micros);
    count_in_buckets(stats_.wal_checkpoint_us_buckets, micros);
  }
  return rc;
}

// The checkpointer thread (started by open(), stopped by the writer before its final TRUNCATE).
// Its connection is opened when first needed and reopened after an error other than "busy"
// (another checkpoint running, or a reader in the way), which the next request simply retries.
void store::run_checkpointer() {
  for (;;) {
    {
      std::unique_lock lock(wal_mu_);
      wal_cv_.wait(lock, [this] { return wal_requested_ || wal_stopping_; });
      if (wal_stopping_) {
        break;
      }
    }
    if (wal_db_ == nullptr) {
      // No SQLITE_OPEN_CREATE: a checkpoint has nothing to do in a file that is not there.
      const int rc = sqlite3_open_v2(options_.db_path.c_str(), &wal_db_,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
      if (rc != SQLITE_OK || !detail::exec(wal_db_, "PRAGMA synchronous=FULL").has_value()) {
        sqlite3_close_v2(wal_db_);
        wal_db_ = nullptr;
      }
    }
    if (wal_db_ != nullptr) {
      int log = 0;
      int copied = 0;
      const int rc = wal_checkpoint(wal_db_, log, copied);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
        sqlite3_close_v2(wal_db_);
        wal_db_ = nullptr;
      }
    }
    // Whatever is left (frames committed meanwhile, or all of it after a failure) the writer
    // copies itself between two batches (maybe_wal_checkpoint).
    std::lock_guard lock(wal_mu_);
    wal_requested_ = false;
  }
  if (wal_db_ != nullptr) {
    sqlite3_close_v2(wal_db_);
    wal_db_ = nullptr;
  }
}

void store::stop_checkpointer() {
  {
    std::lock_guard lock(wal_mu_);
    wal_stopping_ = true;
  }
  wal_cv_.notify_one();
  if (checkpointer_.joinable()) {
    checkpointer_.join();
  }
}

void store::record_commit(std::int64_t micros, std::size_t n) {
  std::lock_guard lock(stats_mu_);
  stats_.entries += n;
  ++stats_.batches;
  stats_.max_batch_size = std::max<std::uint64_t>(stats_.max_batch_size, n);
  stats_.last_commit_us = micros;
  stats_.commit_us_sum += micros;
  stats_.commit_us_max = std::max(stats_.commit_us_max, micros);
  count_in_buckets(stats_.commit_us_buckets, micros);
}

bool store::agreement_archived(std::string_view sha256) const {
  std::lock_guard lock(archive_mu_);
  return archived_.find(sha256) != archived_.end();
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
    stop_checkpointer();
    close_connection();
  }
  std::lock_guard lock(read_mu_);
  if (read_db_ != nullptr) {
    sqlite3_close_v2(read_db_);
    read_db_ = nullptr;
  }
  closed_ = true;
}

}  // namespace dsa::audit
