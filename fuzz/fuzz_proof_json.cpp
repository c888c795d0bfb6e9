// libFuzzer target: inclusion-proof JSON as an auditor receives it (audit/proof.hpp
// proof_from_json, then verify_proof with the key of the store the seed proofs came from,
// fuzz/data/proof-key.pem). Seeds are real proofs from `dsa audit prove`, so mutations that keep
// the signed checkpoint reach the entry, leaf and path checks.
//
// Beyond "no crash": a parsed proof survives proof_to_json → proof_from_json unchanged, and
// verify_proof accepts only proofs whose path really leads to the root (checked again directly
// with merkle.hpp's root_from_inclusion_path).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "audit/merkle.hpp"
#include "audit/proof.hpp"

namespace {

using namespace dsa::audit;

std::unique_ptr<public_key> g_key;

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_proof_json: %s: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

bool same(const inclusion_proof& a, const inclusion_proof& b) {
  return a.origin == b.origin && a.size == b.size && a.root == b.root &&
         a.signature == b.signature && a.leaf_index == b.leaf_index && a.entry == b.entry &&
         a.leaf == b.leaf && a.path == b.path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::ifstream in(DSA_SOURCE_DIR "/fuzz/data/proof-key.pem", std::ios::binary);
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto key = public_key::from_pem(pem);
  if (!key) {
    std::fprintf(stderr, "fuzz_proof_json: fuzz/data/proof-key.pem: %s\n", key.error().c_str());
    std::abort();
  }
  g_key = std::move(key).value();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto p = proof_from_json(input);
  if (!p) {
    if (p.error().empty()) {
      fail("refused without saying why", input);
    }
    return 0;
  }
  const auto round = proof_from_json(proof_to_json(*p));
  if (!round || !same(*p, *round)) {
    fail("proof_to_json does not round-trip", input);
  }
  const auto check = verify_proof(*p, *g_key);
  const auto root = root_from_inclusion_path(p->leaf_index, p->size, p->leaf, p->path);
  if (check && (!root || *root != p->root || leaf_hash(p->entry) != p->leaf)) {
    fail("verify_proof accepted a proof whose path does not lead to the root", input);
  }
  if (!check && check.error().empty()) {
    fail("verify_proof refused without saying why", input);
  }
  (void)verify_inclusion(p->leaf_index, p->size, p->leaf, p->path, p->root);
  return 0;
}
