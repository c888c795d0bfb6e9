#pragma once

/*
** THE DSA AUDIT STORE: ON-DISK FORMAT
**
** The audit store is one SQLite database file (plus SQLite's own -wal and -shm files while it is
** open). It is opened in WAL mode with synchronous=FULL, so a transaction that COMMIT reports as
** done has been fsync()ed to the write-ahead log and survives a crash of the process or of the
** machine. Exactly one process writes a store at a time; any number may read it (the `dsa audit`
** commands open it read-only).
**
** TABLES
**
**   meta(key TEXT PRIMARY KEY, value TEXT)  -- written once, when the store is created:
**       format      "dsa-audit/2" (or "dsa-audit/1", see FORMAT VERSIONS); any other value is
**                   refused.
**       origin      the first line of every checkpoint note (store_options::origin).
**       public_key  the PEM SubjectPublicKeyInfo of the Ed25519 checkpoint key, so that
**                   `dsa audit export-key` can print it. An auditor keeps a copy and passes it
**                   to `verify --key`: a key read from the file being verified proves nothing
**                   against whoever controls that file.
**       created_us  creation time, UTC microseconds.
**       upgraded_from, upgraded_us  only in a store upgraded from dsa-audit/1: the old format
**                   and when the upgrade happened.
**
**   entries(seq INTEGER PRIMARY KEY, time_us, kind, decision, reason, agreement, permission,
**           requester, purpose, case_ref, acting_user, counted, entry TEXT, leaf_hash BLOB)
**       One row per audit entry. `seq` is the position in the log: 0, 1, 2, … without gaps.
**       `entry` is the entry's JSON text (entry.hpp): compact, fixed key order, and its first
**       member is always "seq" with the row's own sequence number, so every entry names its
**       place in the log and a row moved, dropped or duplicated no longer agrees with its text.
**       The text is stored and hashed byte for byte; every other column but leaf_hash is derived
**       from it (entry.hpp, derive_columns: the top-level member of the same name; requester =
**       requester.party; NULL when the member is absent or empty; counted = 1 exactly when the
**       text says "counted":true, i.e. the policy allowed the request under `permission` so it
**       counts toward volume caps). The columns exist for people using sqlite3; nothing that
**       decides or reports reads them (see READING), and verification re-derives every one from
**       the text and reports a difference as tampering.
**       `leaf_hash` = SHA-256(0x00 ‖ entry), the RFC 9162 §2.1.1 leaf hash, stored so that the
**       tree can be rebuilt at start-up without rehashing every entry and so that an edited
**       entry is pinpointed exactly.
**       No secondary index: every reader goes by seq or reads the texts in order (READING), so
**       an index would only cost each commit its own b-tree pages. Stores created before
**       2026-12 carry seven (schema.hpp names them); SQLite keeps them up to date, and they
**       change nothing that is hashed, read or verified.
**
**   checkpoints(id INTEGER PRIMARY KEY, size, root BLOB, time_us, note TEXT, signature BLOB)
**       One row per signed checkpoint, in the order written. `note` is exactly
**           <origin> "\n" <size in decimal> "\n" <base64 of the 32-byte root> "\n"
**           "time_us " <UTC microseconds when it was signed, decimal> "\n"
**       (the body of a C2SP tlog-checkpoint with one extension line; checkpoint.hpp), and
**       `signature` is the 64-byte Ed25519 signature (RFC 8032, pure, via OpenSSL
**       EVP_DigestSign with no digest) of those bytes. The time is inside the signed bytes, so a
**       checkpoint proves that the log held `size` entries at that time. `size`, `root` and
**       `time_us` repeat what the note says; verification reads the note and compares.
**
** THE MERKLE TREE
**
**   The log of size n is the RFC 9162 §2.1.1 Merkle Tree Hash over leaf_hash[0..n): interior
**   node = SHA-256(0x01 ‖ left ‖ right), split at the largest power of two below n; the empty
**   tree's hash is SHA-256(""). The writer keeps only the right-hand frontier of the tree (one
**   subtree root per set bit of n), rebuilt at open from the stored leaf hashes — O(n) hashes of
**   64 bytes, about a third of a second per million entries.
**
** TRIGGERS
**
**   BEFORE UPDATE and BEFORE DELETE triggers on entries, checkpoints and meta RAISE(ABORT): the
**   application cannot change history by mistake. They are not a security boundary — anyone who
**   can write the file can drop them — which is why the checkpoints exist.
**
** WRITING
**
**   One writer thread owns the connection. append() queues an entry (already serialised on the
**   caller's thread); the writer takes everything queued (up to max_batch), numbers the entries,
**   hashes them, derives their columns from the final text (the same function verification
**   uses, so the two agree byte for byte), inserts them in one transaction and commits once —
**   group commit, so throughput does not depend on one fsync per request. Under load (the
**   previous batch held three or more entries) the writer first waits up to 250 µs for the batch
**   to fill, since a commit's fixed cost dwarfs an entry's; at low rates it commits at once. When
**   a checkpoint is due (checkpoint_interval since the last one, while entries arrive) its row
**   joins the same transaction; when entries are committed but no batch follows, a checkpoint is
**   written on its own when it falls due, and a final one at close(). After it close() runs
**   PRAGMA wal_checkpoint(TRUNCATE): every WAL frame is copied into the database file and the
**   WAL is cut to zero bytes, so after a clean shutdown the database file alone is the whole
**   store and can be copied by itself (SQLite does this only when the last connection closes,
**   which an open reader prevents).
**
**   The WAL grows by every commit's frames until a checkpoint has copied all of them into the
**   database file; the next commit then starts it again from its beginning. SQLite's automatic
**   checkpoint would run inside a COMMIT, and the writer used to run it between two batches;
**   either way the copy and its sync of the database file (milliseconds) held up every entry
**   arriving meanwhile. So once the WAL holds wal_checkpoint_frames (4,000 frames, ~16 MiB), the
**   writer asks a checkpointer thread ("dsa-audit-wal"), which runs a PASSIVE checkpoint on a
**   read-write connection of its own while commits go on; SQLite serialises the two through the
**   WAL index, and a checkpoint never copies a frame past the last committed one. Frames
**   committed while it runs stay in the WAL, so after it the writer copies that remainder (a few
**   pages) itself, at the first moment no entry is queued; if the WAL reaches four times the
**   threshold first (commits never pause, or a reader pins old frames), the writer checkpoints
**   there and then. Either way the WAL stays bounded. close() stops the checkpointer before its
**   TRUNCATE. A crash during a checkpoint loses nothing: the WAL keeps every frame until a later
**   commit restarts it, and SQLite's recovery replays it.
**
**   Only after COMMIT returns success are the callbacks told
**   ok; if any step fails the transaction is rolled back, the in-memory tree is left as it was
**   before the batch, and every entry of the batch is reported failed. The next batch first
**   reopens the database and re-reads its size, so a failure that left a partial state (or a
**   commit that reported failure yet reached the disk) cannot make the tree and the table
**   disagree.
**
** GUARANTEES
**
**   - An entry reported committed (commit_result::ok) is in the file after any crash: it was in
**     a transaction whose COMMIT returned after the WAL was fsync()ed.
**   - seq is contiguous from 0, and the tree over the rows equals the tree the writer signed.
**   - A checkpoint is only signed over entries in the same or an earlier transaction, so a
**     checkpoint never names a size the file does not hold.
**
** WHAT A CRASH CAN AND CANNOT LOSE
**
**   A crash (kill -9, power loss) loses only entries whose batch had not committed; their callers
**   were not told ok, so no response that depended on them was released. Entries committed after
**   the last checkpoint survive but are covered by no signature until the next start writes one;
**   `dsa audit verify` reports them as not yet covered rather than as tampering. SQLite's WAL
**   recovery discards a torn transaction as a whole.
**
**   Until a clean close, the newest transactions live in <file>-wal: the database file copied
**   alone from a running or crashed gateway is an older store, or no store at all. Readers and
**   the writer say so instead of "not a DSA audit store": a -shm whose wal-index header counts
**   more committed frames than the -wal holds, a -wal beside a missing or empty file, or a file
**   without audit tables each give a message naming the files and what to copy; the writer
**   refuses to create a store over such a -wal, and refuses to open one whose -wal is short.
**
** VERIFICATION (verify.hpp)
**
**   Every checkpoint's note must parse and carry a valid signature; sizes never decrease; each
**   row's text must hash to its leaf_hash and claim its own seq; every indexed column must equal
**   the value derived from the text ("first bad seq N: column altered — column X differs from
**   the hashed entry"); rows must be contiguous; and the root recomputed from the texts must
**   equal every checkpoint's root at that checkpoint's size. A checkpoint row's columns must
**   repeat its note. The cost per entry is one SHA-256 of the text plus one pass over its bytes
**   (derive_columns builds no JSON tree and copies nothing unless a value holds an escape).
**
** READING: WHAT DECIDES OR REPORTS READS ONLY VERIFIED TEXT
**
**   Whoever can write the file can drop the triggers and change any column, and the hash covers
**   only the text. So:
**   - `dsa audit query` and `stats` first verify the whole store on their reader's snapshot (one
**     read transaction) and refuse, exit 1, when it fails; they then filter, group and report on
**     values derived from each text, never on the columns. The indexes are not used for them: a
**     query costs a verification plus one pass over the texts (both near the verify rate), which
**     is what soundness costs when no column can be trusted.
**   - The gateway seeds its volume caps with counted_since(), which reads the texts of the rows
**     that can fall in the window, checks each against its stored leaf hash (the leaf hashes
**     were checked against the latest checkpoint, whose signature was checked, at open) and
**     derives what it seeds from the text. A row that fails refuses the start, naming the seq.
**     The incident reference a cap with `scope: incident` counts by is derived from the text
**     the same way (entry_columns::incident_ref); it has no column, so the format is unchanged.
**   - The gateway seeds its set of emergency disclosures awaiting review with
**     emergency_records() under the same checks; entry_at() reads the target of a review.
**   - The agreement archive index (agreement_archived) is built at open in the same pass that
**     loads the leaf hashes: the kind column only picks candidate rows, whose texts are then read,
**     hashed against their (checkpoint-checked) leaves and parsed. A row that fails is left out,
**     which at worst makes the gateway archive that file again.
**
** COUNTED REQUESTS: WHERE THE WINDOW STARTS
**
**   To stay O(window) rather than O(log) at start-up without trusting the time_us column,
**   counted_since(since) starts reading at the size of the newest checkpoint whose *signed* time
**   is before `since`: every entry below that size was appended, and so timed (entries carry the
**   gateway's clock at decision time, taken before they are queued), before that checkpoint was
**   signed. The time_us column of checkpoints only picks the candidate (newest with
**   time_us < since); its note decides, and its signature is checked. A candidate that does not
**   hold up (edited column, legacy note without a time, bad signature) means starting at seq 0:
**   slower, never unsound. The argument assumes the wall clock does not step back across the
**   window, as the volume counter itself does.
**
** CONSISTENCY WITH CHECKPOINTS KEPT ELSEWHERE (consistency.hpp)
**
**   Deleting a tail of entries together with the checkpoints covering it leaves a store that
**   verifies. Only a checkpoint kept outside the operator's reach exposes it: `dsa audit
**   checkpoint` exports the newest signed checkpoint as JSON, and `dsa audit consistency --from`
**   proves with RFC 9162 §2.1.4 consistency proofs that the store still extends it (exit 1 with
**   "truncated" or "history rewritten" otherwise). See docs/auditing.md.
**
** FORMAT VERSIONS
**
**   dsa-audit/1 (before signed checkpoint times): three-line notes; columns were copied from the
**   entry struct rather than derived from the text, which differs only where a string held bytes
**   that are not UTF-8 (the text has U+FFFD there); verification accepts a column that becomes
**   the text's value once such bytes are replaced. dsa-audit/2 adds the time line to every new
**   note and derives the columns. Readers (the `dsa audit` commands, the gateway) read both. A
**   writer that opens a /1 store upgrades it in place once, in one transaction: the format row
**   becomes dsa-audit/2 (the write-once trigger on meta is lifted for that statement and put
**   back) and upgraded_from/upgraded_us are added; its old checkpoints keep their three-line
**   notes and still verify; new ones carry times. A dsa binary from before /2 refuses a /2 store
**   as "not a DSA audit store (format dsa-audit/2)" rather than misreading its notes.
*/

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/crypto.hpp"
#include "audit/entry.hpp"
#include "audit/merkle.hpp"
#include "common/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace dsa::audit {

struct store_options {
  std::filesystem::path db_path;
  std::filesystem::path
      signing_key_path;                // Ed25519 PEM private key; created with mode 0600 if absent
  std::string origin = "dsa-gateway";  // first line of every checkpoint
  std::chrono::milliseconds checkpoint_interval{1000};
  std::size_t max_batch = 4096;
  // WAL length, in frames (4 KiB pages), at which the checkpointer thread copies the WAL back
  // into the database file (see "WRITING"); at four times this the writer does it itself.
  int wal_checkpoint_frames = 4000;
};

struct commit_result {
  bool ok = false;
  std::uint64_t seq = 0;
  std::string error;
};
using commit_callback = std::function<void(const commit_result&)>;

struct counted_request {
  std::int64_t time_us;
  std::string agreement, permission, requester, case_ref, acting_user;
  std::string incident_ref;  // the DSA-Emergency value an emergency disclosure carried
};

// The emergency disclosures and reviews in a store (emergency_records), from verified entry
// texts: what the gateway's overdue-review gauge is seeded from at start.
struct emergency_record {
  std::uint64_t seq = 0;
  entry e;  // parsed from the text
};

// A snapshot of the writer's counters, for /metrics. Latencies are of COMMIT batches (BEGIN to
// the end of COMMIT), in microseconds; the histogram is cumulative (Prometheus `le` buckets).
struct store_stats {
  static constexpr std::array<std::int64_t, 12> bucket_bounds_us{
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
  std::uint64_t entries = 0;  // entries committed by this process
  std::uint64_t batches = 0;  // successful commits
  std::uint64_t failed_batches = 0;
  std::uint64_t failed_entries = 0;
  std::uint64_t checkpoints = 0;  // written by this process
  std::uint64_t max_batch_size = 0;
  std::int64_t last_commit_us = 0;
  std::int64_t commit_us_sum = 0;
  std::array<std::uint64_t, bucket_bounds_us.size() + 1> commit_us_buckets{};  // last is +Inf
  std::int64_t commit_us_max = 0;
  // WAL checkpoints run while the store is open (copying WAL frames back into the database file;
  // see "WRITING"), each timed from start to end, in microseconds, on the same buckets.
  std::uint64_t wal_checkpoints = 0;
  // Of which the writer ran on its own connection: finishing what the checkpointer left, or a
  // WAL that reached four times the threshold.
  std::uint64_t wal_checkpoints_by_writer = 0;
  std::int64_t wal_checkpoint_us_sum = 0;
  std::int64_t wal_checkpoint_us_max = 0;
  std::array<std::uint64_t, bucket_bounds_us.size() + 1> wal_checkpoint_us_buckets{};
  std::uint64_t queued = 0;    // appends waiting for the writer now
  bool wal_truncated = false;  // close() copied the whole WAL into the database file
};

// The append-only, tamper-evident audit store (format above). Non-copyable.
//
// Thread safety: every public member function may be called from any thread. Callbacks run on
// the writer thread and must be cheap and must not call back into the store's close().
// Errors: nothing throws; open() and counted_since() return a result (common/result.hpp), commits
// report through commit_result.
class store {
 public:
  store(const store&) = delete;
  store& operator=(const store&) = delete;
  ~store();

  // Opens or creates the store, checks the schema, loads the Merkle frontier from the stored
  // leaves, starts the single writer thread. Fails with a message naming the file and the problem
  // (unreadable file, not an audit store, other origin or signing key than the store records, a
  // stored tree that disagrees with the latest checkpoint). A store whose file is readable but
  // not writable opens with writable() false; appends fail until the file becomes writable.
  [[nodiscard]] static result<std::unique_ptr<store>> open(const store_options& options);

  // Queues `e` (its seq is assigned by the store; whatever e.seq holds is ignored). Never blocks
  // on disk. `done` is called exactly once, from the writer thread, when the batch holding this
  // entry is durably committed (ok, seq) or has failed (error) — or at once, on the calling
  // thread, with an error if the store is closed.
  void append(entry e, commit_callback done);

  bool writable() const { return writable_.load(std::memory_order_acquire); }
  std::uint64_t size() const { return size_.load(std::memory_order_acquire); }

  // Counted requests with time_us >= since_us, in seq order: seeds volume caps at start. Every
  // value is derived from the entry texts, each checked against its leaf hash (itself checked
  // against the signed tree at open); the indexed columns are not read. Where to start reading is
  // taken from the latest checkpoint signed before since_us (see "COUNTED REQUESTS" above).
  // Fails, naming the store and seq, when a row fails those checks or the store cannot be read:
  // the gateway must then not start, since what it would seed is unproven.
  [[nodiscard]] result<std::vector<counted_request>> counted_since(std::int64_t since_us) const;

  // Whether the log holds an agreement_text entry for the agreement file with this SHA-256
  // (lowercase hex): found at open among the entries whose text still hashes to the leaf the
  // signed tree holds, and kept up to date as such entries commit. The gateway archives a file
  // only when this is false, so a restart does not archive it again (docs/auditing.md,
  // "Agreement archive").
  [[nodiscard]] bool agreement_archived(std::string_view sha256) const;

  // Every emergency disclosure (is_emergency_disclosure) and every review entry, in seq order.
  // Only rows whose text holds "incident_ref" or the review kind are read (SQLite's instr(), at
  // the speed of reading the file once); each is checked against its stored leaf hash and its
  // claimed seq as counted_since checks. Fails naming the seq when one does not match.
  [[nodiscard]] result<std::vector<emergency_record>> emergency_records() const;

  // The entry at `seq`, checked against its stored leaf hash; nullopt with no error when the
  // store holds no such seq.
  [[nodiscard]] result<std::optional<entry>> entry_at(std::uint64_t seq) const;

  std::string public_key_pem() const { return key_->public_key_pem(); }
  const std::filesystem::path& path() const { return options_.db_path; }
  store_stats stats() const;

  // Drains the queue, writes the final checkpoint, stops the writer. Idempotent; the destructor
  // calls it.
  void close();

 private:
  struct pending {
    entry e;
    std::string after_seq;  // json_after_seq(e), built on the caller's thread
    commit_callback done;
  };

  explicit store(const store_options& options);
  void run();
  void commit_batch(std::vector<pending>& batch);
  bool write_checkpoint_alone();
  [[nodiscard]] result<void> insert_checkpoint(const merkle_frontier& tree);
  [[nodiscard]] result<void> reconnect();
  [[nodiscard]] result<void> load_state();
  [[nodiscard]] result<std::set<std::string, std::less<>>> archived_agreements(
      const std::vector<std::pair<std::uint64_t, hash>>& rows) const;
  void close_connection();
  void record_commit(std::int64_t micros, std::size_t n);
  void maybe_wal_checkpoint();
  [[nodiscard]] int wal_checkpoint(sqlite3* db, int& log, int& copied);
  void run_checkpointer();
  void stop_checkpointer();
  void truncate_wal();
  [[nodiscard]] result<void> upgrade_format();

  store_options options_;
  std::unique_ptr<signing_key> key_;
  std::unique_ptr<public_key> verify_key_;  // key_'s public half, to check stored checkpoints

  // Queue, shared between appenders and the writer.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<pending> queue_;
  bool stopping_ = false;
  std::mutex close_mu_;
  bool closed_ = false;
  std::thread writer_;

  // Writer state: touched only by the writer thread once it runs (and by open() before).
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* insert_entry_ = nullptr;
  sqlite3_stmt* insert_checkpoint_ = nullptr;
  merkle_frontier tree_;
  entry_columns columns_;              // scratch for commit_batch, reused across entries
  std::uint64_t checkpoint_size_ = 0;  // size of the latest checkpoint in the file
  std::chrono::steady_clock::time_point last_checkpoint_{};
  bool need_reconnect_ = false;
  int wal_frames_ = 0;      // frames in the WAL after the last commit (sqlite3_wal_hook)
  int wal_request_at_ = 0;  // WAL length at which to act next (maybe_wal_checkpoint)
  bool wal_asked_ = false;  // the checkpointer was asked in this cycle of the WAL

  // The WAL checkpointer: a thread with its own read-write connection (wal_db_, touched only by
  // that thread) that the writer asks, through wal_mu_/wal_cv_, to copy the WAL back into the
  // database file, so that the copy and its fsync never hold up a commit.
  std::mutex wal_mu_;
  std::condition_variable wal_cv_;
  bool wal_requested_ = false;  // the checkpointer is asked to run, or running
  bool wal_stopping_ = false;
  std::thread checkpointer_;
  sqlite3* wal_db_ = nullptr;

  std::atomic<std::uint64_t> size_{0};
  std::atomic<bool> writable_{false};

  // Counters for stats(); written by the writer, read by anyone.
  mutable std::mutex stats_mu_;
  store_stats stats_;

  // SHA-256s of the archived agreement files (agreement_archived); written by the writer (and
  // open()), read by anyone.
  mutable std::mutex archive_mu_;
  std::set<std::string, std::less<>> archived_;

  // A separate read-only connection for the count queries, so they never wait for a commit.
  mutable std::mutex read_mu_;
  mutable sqlite3* read_db_ = nullptr;
};

}  // namespace dsa::audit
