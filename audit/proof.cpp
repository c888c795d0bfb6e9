#include "audit/proof.hpp"

#include <boost/json.hpp>

#include "audit/checkpoint.hpp"
#include "audit/entry.hpp"
#include "audit/json_members.hpp"
#include "audit/merkle.hpp"
#include "audit/reader.hpp"

namespace dsa::audit {

result<inclusion_proof> prove(const std::filesystem::path& db, std::uint64_t seq) {
  auto opened = reader::open(db);
  if (!opened) {
    return fail(opened.error());
  }
  const std::unique_ptr<reader> r = std::move(opened).value();
  auto checkpoints = r->checkpoints();
  if (!checkpoints) {
    return fail(checkpoints.error());
  }
  const std::vector<stored_checkpoint>& rows = *checkpoints;
  if (rows.empty()) {
    return fail("the store has no checkpoint yet");
  }
  const stored_checkpoint& latest = rows.back();
  auto note = parse_checkpoint_note(latest.note);
  if (!note) {
    return fail("the latest checkpoint is malformed; run `dsa audit verify`");
  }
  auto key = public_key::from_pem(r->meta("public_key").value_or(""));
  if (!key || !(*key)->verify(latest.note, latest.signature)) {
    return fail("the latest checkpoint's signature does not verify; run `dsa audit verify`");
  }
  if (seq >= note->size) {
    return fail("entry " + std::to_string(seq) + " is not covered by the latest checkpoint (size " +
                std::to_string(note->size) + ")");
  }
  auto stored_leaves = r->leaf_hashes(note->size);
  if (!stored_leaves) {
    return fail(stored_leaves.error());
  }
  const std::vector<hash>& leaves = *stored_leaves;
  inclusion_proof p;
  p.origin = note->origin;
  p.size = note->size;
  p.root = note->root;
  p.time_us = note->time_us;
  p.signature = latest.signature;
  p.leaf_index = seq;
  p.entry = r->entry_text(seq).value_or("");
  p.leaf = leaf_hash(p.entry);
  if (p.leaf != leaves[seq]) {
    return fail("entry " + std::to_string(seq) +
                " does not match its leaf hash; run `dsa audit verify`");
  }
  if (merkle_root(leaves) != p.root) {
    return fail("the stored entries do not match the latest checkpoint; run `dsa audit verify`");
  }
  p.path = *inclusion_path(seq, p.size, [&](std::uint64_t i) { return leaves[i]; });
  return p;
}

std::string proof_to_json(const inclusion_proof& p) {
  auto q = [](std::string_view s) { return boost::json::serialize(boost::json::string(s)); };
  std::string out = "{\n";
  out += "  \"origin\": " + q(p.origin) + ",\n";
  out += "  \"size\": " + std::to_string(p.size) + ",\n";
  out += "  \"root\": " + q(to_base64(p.root)) + ",\n";
  if (p.time_us) {
    out += "  \"time_us\": " + std::to_string(*p.time_us) + ",\n";
  }
  out += "  \"signature\": " + q(to_base64(p.signature)) + ",\n";
  out += "  \"leaf_index\": " + std::to_string(p.leaf_index) + ",\n";
  out += "  \"entry\": " + q(p.entry) + ",\n";
  out += "  \"leaf_hash\": " + q(to_base64(p.leaf)) + ",\n";
  out += "  \"path\": [";
  for (std::size_t i = 0; i < p.path.size(); ++i) {
    out += (i == 0 ? "\n    " : ",\n    ") + q(to_base64(p.path[i]));
  }
  out += p.path.empty() ? "]\n" : "\n  ]\n";
  out += "}\n";
  return out;
}

result<inclusion_proof> proof_from_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return fail("the proof is not a JSON object");
  }
  const auto& o = v.get_object();
  auto str = [&](std::string_view k) { return string_member(o, k); };
  auto num = [&](std::string_view k) { return uint_member(o, k); };
  inclusion_proof p;
  auto origin = str("origin");
  auto size = num("size");
  auto root = str("root");
  auto sig = str("signature");
  auto index = num("leaf_index");
  auto entry = str("entry");
  auto leaf = str("leaf_hash");
  auto path = o.find("path");
  if (!origin || !size || !root || !sig || !index || !entry || !leaf || path == o.end() ||
      !path->value().is_array()) {
    return fail("the proof lacks a member or has one of the wrong type");
  }
  p.origin = std::string(*origin);
  p.size = *size;
  if (auto t = o.find("time_us"); t != o.end()) {
    if (!t->value().is_int64() || t->value().get_int64() < 0) {
      return fail("the proof's time_us is not a non-negative integer");
    }
    p.time_us = t->value().get_int64();
  }
  p.leaf_index = *index;
  p.entry = std::string(*entry);
  auto root_hash = hash_from_base64(*root);
  auto leaf_h = hash_from_base64(*leaf);
  auto sig_bytes = from_base64(*sig);
  if (!root_hash || !leaf_h || !sig_bytes) {
    return fail(
        "the proof's root, leaf_hash or signature is not canonical base64 of the right size");
  }
  p.root = *root_hash;
  p.leaf = *leaf_h;
  p.signature = *sig_bytes;
  for (const auto& element : path->value().get_array()) {
    auto h = element.is_string() ? hash_from_base64(element.get_string()) : std::nullopt;
    if (!h) {
      return fail("a path element is not base64 of a 32-byte hash");
    }
    p.path.push_back(*h);
  }
  return p;
}

result<void> verify_proof(const inclusion_proof& p, const public_key& key) {
  if (!valid_origin(p.origin)) {
    return fail("the origin is not one printable line");
  }
  const std::string note = checkpoint_note({p.origin, p.size, p.root, p.time_us});
  if (!key.verify(note, p.signature)) {
    return fail("the checkpoint signature does not verify with this key");
  }
  if (leaf_hash(p.entry) != p.leaf) {
    return fail("the entry does not hash to leaf_hash");
  }
  auto claimed = claimed_seq(p.entry);
  if (!claimed || *claimed != p.leaf_index) {
    return fail("the entry does not claim seq " + std::to_string(p.leaf_index));
  }
  if (!verify_inclusion(p.leaf_index, p.size, p.leaf, p.path, p.root)) {
    return fail("the path does not lead from the entry to the signed root");
  }
  return {};
}

}  // namespace dsa::audit
