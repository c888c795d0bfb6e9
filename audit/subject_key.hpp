#pragma once

// The subject key: the secret under which the gateway records who a disclosure was about
// (docs/auditing.md, "A subject access request"). An entry never holds a person's identifier; it
// holds HMAC-SHA-256(secret, identifier) as 64 lowercase hex digits, so the store can answer "every
// disclosure about this person" for whoever holds the key (`dsa audit subject`) without being a
// register of identifiers for whoever merely reads the file.
//
// The key file (audit.subject_key in the gateway config; docs/operations.md, "The subject key"):
// exactly 64 lowercase hex characters (32 random bytes), optionally followed by one newline, in a
// regular file no group or other user may read or write (mode 0600 or 0400). The gateway creates
// it on first start (O_EXCL, mode 0600, fsync'd); it never changes it, and a lost key makes every
// hash recorded under it unsearchable.
//
// An identifier is hashed as its bytes: a JSON string's UTF-8 value, a JSON number's text.
//
// Thread safety: immutable after load; hash() may be called from any thread.
// Errors: nothing throws; load and create return a result naming the file and what is wrong. No
// message ever includes the key's bytes.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace dsa::audit {

class subject_key {
 public:
  subject_key(const subject_key&) = delete;
  subject_key& operator=(const subject_key&) = delete;
  ~subject_key();

  // Reads the key at `path`; fails when the file cannot be read, is group- or world-accessible,
  // is not a regular file, or does not hold exactly 64 lowercase hex characters.
  [[nodiscard]] static result<std::unique_ptr<subject_key>> load(const std::filesystem::path& path);
  // load(), or when the file does not exist, creates it with a fresh random key first.
  [[nodiscard]] static result<std::unique_ptr<subject_key>> load_or_create(
      const std::filesystem::path& path);

  // HMAC-SHA-256 of `identifier` under the key, as 64 lowercase hex digits; empty only if
  // OpenSSL fails, which callers treat as a failure to record (never as "no subject").
  [[nodiscard]] std::string hash(std::string_view identifier) const;
  // hash() of each identifier, sorted and without duplicates (an entry's `subjects`); nullopt
  // when any of them could not be hashed.
  [[nodiscard]] std::optional<std::vector<std::string>> hash_all(
      const std::vector<std::string>& identifiers) const;

 private:
  explicit subject_key(EVP_MAC_CTX* keyed);
  EVP_MAC_CTX* keyed_;  // HMAC-SHA-256 initialised with the secret; each hash works on a copy
};

}  // namespace dsa::audit
