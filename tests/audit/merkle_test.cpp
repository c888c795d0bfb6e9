// Known answers from RFC 6962 / Certificate Transparency (merkle_tree_test, transparency-dev
// merkle testonly): the eight leaves below, their roots for sizes 1..8 and their audit paths.
#include "audit/merkle.hpp"

#include <catch2/catch.hpp>

#include "audit/checkpoint.hpp"
#include "common/hex.hpp"

using namespace dsa::audit;

namespace {

const char* const leaf_inputs_hex[] = {"",
                                       "00",
                                       "10",
                                       "2021",
                                       "3031",
                                       "40414243",
                                       "5051525354555657",
                                       "606162636465666768696a6b6c6d6e6f"};

const char* const roots_hex[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

struct path_vector {
  std::uint64_t index, size;
  std::vector<const char*> path;
};

const path_vector path_vectors[] = {
    {0, 1, {}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

hash h(const char* hex) {
  auto bytes = from_hex(hex);
  REQUIRE(bytes);
  REQUIRE(bytes->size() == 32);
  hash out;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::vector<hash> ct_leaves(std::size_t n) {
  std::vector<hash> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(leaf_hash(*from_hex(leaf_inputs_hex[i])));
  }
  return out;
}

// The RFC 9162 §2.1.1 definition, recursively, as an independent reference.
hash reference_mth(std::span<const hash> d) {
  if (d.empty()) {
    return sha256("");
  }
  if (d.size() == 1) {
    return d[0];
  }
  std::size_t k = 1;
  while (k * 2 < d.size()) {
    k *= 2;
  }
  return node_hash(reference_mth(d.subspan(0, k)), reference_mth(d.subspan(k)));
}

std::vector<hash> synthetic_leaves(std::size_t n) {
  std::vector<hash> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(leaf_hash("leaf " + std::to_string(i)));
  }
  return out;
}

}  // namespace

TEST_CASE("empty tree hash is SHA-256 of the empty string", "[merkle]") {
  CHECK(dsa::common::to_hex(merkle_root({})) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(merkle_frontier().root() == empty_root());
}

TEST_CASE("RFC 6962 known-answer roots for sizes 1..8", "[merkle]") {
  auto leaves = ct_leaves(8);
  merkle_frontier f;
  for (std::size_t n = 1; n <= 8; ++n) {
    f.append(leaves[n - 1]);
    INFO("size " << n);
    CHECK(dsa::common::to_hex(merkle_root(std::span(leaves).first(n))) == roots_hex[n - 1]);
    CHECK(dsa::common::to_hex(f.root()) == roots_hex[n - 1]);
    CHECK(f.size() == n);
  }
}

TEST_CASE("RFC 6962 known-answer inclusion paths verify and are generated", "[merkle]") {
  auto leaves = ct_leaves(8);
  for (const auto& v : path_vectors) {
    INFO("leaf " << v.index << " of " << v.size);
    std::vector<hash> expected;
    for (const char* p : v.path) {
      expected.push_back(h(p));
    }
    auto path = inclusion_path(v.index, v.size, [&](std::uint64_t i) { return leaves[i]; });
    REQUIRE(path);
    CHECK(*path == expected);
    const hash root = h(roots_hex[v.size - 1]);
    CHECK(verify_inclusion(v.index, v.size, leaves[v.index], expected, root));
  }
}

TEST_CASE("corrupted inclusion proofs are rejected", "[merkle]") {
  auto leaves = ct_leaves(8);
  for (const auto& v : path_vectors) {
    INFO("leaf " << v.index << " of " << v.size);
    std::vector<hash> path;
    for (const char* p : v.path) {
      path.push_back(h(p));
    }
    const hash root = h(roots_hex[v.size - 1]);
    const hash& leaf = leaves[v.index];
    // Wrong leaf, wrong root, wrong index, wrong size, index past the end.
    CHECK_FALSE(verify_inclusion(v.index, v.size, leaf_hash("forged"), path, root));
    hash bad_root = root;
    bad_root[0] ^= 1;
    CHECK_FALSE(verify_inclusion(v.index, v.size, leaf, path, bad_root));
    CHECK_FALSE(verify_inclusion(v.index + 1, v.size, leaf, path, root));
    if (v.index > 0) {
      CHECK_FALSE(verify_inclusion(v.index - 1, v.size, leaf, path, root));
    }
    // A tree of another height (transparency-dev's corruptions: double and half the size).
    CHECK_FALSE(verify_inclusion(v.index, v.size * 2, leaf, path, root));
    if (v.size / 2 > v.index) {
      CHECK_FALSE(verify_inclusion(v.index, v.size / 2, leaf, path, root));
    }
    CHECK_FALSE(verify_inclusion(v.size, v.size, leaf, path, root));
    // Every flipped byte of every path element.
    for (std::size_t i = 0; i < path.size(); ++i) {
      for (std::size_t b = 0; b < 32; ++b) {
        auto bad = path;
        bad[i][b] ^= 0x80;
        CHECK_FALSE(verify_inclusion(v.index, v.size, leaf, bad, root));
      }
    }
    // An extra element, a missing element, reordered elements.
    auto longer = path;
    longer.push_back(leaf);
    CHECK_FALSE(verify_inclusion(v.index, v.size, leaf, longer, root));
    if (!path.empty()) {
      auto shorter = path;
      shorter.pop_back();
      CHECK_FALSE(verify_inclusion(v.index, v.size, leaf, shorter, root));
    }
    if (path.size() >= 2) {
      auto swapped = path;
      std::swap(swapped[0], swapped[1]);
      CHECK_FALSE(verify_inclusion(v.index, v.size, leaf, swapped, root));
    }
  }
}

TEST_CASE("frontier and proofs agree with the recursive definition for every shape", "[merkle]") {
  auto leaves = synthetic_leaves(70);
  merkle_frontier f;
  for (std::size_t n = 1; n <= leaves.size(); ++n) {
    f.append(leaves[n - 1]);
    std::span<const hash> d(leaves.data(), n);
    const hash root = reference_mth(d);
    REQUIRE(f.root() == root);
    REQUIRE(merkle_root(d) == root);
    for (std::uint64_t i = 0; i < n; ++i) {
      auto path = inclusion_path(i, n, [&](std::uint64_t k) { return leaves[k]; });
      REQUIRE(path);
      REQUIRE(verify_inclusion(i, n, leaves[i], *path, root));
      if (n > 1) {
        REQUIRE_FALSE(verify_inclusion(i, n, leaves[(i + 1) % n], *path, root));
      }
    }
  }
  CHECK_FALSE(inclusion_path(5, 5, [&](std::uint64_t k) { return leaves[k]; }));
}

TEST_CASE("checkpoint notes have exactly one form", "[merkle][checkpoint]") {
  checkpoint c{"dsa-gateway.example", 1234, sha256("x")};
  const std::string note = checkpoint_note(c);
  CHECK(note == "dsa-gateway.example\n1234\n" + to_base64(c.root) + "\n");
  auto parsed = parse_checkpoint_note(note);
  REQUIRE(parsed);
  CHECK(parsed->origin == c.origin);
  CHECK(parsed->size == 1234);
  CHECK(parsed->root == c.root);
  CHECK_FALSE(parse_checkpoint_note(note.substr(0, note.size() - 1)));
  CHECK_FALSE(parse_checkpoint_note(note + "extra\n"));
  CHECK_FALSE(parse_checkpoint_note("dsa\n01234\n" + to_base64(c.root) + "\n"));
  CHECK_FALSE(parse_checkpoint_note("dsa\n12a\n" + to_base64(c.root) + "\n"));
  CHECK_FALSE(parse_checkpoint_note("\n1\n" + to_base64(c.root) + "\n"));
  CHECK_FALSE(parse_checkpoint_note("dsa\n1\n" + to_base64(std::string(31, 'x')) + "\n"));
  CHECK_FALSE(valid_origin("two\nlines"));
}

TEST_CASE("base64 decoding is strict", "[merkle][checkpoint]") {
  CHECK(to_base64(std::string_view("")) == "");
  CHECK(to_base64(std::string_view("f")) == "Zg==");
  CHECK(to_base64(std::string_view("foobar")) == "Zm9vYmFy");
  CHECK(from_base64("Zm9vYg==") == std::optional<std::string>("foob"));
  CHECK_FALSE(from_base64("Zm9vYg="));
  CHECK_FALSE(from_base64("Zm9vYh=="));  // non-zero unused bits: not canonical
  CHECK_FALSE(from_base64("Zm9v!mFy"));
}
