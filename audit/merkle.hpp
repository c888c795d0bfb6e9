#pragma once

// RFC 9162 §2.1 Merkle Tree Hash (MTH), an incremental frontier, inclusion proofs (§2.1.3) and
// consistency proofs (§2.1.4). Leaves are given as leaf hashes (SHA-256(0x00 ‖ entry)); see
// crypto.hpp.
//
// Thread safety: values only; a frontier is not synchronised (one owner at a time).

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "audit/crypto.hpp"

namespace dsa::audit {

// MTH(D[n]) over leaf hashes, computed from scratch (RFC 9162 §2.1.1). For tests and proofs.
[[nodiscard]] hash merkle_root(std::span<const hash> leaves);

// The compact right edge of a growing tree: one subtree root per set bit of size(), largest
// first. Appending is amortised O(1) hashes; root() is O(log n). Copyable (≤ 64 hashes), so a
// writer can extend a copy for a batch and discard it when the batch fails.
class merkle_frontier {
 public:
  void append(const hash& leaf);
  [[nodiscard]] hash root() const;
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  std::vector<hash> nodes_;
  std::uint64_t size_ = 0;
};

// PATH(m, D[n]) from RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of the first
// `size` leaves. `leaf_at(i)` returns leaf hash i (i < size). Empty optional if index >= size.
[[nodiscard]] std::optional<std::vector<hash>> inclusion_path(
    std::uint64_t index, std::uint64_t size, const std::function<hash(std::uint64_t)>& leaf_at);

// RFC 9162 §2.1.3.2: the root that `path` proves for `leaf` at `index` in a tree of `size`
// leaves, or nullopt when the path has the wrong shape for (index, size).
[[nodiscard]] std::optional<hash> root_from_inclusion_path(std::uint64_t index, std::uint64_t size,
                                                           const hash& leaf,
                                                           std::span<const hash> path);

[[nodiscard]] bool verify_inclusion(std::uint64_t index, std::uint64_t size, const hash& leaf,
                                    std::span<const hash> path, const hash& root);

// PROOF(m, D[n]) from RFC 9162 §2.1.4.1: the hashes that prove the tree of the first `old_size`
// leaves is a prefix of the tree of the first `new_size`. `leaf_at(i)` returns leaf hash i
// (i < new_size). Empty for old_size 0 or old_size == new_size; nullopt if old_size > new_size.
[[nodiscard]] std::optional<std::vector<hash>> consistency_path(
    std::uint64_t old_size, std::uint64_t new_size,
    const std::function<hash(std::uint64_t)>& leaf_at);

// RFC 9162 §2.1.4.2: true when `path` proves that the tree of `old_size` leaves with root
// `old_root` is a prefix of the tree of `new_size` leaves with root `new_root`. The two cases
// the RFC leaves to the caller: old_size 0 (the empty tree is a prefix of every tree) needs an
// empty path; old_size == new_size needs an empty path and equal roots.
[[nodiscard]] bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                      const hash& old_root, const hash& new_root,
                                      std::span<const hash> path);

}  // namespace dsa::audit
