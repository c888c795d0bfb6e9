// The subject key (audit/subject_key.hpp): created 0600 with 64 lowercase hex characters, refused
// when group- or world-accessible or malformed, and hashing exactly as HMAC-SHA-256 over the
// identifier's bytes, so an auditor can compute the same value with any HMAC implementation.
#include "audit/subject_key.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/hex.hpp"
#include "tests/common/temp_dir.hpp"

using dsa::audit::subject_key;
using dsa::test::temp_dir;
namespace fs = std::filesystem;

namespace {

// HMAC-SHA-256 computed here with OpenSSL's one-shot HMAC() from the key file's hex text.
std::string reference_hmac(const std::string& key_hex, const std::string& data) {
  std::string key;
  for (std::size_t i = 0; i + 1 < key_hex.size(); i += 2) {
    key.push_back(static_cast<char>(std::stoi(key_hex.substr(i, 2), nullptr, 16)));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return dsa::common::to_hex(std::string_view(reinterpret_cast<const char*>(out), len));
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

fs::path key_file(const temp_dir& dir, const std::string& text, unsigned mode) {
  fs::path p = dir.write("subject.key", text);
  REQUIRE(::chmod(p.c_str(), mode) == 0);
  return p;
}

const std::string good_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

}  // namespace

TEST_CASE("subject key: created 0600 as 64 lowercase hex and a newline, then reused",
          "[subject_key]") {
  temp_dir dir;
  const fs::path p = dir.path() / "subject.key";
  auto created = subject_key::load_or_create(p);
  REQUIRE(created);
  CHECK(mode_of(p) == 0600);
  const std::string text = read_all(p);
  REQUIRE(text.size() == 65);
  CHECK(text.back() == '\n');
  CHECK(text.find_first_not_of("0123456789abcdef") == 64);
  const std::string hex = text.substr(0, 64);
  CHECK((*created)->hash("P-1001") == reference_hmac(hex, "P-1001"));

  // A second start reads the same key rather than making another.
  auto again = subject_key::load_or_create(p);
  REQUIRE(again);
  CHECK(read_all(p) == text);
  CHECK((*again)->hash("P-1001") == (*created)->hash("P-1001"));
}

TEST_CASE("subject key: hashes are HMAC-SHA-256 of the identifier bytes; hash_all sorts",
          "[subject_key]") {
  temp_dir dir;
  auto key = subject_key::load(key_file(dir, good_hex + "\n", 0600));
  REQUIRE(key);
  // RFC 4231-style check against OpenSSL's one-shot HMAC, for a string, a number's text and
  // UTF-8.
  for (const std::string id : {"P-1001-ALPHA", "4471234", "Zo\xc3\xab"}) {
    CHECK((*key)->hash(id) == reference_hmac(good_hex, id));
  }
  auto all = (*key)->hash_all({"b", "a", "b"});
  REQUIRE(all);
  std::vector<std::string> expected{reference_hmac(good_hex, "a"), reference_hmac(good_hex, "b")};
  std::sort(expected.begin(), expected.end());
  CHECK(*all == expected);
  // Without the trailing newline the file is the same key.
  temp_dir other;
  auto bare = subject_key::load(key_file(other, good_hex, 0400));
  REQUIRE(bare);
  CHECK((*bare)->hash("x") == (*key)->hash("x"));
}

TEST_CASE("subject key: refused when group or world can access it, naming the mode",
          "[subject_key]") {
  temp_dir dir;
  for (unsigned mode : {0644u, 0640u, 0604u, 0620u}) {
    auto key = subject_key::load(key_file(dir, good_hex + "\n", mode));
    REQUIRE_FALSE(key);
    CAPTURE(mode);
    CHECK_THAT(key.error(), Catch::Contains("subject.key has mode 0"));
    CHECK_THAT(key.error(), Catch::Contains("chmod 600"));
    CHECK(key.error().find(good_hex) == std::string::npos);
  }
}

TEST_CASE("subject key: refused when malformed, never echoing the content", "[subject_key]") {
  temp_dir dir;
  struct bad {
    std::string text, expect;
  };
  for (const bad& b : {bad{good_hex.substr(0, 62) + "\n", "holds 62 characters"},
                       bad{good_hex + "00\n", "more than 64"},
                       bad{good_hex + "\n\n", "more than 64"}, bad{"", "holds 0 characters"},
                       bad{"0011223344556677889900AABBCCDDEEFF00112233445566778899aabbccddee",
                           "not lowercase hex (character 23 "},
                       bad{"zz" + good_hex.substr(2), "not lowercase hex (character 1 "}}) {
    auto key = subject_key::load(key_file(dir, b.text, 0600));
    REQUIRE_FALSE(key);
    CAPTURE(b.text);
    CHECK_THAT(key.error(), Catch::Contains(b.expect));
    CHECK_THAT(key.error(), Catch::Contains("subject key "));
    if (!b.text.empty()) {
      CHECK(key.error().find(b.text.substr(0, 16)) == std::string::npos);
    }
  }
  // A missing file is not created by load().
  auto missing = subject_key::load(dir.path() / "absent.key");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::Contains("cannot read subject key"));
  CHECK_FALSE(fs::exists(dir.path() / "absent.key"));
  // A directory is not a key.
  fs::create_directory(dir.path() / "dir.key");
  ::chmod((dir.path() / "dir.key").c_str(), 0700);
  auto directory = subject_key::load(dir.path() / "dir.key");
  REQUIRE_FALSE(directory);
  CHECK_THAT(directory.error(), Catch::Contains("not a regular file"));
}
