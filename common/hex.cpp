#include "common/hex.hpp"

#include <openssl/evp.h>

#include <new>
#include <utility>

namespace dsa::common {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

namespace {
// Fetched once: EVP_sha256() makes every EVP_Digest call look the implementation up again
// (OpenSSL 3 implicit fetch, a locked table search), and the gateway hashes every response body.
const EVP_MD* sha256_md() {
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return fetched != nullptr ? fetched : EVP_sha256();
}
}  // namespace

sha256_stream::sha256_stream() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), sha256_md(), nullptr) != 1) {
    throw std::bad_alloc();
  }
}

sha256_stream::~sha256_stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

sha256_stream::sha256_stream(sha256_stream&& other) noexcept : ctx_(other.ctx_) {
  other.ctx_ = nullptr;
}

sha256_stream& sha256_stream::operator=(sha256_stream&& other) noexcept {
  std::swap(ctx_, other.ctx_);
  return *this;
}

void sha256_stream::update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string sha256_stream::hex() const {
  // Finalising consumes a context, so a copy is finalised and this one can go on.
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, static_cast<const EVP_MD_CTX*>(ctx_)) != 1 ||
      EVP_DigestFinal_ex(copy, md, &len) != 1) {
    EVP_MD_CTX_free(copy);
    throw std::bad_alloc();
  }
  EVP_MD_CTX_free(copy);
  return to_hex(std::span<const std::uint8_t>(md, len));
}

std::string sha256_hex(std::string_view data) {
  const EVP_MD* sha256 = sha256_md();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, sha256, nullptr);
  return to_hex(std::span<const std::uint8_t>(md, len));
}

}  // namespace dsa::common
