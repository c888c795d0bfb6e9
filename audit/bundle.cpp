// Evidence bundles (bundle.hpp; the file format is docs/evidence-bundle.md).
#include "audit/bundle.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <bit>
#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "audit/entry.hpp"
#include "audit/json_members.hpp"
#include "audit/merkle.hpp"
#include "audit/reader.hpp"
#include "audit/verify.hpp"
#include "common/hex.hpp"

namespace dsa::audit {
namespace {

// The fixed descriptions every dsa-evidence-bundle/1 document carries, so that the file explains
// itself to someone who has only the file. They are part of the format: a /1 verifier requires
// them word for word, and changing one means a new format version.
constexpr std::string_view about_text =
    "Entries of a DSA Gateway audit log, each with an RFC 9162 inclusion proof against one "
    "Ed25519-signed checkpoint of that log. Check it with `dsa audit verify-bundle FILE --key "
    "KEY.pem` or by hand as the scheme describes (docs/evidence-bundle.md in the DSA Gateway "
    "source). Only the checkpoint note is signed; created_by, created_time and selection are "
    "informational.";

struct scheme_line {
  std::string_view key, text;
};
constexpr scheme_line scheme_lines[] = {
    {"entry_text",
     "each entry's text is the stored audit entry, compact JSON; its bytes are the UTF-8 "
     "encoding of the JSON string value, and its first member \"seq\" equals leaf_index"},
    {"leaf_hash", "SHA-256(0x00 || entry text bytes), RFC 9162 section 2.1.1, base64"},
    {"node_hash", "SHA-256(0x01 || left || right), RFC 9162 section 2.1.1"},
    {"tree", "RFC 9162 section 2.1.1 Merkle Tree Hash over the leaf hashes of entries 0 .. size-1"},
    {"inclusion_path",
     "RFC 9162 section 2.1.3 audit path of leaf_index in the tree of checkpoint size, deepest "
     "sibling first, each base64; verified by the algorithm of RFC 9162 section 2.1.3.2"},
    {"checkpoint_note",
     "the signed bytes: origin LF size (decimal) LF base64(root) LF \"time_us \" UTC "
     "microseconds (decimal) LF; a C2SP tlog-checkpoint body with one extension line"},
    {"signature",
     "Ed25519 (RFC 8032, pure) over the checkpoint_note bytes, 64 bytes, base64 (RFC 4648 "
     "section 4, padded), in checkpoint.signature"},
    {"public_key", "pem: the Ed25519 SubjectPublicKeyInfo; sha256: hex SHA-256 of its DER"},
    {"agreement_texts",
     "agreement_text entries: details.text is the agreement file; SHA-256 of its UTF-8 bytes "
     "equals the entry's agreement_sha256 (hex), which the selected entries name"},
};

std::string json_quoted(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

std::string indent(std::string_view doc, std::string_view by) {
  std::string out;
  std::size_t pos = 0;
  while (pos < doc.size()) {
    std::size_t nl = doc.find('\n', pos);
    std::string_view line = doc.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    if (pos != 0) {
      out += '\n';
      out += by;
    }
    out += line;
    if (nl == std::string_view::npos) {
      break;
    }
    pos = nl + 1;
  }
  return out;
}

// Every level of the RFC 9162 tree's complete subtrees, so that proving many leaves costs one
// pass over the leaves instead of one per proof. levels_[j][i] is the root of leaves
// [i·2^j, (i+1)·2^j); subtrees on the ragged right edge are hashed from these on demand.
class tree_levels {
 public:
  explicit tree_levels(std::vector<hash> leaves) {
    levels_.push_back(std::move(leaves));
    while (levels_.back().size() > 1) {
      const std::vector<hash>& below = levels_.back();
      std::vector<hash> above;
      above.reserve(below.size() / 2);
      for (std::size_t i = 0; i + 1 < below.size(); i += 2) {
        above.push_back(node_hash(below[i], below[i + 1]));
      }
      levels_.push_back(std::move(above));
    }
  }

  // MTH(D[begin:end]) for a subtree that RFC 9162's recursion reaches (end > begin).
  [[nodiscard]] hash root(std::uint64_t begin, std::uint64_t end) const {
    const std::uint64_t n = end - begin;
    if (std::has_single_bit(n) && begin % n == 0) {
      const auto level = static_cast<std::size_t>(std::countr_zero(n));
      return levels_[level][begin >> level];
    }
    const std::uint64_t k = std::bit_floor(n - 1);
    return node_hash(root(begin, begin + k), root(begin + k, end));
  }

  // PATH(m, D[0:size]) of RFC 9162 §2.1.3.1, deepest sibling first.
  [[nodiscard]] std::vector<hash> path(std::uint64_t m, std::uint64_t size) const {
    std::vector<hash> top_down;
    std::uint64_t begin = 0, end = size;
    while (end - begin > 1) {
      const std::uint64_t k = std::bit_floor(end - begin - 1);
      if (m - begin < k) {
        top_down.push_back(root(begin + k, end));
        end = begin + k;
      } else {
        top_down.push_back(root(begin, begin + k));
        begin += k;
      }
    }
    return {top_down.rbegin(), top_down.rend()};
  }

 private:
  std::vector<std::vector<hash>> levels_;
};

bool is_stream_kind(std::string_view kind) {
  return kind == "disclosure_started" || kind == "disclosure_completed" ||
         kind == "disclosure_interrupted";
}

constexpr std::string_view agreement_text_kind = "agreement_text";

// What the selection and the agreement look-up need from one entry, read generically from its
// stored JSON so members a newer gateway adds (`subjects`) are read the same way.
struct entry_facts {
  std::string kind, request_id, case_ref, agreement_sha256;
  std::optional<std::string> archived_text;  // agreement_text entries: details.text
  std::vector<std::string> subjects;
};

std::optional<entry_facts> facts_of(std::string_view text) {
  unsigned char buffer[8192];
  boost::json::monotonic_resource mr(buffer, sizeof buffer);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, &mr);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const boost::json::object& o = v.get_object();
  auto str = [&](std::string_view k) {
    const boost::json::string* s = string_member(o, k);
    return s != nullptr ? std::string(*s) : std::string();
  };
  entry_facts f;
  f.kind = str("kind");
  f.request_id = str("request_id");
  f.case_ref = str("case_ref");
  f.agreement_sha256 = str("agreement_sha256");
  if (auto d = o.find("details"); d != o.end() && d->value().is_object()) {
    if (const boost::json::string* t = string_member(d->value().get_object(), "text")) {
      f.archived_text = std::string(*t);
    }
  }
  if (auto s = o.find("subjects"); s != o.end() && s->value().is_array()) {
    for (const auto& element : s->value().get_array()) {
      if (element.is_string()) {
        f.subjects.emplace_back(element.get_string());
      }
    }
  }
  return f;
}

bool matches(const bundle_selection& sel, std::uint64_t seq, const entry_facts& f) {
  switch (sel.criterion) {
    case bundle_selection::by::case_ref:
      return !f.case_ref.empty() && f.case_ref == sel.value;
    case bundle_selection::by::request_id:
      return !f.request_id.empty() && f.request_id == sel.value;
    case bundle_selection::by::subject:
      return std::find(f.subjects.begin(), f.subjects.end(), sel.value) != f.subjects.end();
    case bundle_selection::by::seq_range:
      return seq >= sel.first_seq && seq <= sel.last_seq;
  }
  return false;
}

std::string not_covered(std::uint64_t size, std::string_view what) {
  return std::string(what) + " is not yet covered by the latest signed checkpoint (size " +
         std::to_string(size) +
         "); a running gateway signs one within a second and a stopping one at shutdown: run "
         "the command again";
}

}  // namespace

// ---- building ----

result<bundle_outcome> make_bundle(const reader& r, const bundle_request& request) {
  verify_options options;
  options.public_key_pem = request.public_key_pem;
  auto verified = verify_reader(r, options);
  if (!verified) {
    return fail(verified.error());
  }
  bundle_outcome out;
  if (!verified->intact()) {
    const problem& p = verified->problems.front();
    out.state = bundle_outcome::status::tampered;
    out.detail = "refusing to bundle from " + r.path().string() + ", which fails verification: " +
                 (p.seq ? "first bad seq " + std::to_string(*p.seq) + ": " : std::string()) +
                 std::string(to_string(p.kind)) + " — " + p.detail +
                 "; run `dsa audit verify` for every problem";
    return out;
  }
  auto rows = r.checkpoints();
  if (!rows) {
    return fail(rows.error());
  }
  if (rows->empty()) {
    out.state = bundle_outcome::status::not_provable;
    out.detail = r.path().string() + " holds no signed checkpoint yet";
    return out;
  }
  const stored_checkpoint& latest = rows->back();
  auto note = parse_checkpoint_note(latest.note);
  const std::string pem =
      request.public_key_pem.empty() ? r.meta("public_key").value_or("") : request.public_key_pem;
  auto key = public_key::from_pem(pem);
  if (!key) {
    return fail("the checkpoint key: " + key.error());
  }
  // Verification passed, so this holds; checked again because the bundle rests on it.
  if (!note || checkpoint_note(*note) != latest.note ||
      !(*key)->verify(latest.note, latest.signature)) {
    out.state = bundle_outcome::status::tampered;
    out.detail = "the latest checkpoint of " + r.path().string() + " does not verify";
    return out;
  }
  const std::uint64_t size = note->size;

  // One pass: the leaf hashes under the checkpoint, the selection, and the archived texts.
  std::vector<hash> leaves;
  leaves.reserve(size);
  std::map<std::uint64_t, entry_facts> picked;
  std::map<std::string, std::uint64_t> text_by_sha;  // earliest covered agreement_text whose
                                                     // text hashes to its agreement_sha256
  std::map<std::string, std::uint64_t> text_uncovered;
  std::set<std::string> stream_ids;
  auto pass =
      r.for_each_entry([&](std::uint64_t seq, std::string_view text, std::string_view leaf) {
        if (seq < size && leaf.size() == 32) {
          hash h;
          std::copy(leaf.begin(), leaf.end(), reinterpret_cast<char*>(h.data()));
          leaves.push_back(h);
        }
        std::optional<entry_facts> f = facts_of(text);
        if (!f) {
          // Verification accepted it, so it is an entry this build cannot parse as a whole (not
          // valid UTF-8): selectable only by seq, and refused below if selected.
          if (request.selection.criterion == bundle_selection::by::seq_range &&
              matches(request.selection, seq, entry_facts{})) {
            picked.emplace(seq, entry_facts{});
          }
          return true;
        }
        if (f->kind == agreement_text_kind && f->archived_text && !f->agreement_sha256.empty() &&
            common::sha256_hex(*f->archived_text) == f->agreement_sha256) {
          auto& where = seq < size ? text_by_sha : text_uncovered;
          where.emplace(f->agreement_sha256, seq);
        }
        if (matches(request.selection, seq, *f)) {
          if (is_stream_kind(f->kind) && !f->request_id.empty()) {
            stream_ids.insert(f->request_id);
          }
          picked.emplace(seq, std::move(*f));
        }
        return true;
      });
  if (!pass) {
    return fail(pass.error());
  }
  if (leaves.size() != size) {
    return fail(
        "the store holds fewer well-formed rows than its latest checkpoint covers; run "
        "`dsa audit verify`");
  }
  if (picked.empty()) {
    out.state = bundle_outcome::status::nothing_selected;
    out.detail = "no entry of " + r.path().string() + " matches the selection";
    return out;
  }
  // The other half of every streamed disclosure selected.
  if (!stream_ids.empty()) {
    auto pairs = r.for_each_entry([&](std::uint64_t seq, std::string_view text, std::string_view) {
      if (picked.count(seq) != 0 || text.find("\"disclosure_") == std::string_view::npos) {
        return true;
      }
      std::optional<entry_facts> f = facts_of(text);
      if (f && is_stream_kind(f->kind) && stream_ids.count(f->request_id) != 0) {
        picked.emplace(seq, std::move(*f));
      }
      return true;
    });
    if (!pairs) {
      return fail(pairs.error());
    }
  }
  // Entries written after the latest checkpoint cannot be proven yet. A running gateway always
  // has up to a second of them, so they are left out and reported rather than refusing every
  // selection that reaches the tail of a busy log (docs/evidence-bundle.md, "Decisions").
  for (auto it = picked.lower_bound(size); it != picked.end();) {
    out.left_out.push_back(it->first);
    it = picked.erase(it);
  }
  if (picked.empty()) {
    out.state = bundle_outcome::status::not_provable;
    out.detail = std::to_string(out.left_out.size()) + " entries match (from seq " +
                 std::to_string(out.left_out.front()) +
                 "), none of them covered by the latest signed checkpoint (size " +
                 std::to_string(size) +
                 ") yet; a running gateway signs one within a second and a stopping one at "
                 "shutdown: run the command again";
    return out;
  }
  // The archived text of every agreement file a selected entry names.
  std::set<std::string> in_entries;
  for (const auto& [seq, f] : picked) {
    if (f.kind == agreement_text_kind && f.archived_text && !f.agreement_sha256.empty() &&
        common::sha256_hex(*f.archived_text) == f.agreement_sha256) {
      in_entries.insert(f.agreement_sha256);
    }
  }
  std::set<std::uint64_t> texts;
  for (const auto& [seq, f] : picked) {
    if (f.kind == agreement_text_kind || f.agreement_sha256.empty() ||
        in_entries.count(f.agreement_sha256) != 0) {
      continue;
    }
    if (auto t = text_by_sha.find(f.agreement_sha256); t != text_by_sha.end()) {
      if (picked.count(t->second) == 0) {
        texts.insert(t->second);
      }
      continue;
    }
    out.state = bundle_outcome::status::not_provable;
    if (auto u = text_uncovered.find(f.agreement_sha256); u != text_uncovered.end()) {
      out.detail = not_covered(size, "the archived text (seq " + std::to_string(u->second) +
                                         ") of agreement file " + f.agreement_sha256 +
                                         " that entry " + std::to_string(seq) + " names");
    } else {
      out.detail = "entry " + std::to_string(seq) + " names agreement file sha256 " +
                   f.agreement_sha256 +
                   ", whose text the log does not archive (no agreement_text entry with that "
                   "agreement_sha256 and a text that hashes to it: a gateway from before "
                   "agreement archiving loaded it); the bundle could not prove what decided it";
    }
    return out;
  }

  evidence_bundle& b = out.bundle;
  b.created_by = request.created_by;
  b.created_time = format_utc(request.created_us);
  b.selection = request.selection;
  b.public_key_pem = (*key)->pem();
  b.public_key_sha256 = public_key_fingerprint(b.public_key_pem).value_or("");
  b.checkpoint = {*note, latest.signature};
  b.checkpoint_note = latest.note;
  const tree_levels tree(std::move(leaves));
  auto prove_one = [&](std::uint64_t seq) -> result<bundle_entry> {
    bundle_entry e;
    e.leaf_index = seq;
    e.text = r.entry_text(seq).value_or("");
    if (utf8_sanitised(e.text) != e.text) {
      return fail("entry " + std::to_string(seq) +
                  " is not valid UTF-8, so a JSON file cannot carry it byte for byte");
    }
    e.leaf = leaf_hash(e.text);
    e.path = tree.path(seq, size);
    // The proof is checked before it is written: a bundle that would not verify is never made.
    if (!verify_inclusion(seq, size, e.leaf, e.path, note->root)) {
      return fail("the inclusion proof of entry " + std::to_string(seq) +
                  " does not lead to the checkpoint root; run `dsa audit verify`");
    }
    return e;
  };
  for (const auto& [seq, f] : picked) {
    auto e = prove_one(seq);
    if (!e) {
      out.state = bundle_outcome::status::not_provable;
      out.detail = e.error();
      return out;
    }
    b.entries.push_back(std::move(e).value());
  }
  for (std::uint64_t seq : texts) {
    auto e = prove_one(seq);
    if (!e) {
      out.state = bundle_outcome::status::not_provable;
      out.detail = e.error();
      return out;
    }
    b.agreement_texts.push_back(std::move(e).value());
  }
  return out;
}

// ---- the JSON document ----

namespace {

std::string entries_json(const std::vector<bundle_entry>& entries) {
  if (entries.empty()) {
    return "[]";
  }
  std::string out = "[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const bundle_entry& e = entries[i];
    out += i == 0 ? "\n    {\n" : ",\n    {\n";
    out += "      \"leaf_index\": " + std::to_string(e.leaf_index) + ",\n";
    out += "      \"text\": " + json_quoted(e.text) + ",\n";
    out += "      \"leaf_hash\": " + json_quoted(to_base64(e.leaf)) + ",\n";
    out += "      \"inclusion_path\": [";
    for (std::size_t j = 0; j < e.path.size(); ++j) {
      out += (j == 0 ? "\n        " : ",\n        ") + json_quoted(to_base64(e.path[j]));
    }
    out += e.path.empty() ? "]\n" : "\n      ]\n";
    out += "    }";
  }
  out += "\n  ]";
  return out;
}

std::string selection_json(const bundle_selection& s) {
  switch (s.criterion) {
    case bundle_selection::by::case_ref:
      return "{\"case_ref\": " + json_quoted(s.value) + "}";
    case bundle_selection::by::request_id:
      return "{\"request_id\": " + json_quoted(s.value) + "}";
    case bundle_selection::by::subject:
      return "{\"subject_hmac_sha256\": " + json_quoted(s.value) + "}";
    case bundle_selection::by::seq_range:
      return "{\"first_seq\": " + std::to_string(s.first_seq) +
             ", \"last_seq\": " + std::to_string(s.last_seq) + "}";
  }
  return "{}";
}

}  // namespace

std::string bundle_to_json(const evidence_bundle& b) {
  std::string out = "{\n";
  out += "  \"format\": " + json_quoted(bundle_format) + ",\n";
  out += "  \"about\": " + json_quoted(about_text) + ",\n";
  out += "  \"scheme\": {";
  bool first = true;
  for (const scheme_line& line : scheme_lines) {
    out += (first ? "\n    " : ",\n    ") + json_quoted(line.key) + ": " + json_quoted(line.text);
    first = false;
  }
  out += "\n  },\n";
  out += "  \"created_by\": " + json_quoted(b.created_by) + ",\n";
  out += "  \"created_time\": " + json_quoted(b.created_time) + ",\n";
  out += "  \"selection\": " + selection_json(b.selection) + ",\n";
  out += "  \"public_key\": {\n";
  out += "    \"pem\": " + json_quoted(b.public_key_pem) + ",\n";
  out += "    \"sha256\": " + json_quoted(b.public_key_sha256) + "\n";
  out += "  },\n";
  out += "  \"checkpoint\": " + indent(signed_checkpoint_to_json(b.checkpoint), "  ") + ",\n";
  out += "  \"checkpoint_note\": " + json_quoted(b.checkpoint_note) + ",\n";
  out += "  \"entries\": " + entries_json(b.entries) + ",\n";
  out += "  \"agreement_texts\": " + entries_json(b.agreement_texts) + "\n";
  out += "}\n";
  return out;
}

namespace {

// The members of `o` not in `allowed`, named for the error.
std::optional<std::string> unknown_member(const boost::json::object& o,
                                          std::initializer_list<std::string_view> allowed) {
  for (const auto& member : o) {
    if (std::find(allowed.begin(), allowed.end(), member.key()) == allowed.end()) {
      return std::string(member.key());
    }
  }
  return std::nullopt;
}

result<std::vector<bundle_entry>> entries_from_json(const boost::json::object& doc,
                                                    std::string_view name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->value().is_array()) {
    return fail("\"" + std::string(name) + "\" is missing or not an array");
  }
  std::vector<bundle_entry> out;
  std::size_t position = 0;
  for (const auto& element : it->value().get_array()) {
    const std::string where = std::string(name) + "[" + std::to_string(position++) + "]";
    if (!element.is_object()) {
      return fail(where + " is not an object");
    }
    const auto& o = element.get_object();
    if (auto extra = unknown_member(o, {"leaf_index", "text", "leaf_hash", "inclusion_path"})) {
      return fail(where + " has an unknown member \"" + *extra + "\"");
    }
    bundle_entry e;
    auto index = uint_member(o, "leaf_index");
    if (!index) {
      return fail(where + ": \"leaf_index\" is missing or not a non-negative integer");
    }
    e.leaf_index = *index;
    const std::string label = std::string(name) + " leaf_index " + std::to_string(e.leaf_index);
    const boost::json::string* text = string_member(o, "text");
    if (text == nullptr) {
      return fail(label + ": \"text\" is missing or not a string");
    }
    e.text = std::string(*text);
    const boost::json::string* leaf = string_member(o, "leaf_hash");
    auto leaf_bytes = leaf != nullptr ? hash_from_base64(*leaf) : std::nullopt;
    if (!leaf_bytes) {
      return fail(label + ": \"leaf_hash\" is missing or not canonical base64 of 32 bytes");
    }
    e.leaf = *leaf_bytes;
    auto path = o.find("inclusion_path");
    if (path == o.end() || !path->value().is_array()) {
      return fail(label + ": \"inclusion_path\" is missing or not an array");
    }
    std::size_t step = 0;
    for (const auto& h : path->value().get_array()) {
      auto bytes = h.is_string() ? hash_from_base64(h.get_string()) : std::nullopt;
      if (!bytes) {
        return fail(label + ": inclusion_path[" + std::to_string(step) +
                    "] is not canonical base64 of a 32-byte hash");
      }
      e.path.push_back(*bytes);
      ++step;
    }
    out.push_back(std::move(e));
  }
  return out;
}

result<bundle_selection> selection_from_json(const boost::json::value& v) {
  if (!v.is_object()) {
    return fail("\"selection\" is not an object");
  }
  const auto& o = v.get_object();
  bundle_selection s;
  if (o.size() == 1) {
    const std::string_view key = o.begin()->key();
    const boost::json::string* value = string_member(o, key);
    if (value != nullptr &&
        (key == "case_ref" || key == "request_id" || key == "subject_hmac_sha256")) {
      s.criterion = key == "case_ref"     ? bundle_selection::by::case_ref
                    : key == "request_id" ? bundle_selection::by::request_id
                                          : bundle_selection::by::subject;
      s.value = std::string(*value);
      return s;
    }
  }
  auto first = uint_member(o, "first_seq");
  auto last = uint_member(o, "last_seq");
  if (o.size() == 2 && first && last) {
    s.criterion = bundle_selection::by::seq_range;
    s.first_seq = *first;
    s.last_seq = *last;
    return s;
  }
  return fail(
      "\"selection\" is not one of {\"case_ref\"}, {\"request_id\"}, {\"subject_hmac_sha256\"}, "
      "{\"first_seq\", \"last_seq\"}");
}

}  // namespace

result<evidence_bundle> bundle_from_json(std::string_view text, bundle_parse_error& error) {
  error = {};
  auto fails = [&](std::string detail, bool not_a_bundle = false) {
    error.not_a_bundle = not_a_bundle;
    error.detail = detail;
    return fail(std::move(detail));
  };
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return fails("not a JSON object" + (ec ? " (" + ec.message() + ")" : std::string()), true);
  }
  const auto& o = v.get_object();
  const boost::json::string* format = string_member(o, "format");
  if (format == nullptr || *format != bundle_format) {
    return fails("\"format\" is not \"" + std::string(bundle_format) + "\"", true);
  }
  if (auto extra = unknown_member(
          o, {"format", "about", "scheme", "created_by", "created_time", "selection", "public_key",
              "checkpoint", "checkpoint_note", "entries", "agreement_texts"})) {
    return fails("unknown member \"" + *extra + "\"");
  }
  const boost::json::string* about = string_member(o, "about");
  if (about == nullptr || *about != about_text) {
    return fails("\"about\" is not the text of " + std::string(bundle_format));
  }
  auto scheme = o.find("scheme");
  if (scheme == o.end() || !scheme->value().is_object() ||
      scheme->value().get_object().size() != std::size(scheme_lines)) {
    return fails("\"scheme\" is not the scheme of " + std::string(bundle_format));
  }
  for (const scheme_line& line : scheme_lines) {
    const boost::json::string* s = string_member(scheme->value().get_object(), line.key);
    if (s == nullptr || *s != line.text) {
      return fails("scheme." + std::string(line.key) + " is not the text of " +
                   std::string(bundle_format));
    }
  }
  evidence_bundle b;
  const boost::json::string* by = string_member(o, "created_by");
  const boost::json::string* when = string_member(o, "created_time");
  if (by == nullptr || when == nullptr) {
    return fails("\"created_by\" or \"created_time\" is missing or not a string");
  }
  b.created_by = std::string(*by);
  b.created_time = std::string(*when);
  auto sel = o.find("selection");
  if (sel == o.end()) {
    return fails("\"selection\" is missing");
  }
  auto selection = selection_from_json(sel->value());
  if (!selection) {
    return fails(selection.error());
  }
  b.selection = *selection;
  auto key = o.find("public_key");
  if (key == o.end() || !key->value().is_object()) {
    return fails("\"public_key\" is missing or not an object");
  }
  const auto& k = key->value().get_object();
  const boost::json::string* pem = string_member(k, "pem");
  const boost::json::string* fingerprint = string_member(k, "sha256");
  if (pem == nullptr || fingerprint == nullptr || k.size() != 2) {
    return fails("\"public_key\" is not {\"pem\": string, \"sha256\": string}");
  }
  b.public_key_pem = std::string(*pem);
  b.public_key_sha256 = std::string(*fingerprint);
  auto cp = o.find("checkpoint");
  if (cp == o.end() || !cp->value().is_object()) {
    return fails("\"checkpoint\" is missing or not an object");
  }
  auto checkpoint = signed_checkpoint_from_json(boost::json::serialize(cp->value()));
  if (!checkpoint) {
    return fails("\"checkpoint\": " + checkpoint.error());
  }
  b.checkpoint = *checkpoint;
  const boost::json::string* note = string_member(o, "checkpoint_note");
  if (note == nullptr) {
    return fails("\"checkpoint_note\" is missing or not a string");
  }
  b.checkpoint_note = std::string(*note);
  auto entries = entries_from_json(o, "entries");
  if (!entries) {
    return fails(entries.error());
  }
  b.entries = std::move(entries).value();
  auto texts = entries_from_json(o, "agreement_texts");
  if (!texts) {
    return fails(texts.error());
  }
  b.agreement_texts = std::move(texts).value();
  return b;
}

// ---- verification ----

std::vector<bundle_problem> verify_bundle(const evidence_bundle& b, const public_key& key) {
  std::vector<bundle_problem> problems;
  auto report = [&](std::string where, std::string what) {
    problems.push_back({std::move(where), std::move(what)});
  };

  // The key: the auditor's copy is what is trusted; the embedded one must be the same key.
  auto embedded = public_key::from_pem(b.public_key_pem);
  if (!embedded) {
    report("public key", "public_key.pem is not an Ed25519 public key: " + embedded.error());
  } else if ((*embedded)->pem() != key.pem()) {
    report("public key", "public_key.pem is not the key given to check the bundle with");
  }
  if (b.public_key_sha256 != public_key_fingerprint(key.pem()).value_or("")) {
    report("public key",
           "public_key.sha256 is not the SHA-256 of the given key's DER SubjectPublicKeyInfo");
  }

  // The checkpoint: the note is the signed bytes; its members must say the same.
  auto note = parse_checkpoint_note(b.checkpoint_note);
  if (!note) {
    report("checkpoint", "checkpoint_note is not a checkpoint note (origin, size, root, time_us)");
  } else if (checkpoint_note(b.checkpoint.c) != b.checkpoint_note) {
    report("checkpoint",
           "checkpoint.origin, size, root or time_us differ from checkpoint_note (root " +
               to_base64(b.checkpoint.c.root) + " against " + to_base64(note->root) + ")");
  }
  if (!key.verify(b.checkpoint_note, b.checkpoint.signature)) {
    report("checkpoint", "the signature does not verify over checkpoint_note with the given key");
  }
  const checkpoint signed_c = note ? *note : b.checkpoint.c;

  if (b.entries.empty()) {
    report("bundle", "\"entries\" is empty");
  }
  // Each entry: its own seq, its leaf hash, its path to the signed root.
  std::map<std::string, std::uint64_t> verified_texts;  // agreement_sha256 -> seq
  std::set<std::uint64_t> seen;
  auto check_entry =
      [&](const bundle_entry& e, bool is_text_list,
          const std::optional<std::uint64_t>& previous) -> std::optional<entry_facts> {
    const std::string where =
        (is_text_list ? "agreement text seq " : "entry seq ") + std::to_string(e.leaf_index);
    if (previous && e.leaf_index <= *previous) {
      report(where, "not in ascending leaf_index order after seq " + std::to_string(*previous));
    }
    if (!seen.insert(e.leaf_index).second) {
      report(where, "appears more than once in the bundle");
    }
    if (e.leaf_index >= signed_c.size) {
      report(where, "leaf_index is not below the checkpoint size " + std::to_string(signed_c.size));
    }
    auto claimed = claimed_seq(e.text);
    if (!claimed) {
      report(where, "the text does not begin with {\"seq\":N,");
    } else if (*claimed != e.leaf_index) {
      report(where, "the text claims seq " + std::to_string(*claimed) + ", not its leaf_index");
    }
    if (leaf_hash(e.text) != e.leaf) {
      report(where, "the text does not hash to leaf_hash: SHA-256(0x00 || text) is " +
                        to_base64(leaf_hash(e.text)));
    }
    if (!verify_inclusion(e.leaf_index, signed_c.size, e.leaf, e.path, signed_c.root)) {
      report(where, "the inclusion path does not lead from leaf_hash to the checkpoint root");
    }
    std::optional<entry_facts> f = facts_of(e.text);
    if (!f) {
      report(where, "the text is not a JSON object");
      return std::nullopt;
    }
    if (is_text_list && f->kind != agreement_text_kind) {
      report(where, "is listed in agreement_texts but its kind is \"" + f->kind +
                        "\", not \"agreement_text\"");
    }
    if (f->kind == agreement_text_kind) {
      if (!f->archived_text) {
        report(where, "the agreement_text entry has no details.text");
      } else if (const std::string digest = common::sha256_hex(*f->archived_text);
                 digest != f->agreement_sha256) {
        report(where, "the archived text's SHA-256 is " + digest + ", not its agreement_sha256 " +
                          f->agreement_sha256);
      } else {
        verified_texts.emplace(f->agreement_sha256, e.leaf_index);
      }
    }
    return f;
  };
  std::vector<std::pair<std::uint64_t, std::string>> needed;  // seq, agreement_sha256
  std::optional<std::uint64_t> previous;
  for (const bundle_entry& e : b.entries) {
    auto f = check_entry(e, false, previous);
    previous = e.leaf_index;
    if (f && f->kind != agreement_text_kind && !f->agreement_sha256.empty()) {
      needed.emplace_back(e.leaf_index, f->agreement_sha256);
    }
  }
  previous.reset();
  for (const bundle_entry& e : b.agreement_texts) {
    (void)check_entry(e, true, previous);
    previous = e.leaf_index;
  }
  // What decided each selected entry is in the bundle, and is the file it names.
  for (const auto& [seq, sha] : needed) {
    if (verified_texts.count(sha) == 0) {
      report("entry seq " + std::to_string(seq),
             "no agreement_text entry in the bundle holds a text whose SHA-256 is its "
             "agreement_sha256 " +
                 sha);
    }
  }
  return problems;
}

// ---- keys ----

std::optional<std::string> public_key_fingerprint(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio != nullptr ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (key == nullptr) {
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  EVP_PKEY_free(key);
  if (len <= 0) {
    return std::nullopt;
  }
  std::string out = common::sha256_hex(
      std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return out;
}

}  // namespace dsa::audit
