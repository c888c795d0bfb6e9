#include "audit/verify.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "audit/checkpoint.hpp"
#include "audit/entry.hpp"
#include "audit/merkle.hpp"
#include "audit/reader.hpp"

namespace dsa::audit {

std::string_view to_string(problem_kind k) {
  switch (k) {
    case problem_kind::entry_changed:
      return "entry changed";
    case problem_kind::entry_missing:
      return "entry missing";
    case problem_kind::entry_inserted:
      return "entry inserted";
    case problem_kind::entries_reordered:
      return "entries reordered";
    case problem_kind::non_contiguous:
      return "non-contiguous sequence";
    case problem_kind::checkpoint_altered:
      return "checkpoint altered";
    case problem_kind::bad_signature:
      return "bad signature";
    case problem_kind::log_truncated:
      return "log shorter than a checkpoint";
    case problem_kind::root_mismatch:
      return "root mismatch";
    case problem_kind::key_mismatch:
      return "key mismatch";
    case problem_kind::column_altered:
      return "column altered";
    case problem_kind::disclosure_unpaired:
      return "unpaired disclosure end";
  }
  return "unknown";
}

namespace {

struct trusted_checkpoint {
  std::uint64_t id, size;
  hash root;
};

struct misplaced_row {
  std::uint64_t row, claimed;
};

std::string shown(std::string_view v) {
  std::string out = "\"";
  out += v.size() > 40 ? std::string(v.substr(0, 40)) + "…" : std::string(v);
  return out + "\"";
}

// The names of the row's columns that differ from the values derived from its text, and the
// first difference spelled out. A legacy (dsa-audit/1) writer copied strings into the columns
// before the text replaced bytes that are not UTF-8 with U+FFFD; such a column still agrees.
std::string column_differences(const stored_row& row, const entry_columns& c) {
  std::vector<std::string> names;
  std::string first;
  auto note = [&](const char* name, const std::string& column, const std::string& entry) {
    names.emplace_back(name);
    if (first.empty()) {
      first = " (column " + column + ", entry " + entry + ")";
    }
  };
  auto integer = [](const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v) : std::string("NULL");
  };
  if (row.time_us != std::optional<std::int64_t>(c.time_us)) {
    note("time_us", integer(row.time_us), std::to_string(c.time_us));
  }
  const std::string_view* derived[] = {&c.kind,      &c.decision,   &c.reason,
                                       &c.agreement, &c.permission, &c.requester,
                                       &c.purpose,   &c.case_ref,   &c.acting_user};
  for (std::size_t i = 0; i < row.strings.size(); ++i) {
    const std::optional<std::string_view>& column = row.strings[i];
    const std::string_view value = *derived[i];
    // kind is NOT NULL and always present; the others are NULL exactly when the member is
    // absent or empty.
    bool same = false;
    if (i == 0) {
      same = column && *column == value;
    } else if (!column) {
      same = value.empty();
    } else {
      same = !value.empty() && (*column == value || utf8_sanitised(*column) == value);
    }
    if (!same) {
      note(stored_row::string_columns[i], column ? shown(*column) : std::string("NULL"),
           value.empty() && i != 0 ? std::string("absent") : shown(value));
    }
  }
  if (row.counted != std::optional<std::int64_t>(c.counted ? 1 : 0)) {
    note("counted", integer(row.counted), c.counted ? "true" : "false");
  }
  if (names.empty()) {
    return {};
  }
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : ", ") + names[i];
  }
  return (names.size() == 1 ? "column " + list + " differs" : "columns " + list + " differ") +
         " from the hashed entry" + first;
}

// The request fields a streamed disclosure's end entry repeats from its started entry
// (gateway/request_handler.cpp, end_stream copies them): the names of those that differ.
std::string request_field_differences(const entry& start, const entry& end) {
  std::vector<std::string> names;
  auto same = [&](const char* name, const auto& a, const auto& b) {
    if (!(a == b)) {
      names.emplace_back(name);
    }
  };
  same("requester", start.requester.party, end.requester.party);
  same("subject", start.requester.subject, end.requester.subject);
  same("cert_sha256", start.requester.cert_sha256, end.requester.cert_sha256);
  same("trust_anchor", start.requester.trust_anchor, end.requester.trust_anchor);
  same("agreement", start.agreement, end.agreement);
  same("agreement_version", start.agreement_version, end.agreement_version);
  same("permission", start.permission, end.permission);
  same("endpoint", start.endpoint, end.endpoint);
  same("purpose", start.purpose, end.purpose);
  same("case_ref", start.case_ref, end.case_ref);
  same("acting_user", start.acting_user, end.acting_user);
  same("method", start.method, end.method);
  same("path", start.path, end.path);
  same("query", start.query, end.query);
  same("decision", decision_text(start), decision_text(end));
  same("status", start.status, end.status);
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : ", ") + names[i];
  }
  return list;
}

// Pairs each streamed disclosure's end entry with its started entry, in seq order
// (docs/auditing.md, "Streamed disclosures").
class disclosure_pairing {
 public:
  // `text` matched its leaf hash and its kind is `kind`.
  void add(std::uint64_t seq, std::string_view kind, std::string_view text,
           std::vector<problem>& problems) {
    const bool started = kind == to_string(entry_kind::disclosure_started);
    if (!started && kind != to_string(entry_kind::disclosure_completed) &&
        kind != to_string(entry_kind::disclosure_interrupted)) {
      return;
    }
    std::optional<entry> e = entry_from_json(text);
    if (!e) {
      return;  // derive_columns read it, so this does not happen; nothing to pair
    }
    const std::string id = e->request_id;
    if (started) {
      // A request id seen again (ids are per request, so only on a store that mixes logs):
      // the earlier start stays open unless an end came for it.
      if (auto it = open_.find(id); it != open_.end()) {
        unended_.emplace(it->second.seq, id);
        open_.erase(it);
      }
      open_.emplace(id, pending{seq, std::move(*e)});
      return;
    }
    const std::string what =
        "entry " + std::to_string(seq) + " (" + std::string(kind) + ", request_id \"" + id + "\")";
    auto it = open_.find(id);
    if (it == open_.end()) {
      auto done = ended_.find(id);
      problems.push_back(
          {problem_kind::disclosure_unpaired, seq, std::nullopt,
           done == ended_.end()
               ? what + " ends a streamed disclosure that no earlier disclosure_started entry "
                        "began"
               : what + " is a second end of the disclosure started at seq " +
                     std::to_string(done->second.first) + ", which entry " +
                     std::to_string(done->second.second) + " already ended"});
      return;
    }
    if (std::string diff = request_field_differences(it->second.start, *e); !diff.empty()) {
      problems.push_back({problem_kind::disclosure_unpaired, seq, std::nullopt,
                          what + " differs from the disclosure_started entry " +
                              std::to_string(it->second.seq) + " in " + diff});
    }
    ended_[id] = {it->second.seq, seq};
    open_.erase(it);
  }

  // The started entries nobody ended, in seq order.
  [[nodiscard]] std::vector<open_disclosure> still_open() const {
    std::map<std::uint64_t, std::string> all = unended_;
    for (const auto& [id, p] : open_) {
      all.emplace(p.seq, id);
    }
    std::vector<open_disclosure> out;
    out.reserve(all.size());
    for (const auto& [seq, id] : all) {
      out.push_back({seq, id});
    }
    return out;
  }

 private:
  struct pending {
    std::uint64_t seq;
    entry start;
  };
  std::unordered_map<std::string, pending> open_;
  // request id → (started seq, end seq) of disclosures already ended.
  std::unordered_map<std::string, std::pair<std::uint64_t, std::uint64_t>> ended_;
  std::map<std::uint64_t, std::string> unended_;  // open starts whose request id came again
};

}  // namespace

result<verify_result> verify_store(const std::filesystem::path& db, const verify_options& options) {
  auto r = reader::open(db);
  if (!r) {
    return fail(r.error());
  }
  return verify_reader(**r, options);
}

result<verify_result> verify_reader(const reader& rd, const verify_options& options) {
  verify_result out;
  const reader* r = &rd;
  out.format = r->meta("format").value_or("");
  std::vector<problem> entry_problems;
  std::vector<problem> checkpoint_problems;

  // --- the key ---
  auto stored_pem = r->meta("public_key").value_or("");
  std::unique_ptr<public_key> key;
  if (options.public_key_pem.empty()) {
    out.key_from_store = true;
    auto parsed = public_key::from_pem(stored_pem);
    if (parsed) {
      key = std::move(parsed).value();
    } else {
      checkpoint_problems.push_back(
          {problem_kind::key_mismatch, std::nullopt, std::nullopt,
           "the public key recorded in the store is unusable: " + parsed.error()});
    }
  } else {
    auto given = public_key::from_pem(options.public_key_pem);
    if (!given) {
      return fail("the given key is unusable: " + given.error());
    }
    key = std::move(given).value();
    auto stored = public_key::from_pem(stored_pem);
    if (!stored || (*stored)->pem() != key->pem()) {
      checkpoint_problems.push_back({problem_kind::key_mismatch, std::nullopt, std::nullopt,
                                     "the store records another public key than the one given"});
    }
  }
  const std::string origin = r->meta("origin").value_or("");

  // --- checkpoints ---
  auto stored_rows = r->checkpoints();
  if (!stored_rows) {
    return fail(stored_rows.error());
  }
  const std::vector<stored_checkpoint>& rows = *stored_rows;
  out.checkpoints = rows.size();
  std::vector<trusted_checkpoint> trusted;
  std::uint64_t expected_id = 1;
  for (const stored_checkpoint& c : rows) {
    const std::string id = "checkpoint " + std::to_string(c.id);
    if (c.id != expected_id) {
      checkpoint_problems.push_back({problem_kind::checkpoint_altered, std::nullopt, c.id,
                                     "checkpoint " + std::to_string(expected_id) +
                                         " is missing (ids must be contiguous from 1)"});
    }
    expected_id = c.id + 1;
    auto note = parse_checkpoint_note(c.note);
    if (!note) {
      checkpoint_problems.push_back(
          {problem_kind::checkpoint_altered, std::nullopt, c.id, id + ": the note is malformed"});
      continue;
    }
    if (key && !key->verify(c.note, c.signature)) {
      checkpoint_problems.push_back(
          {problem_kind::bad_signature, std::nullopt, c.id,
           id + " (size " + std::to_string(note->size) + "): the signature does not verify"});
      continue;
    }
    if (note->origin != origin || note->size != c.size ||
        c.root != std::string(as_bytes(note->root)) ||
        (note->time_us && *note->time_us != c.time_us)) {
      checkpoint_problems.push_back(
          {problem_kind::checkpoint_altered, std::nullopt, c.id,
           id + ": the row's origin, size, root or time differs from its signed note"});
      continue;
    }
    if (!key) {
      continue;
    }
    if (!trusted.empty() && note->size < trusted.back().size) {
      checkpoint_problems.push_back(
          {problem_kind::checkpoint_altered, std::nullopt, c.id,
           id + ": size " + std::to_string(note->size) + " is smaller than the size " +
               std::to_string(trusted.back().size) + " of an earlier checkpoint"});
      continue;
    }
    trusted.push_back({c.id, note->size, note->root});
  }

  // --- entries ---
  merkle_frontier tree;
  std::size_t next = 0;       // index into trusted of the next checkpoint to compare
  std::uint64_t vouched = 0;  // entries vouched for by a matching checkpoint so far
  std::vector<misplaced_row> misplaced;
  std::unordered_set<std::uint64_t> claimed_elsewhere;
  std::uint64_t position = 0;
  auto compare_checkpoints = [&] {
    while (next < trusted.size() && trusted[next].size == tree.size()) {
      const trusted_checkpoint& c = trusted[next];
      if (tree.root() == c.root) {
        vouched = c.size;
        out.covered = c.size;
      } else {
        entry_problems.push_back(
            {problem_kind::root_mismatch, vouched, c.id,
             "entries " + std::to_string(vouched) + "…" + std::to_string(c.size - 1) +
                 " do not hash to the root signed in checkpoint " + std::to_string(c.id)});
      }
      ++next;
    }
  };
  compare_checkpoints();
  entry_columns derived;
  disclosure_pairing disclosures;
  auto read = r->for_each_row([&](const stored_row& row) {
    const std::uint64_t seq = row.seq;
    const std::string_view text = row.text;
    const std::string_view stored_leaf = row.leaf;
    if (seq != position) {
      if (seq > position) {
        entry_problems.push_back({problem_kind::entry_missing, position, std::nullopt,
                                  seq - position == 1
                                      ? "entry " + std::to_string(position) + " is missing"
                                      : "entries " + std::to_string(position) + "…" +
                                            std::to_string(seq - 1) + " are missing"});
      } else {
        entry_problems.push_back({problem_kind::non_contiguous, seq, std::nullopt,
                                  "row " + std::to_string(seq) + " is out of order"});
      }
      position = seq;
    }
    const hash leaf = leaf_hash(text);
    auto claimed = claimed_seq(text);
    if (!claimed) {
      entry_problems.push_back({problem_kind::entry_changed, seq, std::nullopt,
                                "entry " + std::to_string(seq) + " is not a stored entry"});
    } else if (*claimed != seq) {
      misplaced.push_back({seq, *claimed});
      claimed_elsewhere.insert(*claimed);
    } else if (stored_leaf.size() != 32 || std::memcmp(stored_leaf.data(), leaf.data(), 32) != 0) {
      entry_problems.push_back({problem_kind::entry_changed, seq, std::nullopt,
                                "entry " + std::to_string(seq) + " does not match its leaf hash"});
    } else if (!derive_columns(text, derived)) {
      entry_problems.push_back({problem_kind::entry_changed, seq, std::nullopt,
                                "entry " + std::to_string(seq) +
                                    " is not a well-formed entry (its indexed values cannot "
                                    "be derived from it)"});
    } else {
      if (std::string diff = column_differences(row, derived); !diff.empty()) {
        entry_problems.push_back({problem_kind::column_altered, seq, std::nullopt, diff});
      }
      disclosures.add(seq, derived.kind, text, entry_problems);
    }
    tree.append(leaf);
    ++position;
    compare_checkpoints();
    return true;
  });
  if (!read) {
    return fail(read.error());
  }
  out.entries = tree.size();
  out.root = tree.root();
  out.open_disclosures = disclosures.still_open();
  for (; next < trusted.size(); ++next) {
    entry_problems.push_back({problem_kind::log_truncated, tree.size(), trusted[next].id,
                              "the log holds " + std::to_string(tree.size()) +
                                  " entries but checkpoint " + std::to_string(trusted[next].id) +
                                  " covers " + std::to_string(trusted[next].size)});
  }
  // Classify the first row that claims another seq: an earlier claim means a row was inserted
  // before it, a later claim whose own seq another row claims means rows were swapped, and a
  // later claim nobody else answers means rows were removed and the rest renumbered.
  if (!misplaced.empty()) {
    const misplaced_row& m = misplaced.front();
    const std::string counts =
        " (" + std::to_string(misplaced.size()) + " row(s) claim another seq)";
    if (m.claimed < m.row) {
      const std::uint64_t at = m.claimed + 1 == m.row ? m.claimed : m.row;
      entry_problems.push_back({problem_kind::entry_inserted, at, std::nullopt,
                                "entry " + std::to_string(m.row) + " claims seq " +
                                    std::to_string(m.claimed) +
                                    ", held by an earlier row: an entry was inserted at seq " +
                                    std::to_string(at) + counts});
    } else if (claimed_elsewhere.count(m.row) != 0) {
      entry_problems.push_back({problem_kind::entries_reordered, m.row, std::nullopt,
                                "entry " + std::to_string(m.row) + " holds the entry of seq " +
                                    std::to_string(m.claimed) + counts});
    } else {
      entry_problems.push_back({problem_kind::entry_missing, m.row, std::nullopt,
                                "entry " + std::to_string(m.row) + " is missing; seq " +
                                    std::to_string(m.row) + " holds the entry of seq " +
                                    std::to_string(m.claimed) + counts});
    }
  }
  // A root mismatch explained by a precise finding inside its range adds nothing. An unpaired
  // disclosure end does not explain one: the texts hash as stored, the root says they were
  // rewritten.
  // At one seq, a finding about the row's place in the log says more than one about its columns.
  std::stable_sort(entry_problems.begin(), entry_problems.end(),
                   [](const problem& a, const problem& b) {
                     const bool a_column = a.kind == problem_kind::column_altered;
                     const bool b_column = b.kind == problem_kind::column_altered;
                     return *a.seq < *b.seq || (*a.seq == *b.seq && !a_column && b_column);
                   });
  std::vector<problem> kept;
  for (const problem& p : entry_problems) {
    if (p.kind == problem_kind::root_mismatch) {
      std::uint64_t end = UINT64_MAX;
      for (const trusted_checkpoint& t : trusted) {
        if (t.id == *p.checkpoint) {
          end = t.size;
        }
      }
      bool explained =
          std::any_of(entry_problems.begin(), entry_problems.end(), [&](const problem& q) {
            return q.kind != problem_kind::root_mismatch &&
                   q.kind != problem_kind::disclosure_unpaired && *q.seq >= *p.seq && *q.seq < end;
          });
      if (explained) {
        continue;
      }
    }
    kept.push_back(p);
  }
  kept.insert(kept.end(), checkpoint_problems.begin(), checkpoint_problems.end());
  out.problems = std::move(kept);
  if (options.reporter) {
    for (const problem& p : out.problems) {
      options.reporter(p);
    }
  }
  return out;
}

}  // namespace dsa::audit
