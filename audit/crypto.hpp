#pragma once

// The audit store's cryptography, all through OpenSSL 3: SHA-256 (RFC 9162 leaf and node hashes),
// Ed25519 signing keys for checkpoints, and the base64 encoding used in notes and
// proofs (hex is in common/hex.hpp).
//
// Thread safety: free functions are safe from any thread (hashing uses a per-thread context).
// signing_key is immutable after load and may be shared across threads.
// Errors: nothing here throws. Loading a key returns a result naming the file and the problem
// (common/result.hpp); a parse that has nothing to say but "no" returns std::optional.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace dsa::audit {

using hash = std::array<std::uint8_t, 32>;

// SHA-256 of `data`.
[[nodiscard]] hash sha256(std::string_view data);
// RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 ‖ data), interior node = SHA-256(0x01 ‖ left ‖ right).
[[nodiscard]] hash leaf_hash(std::string_view data);
[[nodiscard]] hash node_hash(const hash& left, const hash& right);
// MTH of the empty tree: SHA-256 of the empty string.
[[nodiscard]] const hash& empty_root();

[[nodiscard]] std::optional<std::string> from_hex(std::string_view hex);
// Standard base64 with padding (RFC 4648 §4), as in C2SP checkpoint notes.
[[nodiscard]] std::string to_base64(std::string_view bytes);
[[nodiscard]] std::string to_base64(const hash& h);
// Strict: only the canonical encoding of some byte string is accepted.
[[nodiscard]] std::optional<std::string> from_base64(std::string_view text);
[[nodiscard]] std::optional<hash> hash_from_base64(std::string_view text);
[[nodiscard]] std::string_view as_bytes(const hash& h);

// An Ed25519 private key (checkpoint signer).
class signing_key {
 public:
  signing_key(const signing_key&) = delete;
  signing_key& operator=(const signing_key&) = delete;
  ~signing_key();

  // Loads the PEM private key at `path`, or creates a fresh key there (mode 0600, created
  // exclusively so a concurrent creator cannot be overwritten) when the file does not exist.
  // Fails when the file exists but is not an Ed25519 PEM private key.
  [[nodiscard]] static result<std::unique_ptr<signing_key>> load_or_create(
      const std::filesystem::path& path);
  // Signs `message` with pure Ed25519 (RFC 8032; no pre-hash). Returns the 64-byte signature.
  [[nodiscard]] std::optional<std::string> sign(std::string_view message) const;
  // The SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
  [[nodiscard]] const std::string& public_key_pem() const { return public_pem_; }

 private:
  explicit signing_key(EVP_PKEY* key);
  EVP_PKEY* key_;
  std::string public_pem_;
};

// An Ed25519 public key (checkpoint verifier).
class public_key {
 public:
  public_key(const public_key&) = delete;
  public_key& operator=(const public_key&) = delete;
  ~public_key();

  // Parses a PEM SubjectPublicKeyInfo; fails unless it is an Ed25519 key.
  [[nodiscard]] static result<std::unique_ptr<public_key>> from_pem(std::string_view pem);
  [[nodiscard]] bool verify(std::string_view message, std::string_view signature) const;
  // The canonical PEM re-encoding, to compare keys independent of formatting.
  [[nodiscard]] const std::string& pem() const { return pem_; }

 private:
  explicit public_key(EVP_PKEY* key);
  EVP_PKEY* key_;
  std::string pem_;
};

}  // namespace dsa::audit
