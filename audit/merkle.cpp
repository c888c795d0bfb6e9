#include "audit/merkle.hpp"

#include <bit>

namespace dsa::audit {
namespace {

// The largest power of two strictly less than n (n ≥ 2): the split point k of RFC 9162 §2.1.1.
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

hash subtree_root(std::uint64_t begin, std::uint64_t end,
                  const std::function<hash(std::uint64_t)>& leaf_at) {
  if (end - begin == 1) {
    return leaf_at(begin);
  }
  // Complete subtrees from the left are hashed with a frontier to avoid deep recursion.
  merkle_frontier f;
  for (std::uint64_t i = begin; i < end; ++i) {
    f.append(leaf_at(i));
  }
  return f.root();
}

void path_of(std::uint64_t m, std::uint64_t begin, std::uint64_t end,
             const std::function<hash(std::uint64_t)>& leaf_at, std::vector<hash>& out) {
  std::uint64_t n = end - begin;
  if (n <= 1) {
    return;
  }
  std::uint64_t k = split_point(n);
  if (m < k) {
    path_of(m, begin, begin + k, leaf_at, out);
    out.push_back(subtree_root(begin + k, end, leaf_at));
  } else {
    path_of(m - k, begin + k, end, leaf_at, out);
    out.push_back(subtree_root(begin, begin + k, leaf_at));
  }
}

}  // namespace

hash merkle_root(std::span<const hash> leaves) {
  merkle_frontier f;
  for (const hash& h : leaves) {
    f.append(h);
  }
  return f.root();
}

void merkle_frontier::append(const hash& leaf) {
  nodes_.push_back(leaf);
  ++size_;
  // Each trailing zero bit of the new size is a pair of equal-sized subtrees to merge.
  for (std::uint64_t s = size_; (s & 1) == 0; s >>= 1) {
    hash right = nodes_.back();
    nodes_.pop_back();
    nodes_.back() = node_hash(nodes_.back(), right);
  }
}

hash merkle_frontier::root() const {
  if (nodes_.empty()) {
    return empty_root();
  }
  // MTH hashes the ragged right edge bottom-up: fold the smaller subtrees into the larger ones.
  hash r = nodes_.back();
  for (std::size_t i = nodes_.size() - 1; i-- > 0;) {
    r = node_hash(nodes_[i], r);
  }
  return r;
}

std::optional<std::vector<hash>> inclusion_path(std::uint64_t index, std::uint64_t size,
                                                const std::function<hash(std::uint64_t)>& leaf_at) {
  if (index >= size) {
    return std::nullopt;
  }
  std::vector<hash> out;
  path_of(index, 0, size, leaf_at, out);
  // path_of appends the deepest sibling first, which is the order RFC 9162 lists them.
  return out;
}

std::optional<hash> root_from_inclusion_path(std::uint64_t index, std::uint64_t size,
                                             const hash& leaf, std::span<const hash> path) {
  if (index >= size) {
    return std::nullopt;
  }
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  hash r = leaf;
  for (const hash& p : path) {
    if (sn == 0) {
      return std::nullopt;
    }
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return std::nullopt;
  }
  return r;
}

bool verify_inclusion(std::uint64_t index, std::uint64_t size, const hash& leaf,
                      std::span<const hash> path, const hash& root) {
  auto computed = root_from_inclusion_path(index, size, leaf, path);
  return computed && *computed == root;
}

}  // namespace dsa::audit
