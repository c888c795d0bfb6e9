// libFuzzer target: the agreement loader (policy/loader.hpp), which promises never to throw or
// crash on any input and to name file:line:column for every problem. The loader reads files, so
// each input is written to files in a private temporary directory (there is no in-memory entry
// point). An input may hold up to three files separated by a line "#---8<---" so that the
// cross-file rules (duplicate agreement ids, one party id per organisation) are reached too.
//
// Beyond "no crash": a load either yields a set with no error diagnostics or no set and at least
// one error; every diagnostic has a message and a code, names one of the files, and its line is
// within that file.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "policy/loader.hpp"

namespace {

namespace fs = std::filesystem;
using namespace dsa::policy;

fs::path g_dir;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_loader: %s: %s\n", what, detail.c_str());
  std::abort();
}

void remove_dir() {
  std::error_code ec;
  fs::remove_all(g_dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string templ = (fs::temp_directory_path() / "dsa-fuzz-loader-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) {
    std::perror("fuzz_loader: mkdtemp");
    std::abort();
  }
  g_dir = templ;
  std::atexit(remove_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view separator = "\n#---8<---\n";

  std::vector<fs::path> paths;
  std::vector<std::size_t> line_counts;
  std::size_t start = 0;
  while (paths.size() < 3) {
    std::size_t end = input.find(separator, start);
    const bool last = end == std::string_view::npos || paths.size() == 2;
    if (last) {
      end = input.size();
    }
    const std::string_view text = input.substr(start, end - start);
    const fs::path file = g_dir / ("agreement-" + std::to_string(paths.size()) + ".yaml");
    std::ofstream(file, std::ios::binary | std::ios::trunc)
        .write(text.data(), static_cast<std::streamsize>(text.size()));
    paths.push_back(file);
    line_counts.push_back(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
    if (last) {
      break;
    }
    start = end + separator.size();
  }

  load_options options;
  options.now = time_point{std::chrono::seconds{1795000000}};  // 2026-11-18
  options.lint_warnings = true;
  if (!input.empty() && (data[0] & 1) != 0) {
    options.trust_anchors = std::set<std::string>{"partner-ca"};
  }
  const load_result r = load_agreements(paths, options);

  if (r.ok() != (r.error_count() == 0)) {
    fail("a set was returned together with errors, or no set without any error",
         std::to_string(r.error_count()) + " errors");
  }
  for (const diagnostic& d : r.diagnostics) {
    if (d.message.empty() || d.code.empty()) {
      fail("a diagnostic without message or code", d.format());
    }
    auto it = std::find(paths.begin(), paths.end(), fs::path(d.file));
    if (it == paths.end()) {
      fail("a diagnostic names no input file", d.format());
    }
    const std::size_t lines = line_counts[static_cast<std::size_t>(it - paths.begin())];
    if (d.line < 0 || d.column < 0 || static_cast<std::size_t>(d.line) > lines + 1) {
      fail("a diagnostic points outside its file", d.format());
    }
  }
  return 0;
}
