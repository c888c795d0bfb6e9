// Loader for `dsa/v1` agreement files (docs/design.md §3, docs/agreements.md §3): the
// orchestration. Files are found, read and parsed in parallel, each by the section readers
// (sections.hpp) over the YAML reader (yaml_reader.hpp); the cross-file rules (validate.hpp) then
// run in file order, and the engine indexes the set (engine.hpp).
//
// The loader is the boundary between what an IG officer typed and what the engine trusts, so it
// is strict: every key is known, every type is checked, every reference resolves, every regex,
// date, duration and time zone compiles. It keeps going after an error so that one run reports
// every problem in every file, each as file:line:column with the dotted path of the field, what
// was found and what was expected.
//
// Nothing escapes as an exception: yaml-cpp and boost::regex throw, and both are caught here.

#include "policy/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>

#include "common/hex.hpp"
#include "common/result.hpp"
#include "policy/engine.hpp"
#include "policy/sections.hpp"
#include "policy/text.hpp"
#include "policy/validate.hpp"
#include "policy/yaml_reader.hpp"

namespace dsa::policy {

namespace fs = std::filesystem;

std::size_t load_result::error_count() const {
  return static_cast<std::size_t>(
      std::count_if(diagnostics.begin(), diagnostics.end(),
                    [](const diagnostic& d) { return d.level == severity::error; }));
}

namespace {

result<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    return fail(std::error_code(errno, std::generic_category()).message());
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_agreement_file(const fs::path& p) {
  std::string name = p.filename().string();
  auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return (ends_with(".yaml") || ends_with(".yml")) && !ends_with(".test.yaml") &&
         !ends_with(".test.yml");
}

}  // namespace

load_result load_agreements(const std::vector<fs::path>& paths, const load_options& options) {
  load_result result;
  auto& diags = result.diagnostics;

  for (const fs::path& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.is_regular_file(ec) && is_agreement_file(entry.path())) {
          found.push_back(entry.path().string());
        }
      }
      if (ec) {
        diags.push_back(
            {p.string(), 0, 0, severity::error, "cannot read directory: " + ec.message(), "io"});
      }
      std::sort(found.begin(), found.end());
      result.files.insert(result.files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      result.files.push_back(p.string());
    } else {
      diags.push_back({p.string(), 0, 0, severity::error, "no such file or directory", "io"});
    }
  }

  auto set = std::make_shared<agreement_set>();
  yaml::regex_cache regex_cache;
  cross_file_checker cross_file(options.lint_warnings);

  // Parsing and compiling each file is independent of the others and is most of the start-up
  // time with many agreements, so files are read on every core; the cross-file rules then run
  // in file order on this thread, which keeps the diagnostics deterministic.
  struct parsed_file {
    std::vector<diagnostic> diags;
    std::unique_ptr<agreement> a;
    std::string sha256;
    std::string text;  // the bytes hashed, kept for load_result::texts
  };
  std::vector<parsed_file> parsed(result.files.size());
  auto parse_one = [&](std::size_t i, yaml::regex_cache& cache) {
    const std::string& file = result.files[i];
    parsed_file& out = parsed[i];
    auto read = read_file(file);
    if (!read) {
      out.diags.push_back({file, 0, 0, severity::error, "cannot read file: " + read.error(), "io"});
      return;
    }
    std::string text = std::move(read).value();
    YAML::Node root;  // freed when this file has been read (see the cross-file loop below)
    yaml::reader r(file, out.diags, cache);
    r.set_source(text);
    // Every text taken from an agreement (status reasons, prohibition reasons, patterns) can end
    // up in a refusal's JSON, so the file must be UTF-8 (docs/agreements.md, "Text in refusals").
    if (std::size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
      int line = 1, column = 1;
      for (std::size_t k = 0; k < bad; ++k) {
        if (text[k] == '\n') {
          ++line;
          column = 1;
        } else if ((static_cast<unsigned char>(text[k]) & 0xC0) != 0x80) {
          ++column;
        }
      }
      r.error_at(line, column,
                 "not valid UTF-8 (byte " + escape_text(text.substr(bad, 1)) +
                     "); agreement files are UTF-8 text",
                 "not-utf8");
      return;
    }
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      yaml::syntax_error why =
          yaml::explain_syntax_error(text, e.mark.line + 1, e.mark.column + 1, e.msg);
      r.error_at(why.line, why.column, std::move(why.message), std::move(why.code));
      return;
    } catch (const std::exception& e) {
      r.error_at(0, 0, std::string("not valid YAML: ") + e.what(), "yaml-syntax");
      return;
    }
    try {
      out.a = sections::read_agreement(r, root, options);
      if (out.a && options.lint_warnings) {
        lint_agreement(r, root, *out.a, options);
      }
      if (r.errors() != 0) {
        out.a.reset();
        return;
      }
    } catch (const std::exception& e) {
      // yaml-cpp can throw on pathological documents (e.g. aliases of the wrong kind).
      r.error_at(0, 0, std::string("cannot read agreement: ") + e.what(), "yaml-structure");
      out.a.reset();
      return;
    }
    out.sha256 = common::sha256_hex(text);
    out.text = std::move(text);
  };
  const std::size_t workers = std::min<std::size_t>(
      std::max(1u, std::thread::hardware_concurrency()), (parsed.size() + 7) / 8);
  if (workers <= 1) {
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      parse_one(i, regex_cache);
    }
  } else {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < workers; ++t) {
      threads.emplace_back([&] {
        yaml::regex_cache cache;  // per thread: no locking
        for (std::size_t i = next++; i < parsed.size(); i = next++) {
          parse_one(i, cache);
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
  }

  for (std::size_t index = 0; index < parsed.size(); ++index) {
    const std::string& file = result.files[index];
    parsed_file& pf = parsed[index];
    diags.insert(diags.end(), pf.diags.begin(), pf.diags.end());
    if (!pf.a) {
      continue;
    }
    yaml::reader r(file, diags, regex_cache);
    std::unique_ptr<agreement> a = std::move(pf.a);
    a->file = file;
    a->sha256 = pf.sha256;

    // The YAML trees are not kept from the parse: yaml-cpp spends about 100 KiB on one agreement's
    // tree, and a thousand held at once were most of the gateway's start-up memory
    // (docs/performance.md §7). The cross-file checks need a tree only to place a diagnostic, so
    // the file is parsed again then (it parsed before, so it parses the same).
    std::optional<YAML::Node> root;
    const auto root_of = [&]() -> const YAML::Node& {
      if (!root) {
        root = YAML::Load(pf.text);
      }
      return *root;
    };
    if (cross_file.check(r, root_of, *a)) {
      std::sort(a->permissions.begin(), a->permissions.end(),
                [](const permission& x, const permission& y) { return x.id < y.id; });
      for (permission& perm : a->permissions) {
        perm.counter_key = a->id + '\x1f' + perm.id;
      }
      result.texts.emplace(pf.sha256, std::move(pf.text));
      set->agreements.push_back(std::move(a));
    }
  }

  std::stable_sort(diags.begin(), diags.end(), [](const diagnostic& x, const diagnostic& y) {
    return std::tie(x.file, x.line, x.column) < std::tie(y.file, y.line, y.column);
  });
  if (result.error_count() > 0) {
    result.texts.clear();
    return result;
  }

  // Agreements in id order; permissions already in id order within each.
  std::sort(set->agreements.begin(), set->agreements.end(),
            [](const auto& x, const auto& y) { return x->id < y->id; });
  build_engine_indexes(*set);
  result.set = std::move(set);
  return result;
}

}  // namespace dsa::policy
