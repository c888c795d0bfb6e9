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

// SUBPROOF(m, D[begin:end], complete) of RFC 9162 §2.1.4.1.
void subproof(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool complete,
              const std::function<hash(std::uint64_t)>& leaf_at, std::vector<hash>& out) {
  const std::uint64_t n = end - begin;
  if (m == n) {
    if (!complete) {
      out.push_back(subtree_root(begin, end, leaf_at));
    }
    return;
  }
  const std::uint64_t k = split_point(n);
  if (m <= k) {
    subproof(m, begin, begin + k, complete, leaf_at, out);
    out.push_back(subtree_root(begin + k, end, leaf_at));
  } else {
    subproof(m - k, begin + k, end, false, leaf_at, out);
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

namespace dsa::audit {

std::optional<std::vector<hash>> consistency_path(
    std::uint64_t old_size, std::uint64_t new_size,
    const std::function<hash(std::uint64_t)>& leaf_at) {
  if (old_size > new_size) {
    return std::nullopt;
  }
  std::vector<hash> out;
  if (old_size == 0 || old_size == new_size) {
    return out;
  }
  subproof(old_size, 0, new_size, true, leaf_at, out);
  return out;
}

bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const hash& old_root,
                        const hash& new_root, std::span<const hash> path) {
  if (old_size > new_size) {
    return false;
  }
  if (old_size == 0) {
    return path.empty();
  }
  if (old_size == new_size) {
    return path.empty() && old_root == new_root;
  }
  // Step 1: a proof between different non-empty sizes is never empty.
  if (path.empty()) {
    return false;
  }
  // Step 2: when old_size is a power of two, the old root is itself a node of the new tree and
  // the proof leaves it out.
  std::vector<hash> p;
  p.reserve(path.size() + 1);
  if ((old_size & (old_size - 1)) == 0) {
    p.push_back(old_root);
  }
  p.insert(p.end(), path.begin(), path.end());
  // Steps 3–4.
  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  // Steps 5–6.
  hash fr = p[0];
  hash sr = p[0];
  for (std::size_t i = 1; i < p.size(); ++i) {
    const hash& c = p[i];
    if (sn == 0) {
      return false;
    }
    if ((fn & 1) == 1 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  // Step 7.
  return fr == old_root && sr == new_root && sn == 0;
}

}  // namespace dsa::audit
