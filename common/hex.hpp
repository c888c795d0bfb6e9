#pragma once

// Lowercase hex and SHA-256 digests, shared by every library: policy (agreement file pins),
// audit (leaf and root hashes in proofs and notes) and gateway (certificate fingerprints, body
// hashes, request ids). It sits below all of them so none depends on another for it
// (docs/design.md §2).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace dsa::common {

// Lowercase hex of `bytes`, two digits per byte.
[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
[[nodiscard]] std::string to_hex(std::string_view bytes);

// Lowercase hex SHA-256 of `data` (64 digits).
[[nodiscard]] std::string sha256_hex(std::string_view data);

// SHA-256 of bytes given piece by piece: a streamed response's digest, computed over exactly the
// bytes handed to the client (docs/design.md §6). Movable, not copyable.
class sha256_stream {
 public:
  sha256_stream();
  ~sha256_stream();
  sha256_stream(sha256_stream&& other) noexcept;
  sha256_stream& operator=(sha256_stream&& other) noexcept;
  sha256_stream(const sha256_stream&) = delete;
  sha256_stream& operator=(const sha256_stream&) = delete;

  void update(std::string_view data);
  // The digest of everything given so far, as sha256_hex would print it; the stream can go on.
  [[nodiscard]] std::string hex() const;

 private:
  void* ctx_;  // EVP_MD_CTX, kept out of this header
};

}  // namespace dsa::common
