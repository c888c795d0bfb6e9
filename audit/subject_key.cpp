#include "audit/subject_key.hpp"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/hex.hpp"

namespace dsa::audit {
namespace {

constexpr std::size_t k_secret_bytes = 32;
constexpr std::size_t k_hex_chars = 2 * k_secret_bytes;

// Zeroes the secret's copies on every path out of load().
struct wiped {
  unsigned char bytes[k_secret_bytes] = {};
  std::string text;
  ~wiped() {
    OPENSSL_cleanse(bytes, sizeof bytes);
    if (!text.empty()) {
      OPENSSL_cleanse(text.data(), text.size());
    }
  }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

EVP_MAC_CTX* keyed_hmac(const unsigned char* secret) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) {
    return nullptr;
  }
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx == nullptr || EVP_MAC_init(ctx, secret, k_secret_bytes, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

subject_key::subject_key(EVP_MAC_CTX* keyed) : keyed_(keyed) {}

subject_key::~subject_key() { EVP_MAC_CTX_free(keyed_); }

result<std::unique_ptr<subject_key>> subject_key::load(const std::filesystem::path& path) {
  const std::string name = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail("cannot read subject key " + name + ": " + std::strerror(errno));
  }
  // Checked on the open file, so the mode seen is the mode of the bytes read.
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail("cannot read subject key " + name + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("subject key " + name + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    // A reader of the key can test any guessed identifier against the store; a writer could
    // swap it so new disclosures are recorded under a key the operator does not hold.
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    ::close(fd);
    return fail("subject key " + name + " has mode " + mode +
                "; it must not be accessible to group or others (chmod 600 " + name + ")");
  }
  wiped w;
  char buf[k_hex_chars + 2];
  std::size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      return fail("cannot read subject key " + name + ": " + std::strerror(err));
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  w.text.assign(buf, got);
  OPENSSL_cleanse(buf, sizeof buf);
  if (!w.text.empty() && w.text.back() == '\n') {
    w.text.pop_back();
  }
  if (w.text.size() != k_hex_chars) {
    return fail("subject key " + name + " holds " +
                (got > k_hex_chars + 1 ? std::string("more than ") + std::to_string(k_hex_chars)
                                       : std::to_string(w.text.size())) +
                " characters; expected exactly " + std::to_string(k_hex_chars) +
                " lowercase hex characters (32 bytes) and an optional newline");
  }
  for (std::size_t i = 0; i < k_secret_bytes; ++i) {
    const int hi = hex_value(w.text[2 * i]);
    const int lo = hex_value(w.text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return fail("subject key " + name + " is not lowercase hex (character " +
                  std::to_string(hi < 0 ? 2 * i + 1 : 2 * i + 2) + " is not one of 0-9 a-f)");
    }
    w.bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  EVP_MAC_CTX* ctx = keyed_hmac(w.bytes);
  if (ctx == nullptr) {
    return fail("cannot set up HMAC-SHA-256 for subject key " + name);
  }
  return std::unique_ptr<subject_key>(new subject_key(ctx));
}

result<std::unique_ptr<subject_key>> subject_key::load_or_create(
    const std::filesystem::path& path) {
  const std::string name = path.string();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 || errno != ENOENT) {
    return load(path);
  }
  wiped w;
  if (RAND_bytes(w.bytes, sizeof w.bytes) != 1) {
    return fail("cannot generate a subject key: the random generator failed");
  }
  w.text = common::to_hex(std::string_view(reinterpret_cast<const char*>(w.bytes), k_secret_bytes));
  w.text.push_back('\n');
  // O_EXCL + 0600, as for the signing key: never readable by others, not even for a moment, and
  // a concurrent creator's key is never overwritten (the loser reads the winner's).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return load(path);
    }
    return fail("cannot create subject key " + name + ": " + std::strerror(errno));
  }
  std::size_t put = 0;
  bool ok = true;
  while (ok && put < w.text.size()) {
    const ssize_t n = ::write(fd, w.text.data() + put, w.text.size() - put);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    put += ok ? static_cast<std::size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return fail("cannot write subject key " + name);
  }
  return load(path);
}

std::string subject_key::hash(std::string_view identifier) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_);
  const bool ok = ctx != nullptr &&
                  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(identifier.data()),
                                 identifier.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &len, sizeof out) == 1 && len == 32;
  EVP_MAC_CTX_free(ctx);
  if (!ok) {
    // Not expected once the key is set up; an empty string is never a valid hash, so a caller
    // comparing hashes finds nothing rather than a wrong match.
    return {};
  }
  return common::to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::optional<std::vector<std::string>> subject_key::hash_all(
    const std::vector<std::string>& identifiers) const {
  std::vector<std::string> out;
  out.reserve(identifiers.size());
  for (const std::string& id : identifiers) {
    std::string h = hash(id);
    if (h.empty()) {
      return std::nullopt;
    }
    out.push_back(std::move(h));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace dsa::audit
