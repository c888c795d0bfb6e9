#include "common/hex.hpp"

#include <openssl/evp.h>

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

std::string sha256_hex(std::string_view data) {
  // Fetched once: EVP_sha256() makes every EVP_Digest call look the implementation up again
  // (OpenSSL 3 implicit fetch, a locked table search), and the gateway hashes every response body.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, sha256 != nullptr ? sha256 : EVP_sha256(),
             nullptr);
  return to_hex(std::span<const std::uint8_t>(md, len));
}

}  // namespace dsa::common
