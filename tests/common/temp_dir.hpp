#pragma once

// The one temporary-directory helper of every test folder and of `dsa-bench`: a fresh directory
// (mkdtemp, so two processes never share one) removed with everything in it at scope exit unless
// keep() was called.

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace dsa::test {

class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "dsa-test") {
    std::string pattern =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create a temporary directory " + pattern);
    }
    path_ = pattern;
  }
  ~temp_dir() {
    if (keep_) {
      return;
    }
    // A test may have taken the owner's permissions away (to make the store unwritable, say).
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Leaves the directory and its content in place at scope exit (`dsa-bench http --keep`).
  void keep() { keep_ = true; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // Writes `text` to `name` (a relative path, whose parent directories are created) and returns
  // its full path.
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace dsa::test
