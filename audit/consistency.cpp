#include "audit/consistency.hpp"

#include <boost/json.hpp>
#include <cstring>

#include "audit/json_members.hpp"
#include "audit/merkle.hpp"
#include "audit/reader.hpp"

namespace dsa::audit {
namespace {

constexpr std::string_view proof_type = "dsa-audit-consistency";

std::string when(const checkpoint& c) {
  return c.time_us ? "signed " + format_utc(*c.time_us) : std::string("legacy, no signed time");
}

}  // namespace

std::string_view to_string(consistency_finding f) {
  switch (f) {
    case consistency_finding::consistent:
      return "consistent";
    case consistency_finding::bad_signature:
      return "bad signature";
    case consistency_finding::other_origin:
      return "other log";
    case consistency_finding::truncated:
      return "truncated";
    case consistency_finding::rewritten:
      return "history rewritten";
    case consistency_finding::entry_altered:
      return "entry altered";
    case consistency_finding::checkpoints_removed:
      return "checkpoints removed";
    case consistency_finding::store_inconsistent:
      return "store inconsistent";
  }
  return "unknown";
}

result<std::optional<signed_checkpoint>> latest_valid_checkpoint(const reader& r,
                                                                 const public_key& key) {
  auto rows = r.checkpoints();
  if (!rows) {
    return fail(rows.error());
  }
  for (auto it = rows->rbegin(); it != rows->rend(); ++it) {
    auto note = parse_checkpoint_note(it->note);
    if (note && key.verify(it->note, it->signature)) {
      return std::optional<signed_checkpoint>(signed_checkpoint{*note, it->signature});
    }
  }
  return std::optional<signed_checkpoint>();
}

result<consistency_result> check_consistency(const std::filesystem::path& db,
                                             const signed_checkpoint& saved,
                                             const std::string& public_key_pem) {
  consistency_result res;
  auto opened = reader::open(db);
  if (!opened) {
    return fail(opened.error());
  }
  const std::unique_ptr<reader> r = std::move(opened).value();
  std::string pem = public_key_pem;
  if (pem.empty()) {
    res.key_from_store = true;
    pem = r->meta("public_key").value_or("");
  }
  auto parsed_key = public_key::from_pem(pem);
  if (!parsed_key) {
    return fail((res.key_from_store ? "the key recorded in the store is unusable: "
                                    : "the given key is unusable: ") +
                parsed_key.error());
  }
  const std::unique_ptr<public_key> key = std::move(parsed_key).value();
  auto found = [&](consistency_finding f, std::string detail) {
    res.finding = f;
    res.detail = std::move(detail);
    return res;
  };
  const std::uint64_t m = saved.c.size;
  if (!verify_signed_checkpoint(saved, *key)) {
    return found(consistency_finding::bad_signature,
                 std::string("the saved checkpoint's signature does not verify with ") +
                     (res.key_from_store ? "the key recorded in the store (was the store's key "
                                           "replaced? pass your own copy with --key)"
                                         : "the given key"));
  }
  const std::string origin = r->meta("origin").value_or("");
  if (saved.c.origin != origin) {
    return found(consistency_finding::other_origin, "the saved checkpoint is of the log \"" +
                                                        saved.c.origin + "\"; this store is \"" +
                                                        origin + "\"");
  }

  // The leaves as the entries hash now: an edited text counts as what it has become.
  std::vector<hash> leaves;
  std::optional<consistency_result> early;
  auto read = r->for_each_entry([&](std::uint64_t seq, std::string_view text,
                                    std::string_view stored_leaf) {
    const hash h = leaf_hash(text);
    if (seq != leaves.size()) {
      early = found(consistency_finding::entry_altered,
                    "entry " + std::to_string(leaves.size()) +
                        " is missing (rows are not contiguous); run `dsa audit verify`");
      return false;
    }
    if (stored_leaf.size() != 32 || std::memcmp(stored_leaf.data(), h.data(), 32) != 0) {
      early = found(
          consistency_finding::entry_altered,
          "entry " + std::to_string(seq) + " does not match its leaf hash; run `dsa audit verify`");
      return false;
    }
    leaves.push_back(h);
    return true;
  });
  if (!read) {
    return fail(read.error());
  }
  if (early) {
    return *early;
  }
  const std::uint64_t n_entries = leaves.size();
  res.entries = n_entries;
  if (n_entries < m) {
    return found(consistency_finding::truncated,
                 "log has " + std::to_string(n_entries) + " entries, saved checkpoint covers " +
                     std::to_string(m) + " (" + when(saved.c) + "): truncated");
  }
  auto latest = latest_valid_checkpoint(*r, *key);
  if (!latest) {
    return fail(latest.error());
  }
  const std::optional<signed_checkpoint>& newest = *latest;
  // Roots at the saved size and at the newest checkpoint's size, in one pass.
  const std::uint64_t n = newest ? newest->c.size : 0;
  merkle_frontier tree;
  std::optional<hash> root_m = m == 0 ? std::optional<hash>(empty_root()) : std::nullopt;
  std::optional<hash> root_n = n == 0 ? std::optional<hash>(empty_root()) : std::nullopt;
  for (std::uint64_t i = 0; i < n_entries && (!root_m || !root_n); ++i) {
    tree.append(leaves[i]);
    if (tree.size() == m) {
      root_m = tree.root();
    }
    if (tree.size() == n) {
      root_n = tree.root();
    }
  }
  if (*root_m != saved.c.root) {
    return found(consistency_finding::rewritten, "root at size " + std::to_string(m) +
                                                     " differs from the saved checkpoint (" +
                                                     when(saved.c) + "): history rewritten");
  }
  if (!newest || n < m) {
    return found(consistency_finding::checkpoints_removed,
                 std::string("the store's newest valid checkpoint ") +
                     (newest ? "covers " + std::to_string(n) + " entries" : "does not exist") +
                     ", fewer than the " + std::to_string(m) +
                     " of the saved checkpoint: checkpoints were removed");
  }
  if (n > n_entries || !root_n || *root_n != newest->c.root) {
    return found(consistency_finding::store_inconsistent,
                 "the store's newest checkpoint (size " + std::to_string(n) +
                     ") does not match its entries; run `dsa audit verify`");
  }
  auto path = consistency_path(m, n, [&](std::uint64_t i) { return leaves[i]; });
  if (!path || !verify_consistency(m, n, saved.c.root, newest->c.root, *path)) {
    return found(
        consistency_finding::store_inconsistent,
        "no valid consistency proof from size " + std::to_string(m) + " to " + std::to_string(n));
  }
  res.newest = *newest;
  res.proof = std::move(*path);
  res.detail = "the log extends the saved checkpoint: size " + std::to_string(m) + " (" +
               when(saved.c) + ") -> size " + std::to_string(n) + " (" + when(newest->c) +
               "), RFC 9162 consistency proof of " + std::to_string(res.proof.size()) + " hashes";
  if (n_entries > n) {
    res.detail +=
        "; " + std::to_string(n_entries - n) + " newer entries are not yet covered by a checkpoint";
  }
  return res;
}

std::string consistency_proof_to_json(const consistency_proof& p) {
  auto q = [](std::string_view s) { return boost::json::serialize(boost::json::string(s)); };
  std::string out = "{\n";
  out += "  \"type\": " + q(proof_type) + ",\n";
  out += "  \"origin\": " + q(p.origin) + ",\n";
  out += "  \"old_size\": " + std::to_string(p.old_size) + ",\n";
  out += "  \"old_root\": " + q(to_base64(p.old_root)) + ",\n";
  out += "  \"new_size\": " + std::to_string(p.new_size) + ",\n";
  out += "  \"new_root\": " + q(to_base64(p.new_root)) + ",\n";
  out += "  \"proof\": [";
  for (std::size_t i = 0; i < p.path.size(); ++i) {
    out += (i == 0 ? "\n    " : ",\n    ") + q(to_base64(p.path[i]));
  }
  out += p.path.empty() ? "]\n" : "\n  ]\n";
  out += "}\n";
  return out;
}

result<consistency_proof> consistency_proof_from_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return fail("the consistency proof is not a JSON object");
  }
  const auto& o = v.get_object();
  auto str = [&](std::string_view k) { return string_member(o, k); };
  auto num = [&](std::string_view k) { return uint_member(o, k); };
  auto type = str("type");
  auto origin = str("origin");
  auto old_size = num("old_size");
  auto new_size = num("new_size");
  auto old_root = str("old_root");
  auto new_root = str("new_root");
  auto path = o.find("proof");
  if (!type || *type != proof_type || !origin || !old_size || !new_size || !old_root || !new_root ||
      path == o.end() || !path->value().is_array()) {
    return fail("the consistency proof lacks a member or has one of the wrong type");
  }
  consistency_proof p;
  p.origin = std::string(*origin);
  p.old_size = *old_size;
  p.new_size = *new_size;
  auto a = hash_from_base64(*old_root);
  auto b = hash_from_base64(*new_root);
  if (!a || !b) {
    return fail("the consistency proof's old_root or new_root is not base64 of a 32-byte hash");
  }
  p.old_root = *a;
  p.new_root = *b;
  for (const auto& element : path->value().get_array()) {
    auto h = element.is_string() ? hash_from_base64(element.get_string()) : std::nullopt;
    if (!h) {
      return fail("a proof element is not base64 of a 32-byte hash");
    }
    p.path.push_back(*h);
  }
  return p;
}

result<std::string> verify_consistency_offline(const signed_checkpoint& old_cp,
                                               const signed_checkpoint& new_cp,
                                               const consistency_proof& proof,
                                               const public_key& key) {
  if (!verify_signed_checkpoint(old_cp, key)) {
    return fail("the old checkpoint's signature does not verify with this key");
  }
  if (!verify_signed_checkpoint(new_cp, key)) {
    return fail("the new checkpoint's signature does not verify with this key");
  }
  if (old_cp.c.origin != new_cp.c.origin || proof.origin != old_cp.c.origin) {
    return fail("the checkpoints and the proof are not of one log (origins differ)");
  }
  if (proof.old_size != old_cp.c.size || proof.old_root != old_cp.c.root ||
      proof.new_size != new_cp.c.size || proof.new_root != new_cp.c.root) {
    return fail("the proof is about other sizes or roots than these two checkpoints");
  }
  if (new_cp.c.size < old_cp.c.size) {
    return fail("the new checkpoint covers " + std::to_string(new_cp.c.size) +
                " entries, fewer than the old one's " + std::to_string(old_cp.c.size) +
                ": truncated");
  }
  if (!verify_consistency(old_cp.c.size, new_cp.c.size, old_cp.c.root, new_cp.c.root, proof.path)) {
    return fail("the proof does not show size " + std::to_string(old_cp.c.size) +
                " to be a prefix of size " + std::to_string(new_cp.c.size) +
                ": history rewritten (or the proof is damaged)");
  }
  return std::string("the log \"") + old_cp.c.origin + "\" at size " +
         std::to_string(new_cp.c.size) + " extends its checkpoint at size " +
         std::to_string(old_cp.c.size) + ", both signed by this key";
}

}  // namespace dsa::audit
