#include "audit/crypto.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dsa::audit {
namespace {

// Fetching the digest once avoids OpenSSL 3's per-call implicit provider lookup, which costs more
// than hashing a 600-byte entry; the per-thread context avoids an allocation per hash.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct md_ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~md_ctx() { EVP_MD_CTX_free(ctx); }
};

EVP_MD_CTX* thread_ctx() {
  thread_local md_ctx c;
  return c.ctx;
}

hash digest_parts(std::initializer_list<std::string_view> parts) {
  EVP_MD_CTX* ctx = thread_ctx();
  hash out{};
  unsigned int len = 0;
  EVP_DigestInit_ex2(ctx, sha256_md(), nullptr);
  for (std::string_view p : parts) {
    EVP_DigestUpdate(ctx, p.data(), p.size());
  }
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  return out;
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) {
    return "unknown OpenSSL error";
  }
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string public_pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (bio != nullptr && PEM_write_bio_PUBKEY(bio, key) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<std::size_t>(len));
  }
  BIO_free(bio);
  return pem;
}

}  // namespace

hash sha256(std::string_view data) { return digest_parts({data}); }

hash leaf_hash(std::string_view data) {
  static constexpr char prefix = 0x00;
  return digest_parts({std::string_view(&prefix, 1), data});
}

hash node_hash(const hash& left, const hash& right) {
  static constexpr char prefix = 0x01;
  return digest_parts({std::string_view(&prefix, 1), as_bytes(left), as_bytes(right)});
}

const hash& empty_root() {
  static const hash h = sha256("");
  return h;
}

std::string_view as_bytes(const hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return std::nullopt;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string to_base64(const hash& h) { return to_base64(as_bytes(h)); }

std::optional<std::string> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) {
    return std::nullopt;
  }
  // EVP_DecodeBlock keeps the zero bytes that padding stands for; drop them.
  std::size_t len = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') {
    --len;
    if (text.size() >= 2 && text[text.size() - 2] == '=') {
      --len;
    }
  }
  out.resize(len);
  // Only the canonical encoding is accepted, so one proof has exactly one textual form.
  if (to_base64(out) != text) {
    return std::nullopt;
  }
  return out;
}

std::optional<hash> hash_from_base64(std::string_view text) {
  auto bytes = from_base64(text);
  if (!bytes || bytes->size() != 32) {
    return std::nullopt;
  }
  hash h{};
  std::memcpy(h.data(), bytes->data(), 32);
  return h;
}

// ---- signing_key ----

signing_key::signing_key(EVP_PKEY* key) : key_(key), public_pem_(public_pem_of(key)) {}

signing_key::~signing_key() { EVP_PKEY_free(key_); }

result<std::unique_ptr<signing_key>> signing_key::load_or_create(
    const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f != nullptr) {
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (key == nullptr) {
      return fail("signing key " + path.string() + " is not a PEM private key: " + openssl_error());
    }
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(key);
      return fail("signing key " + path.string() + " is not an Ed25519 key");
    }
    return std::unique_ptr<signing_key>(new signing_key(key));
  }
  if (errno != ENOENT) {
    return fail("cannot read signing key " + path.string() + ": " + std::strerror(errno));
  }
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) {
    return fail("cannot generate an Ed25519 key: " + openssl_error());
  }
  // O_EXCL + 0600: the private key is never readable by others, not even for a moment.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    EVP_PKEY_free(key);
    return fail("cannot create signing key " + path.string() + ": " + std::strerror(errno));
  }
  std::FILE* out = ::fdopen(fd, "w");
  bool ok =
      out != nullptr && PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = (out != nullptr ? std::fflush(out) == 0 && ::fsync(fd) == 0 : false) && ok;
  if (out != nullptr) {
    std::fclose(out);
  } else {
    ::close(fd);
  }
  if (!ok) {
    EVP_PKEY_free(key);
    ::unlink(path.c_str());
    return fail("cannot write signing key " + path.string());
  }
  return std::unique_ptr<signing_key>(new signing_key(key));
}

std::optional<std::string> signing_key::sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  // Ed25519 takes no digest (NULL md) and signs the whole message in one call.
  bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    return std::nullopt;
  }
  sig.resize(len);
  return sig;
}

// ---- public_key ----

public_key::public_key(EVP_PKEY* key) : key_(key), pem_(public_pem_of(key)) {}

public_key::~public_key() { EVP_PKEY_free(key_); }

result<std::unique_ptr<public_key>> public_key::from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio != nullptr ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (key == nullptr) {
    return fail("not a PEM public key: " + openssl_error());
  }
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return fail("not an Ed25519 public key");
  }
  return std::unique_ptr<public_key>(new public_key(key));
}

bool public_key::verify(std::string_view message, std::string_view signature) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

}  // namespace dsa::audit
