// `dsa render` (docs/design.md §8): the human-readable agreement for sign-off.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "render/render.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

struct render_args {
  std::vector<std::string> paths;
  std::string format = "md";
  std::string output;  // a directory: one file per agreement; empty: standard output
};

bool is_agreement_file(const fs::path& p) {
  std::string name = p.filename().string();
  auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return (ends_with(".yaml") || ends_with(".yml")) && !ends_with(".test.yaml") &&
         !ends_with(".test.yml");
}

int run_render(const render_args& args) {
  // The agreement files, in the order given and, within a directory, by name — the same files
  // the gateway would load from it.
  std::vector<fs::path> files;
  for (const std::string& p : args.paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (entry.is_regular_file(ec) && is_agreement_file(entry.path())) {
          found.push_back(entry.path());
        }
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.emplace_back(p);
    } else {
      std::cerr << "dsa render: " << p << ": no such file or directory\n";
      return 2;
    }
  }
  if (files.empty()) {
    std::cerr << "dsa render: no agreement files found\n";
    return 2;
  }
  const bool html = args.format == "html";
  if (html && files.size() > 1 && args.output.empty()) {
    std::cerr << "dsa render: " << files.size() << " agreements make " << files.size()
              << " HTML pages; give --output DIR to write one file each\n";
    return 2;
  }
  // Each agreement is rendered on its own, so cross-file rules do not apply here (lint does
  // them); and nothing is rendered unless every file loads, so a sign-off pack is never partial.
  policy::load_options opts;
  opts.now = now_utc();
  std::vector<policy::load_result> loaded;
  bool ok = true;
  for (const fs::path& f : files) {
    loaded.push_back(policy::load_agreements({f}, opts));
    if (!loaded.back().ok()) {
      print_diagnostics(loaded.back());
      ok = false;
    }
  }
  if (!ok) {
    std::cerr << "dsa render: nothing rendered; fix the errors above (dsa lint shows them all)\n";
    return 1;
  }
  if (!args.output.empty()) {
    std::error_code ec;
    fs::create_directories(args.output, ec);
    for (const policy::load_result& r : loaded) {
      const policy::agreement& a = *r.set->agreements.front();
      fs::path out = fs::path(args.output) / (a.id + (html ? ".html" : ".md"));
      std::ofstream f(out, std::ios::binary | std::ios::trunc);
      f << (html ? policy::render_html(a) : policy::render_markdown(a));
      if (!f.flush()) {
        std::cerr << "dsa render: cannot write " << out.string() << '\n';
        return 2;
      }
      std::cout << out.string() << '\n';
    }
    return 0;
  }
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const policy::agreement& a = *loaded[i].set->agreements.front();
    // Markdown documents one after another, each starting at its own top-level heading and
    // separated by a thematic break.
    std::cout << (i == 0 ? "" : "\n---\n\n")
              << (html ? policy::render_html(a) : policy::render_markdown(a));
  }
  return 0;
}

}  // namespace

void add_render_command(CLI::App& app, int& status) {
  auto args = std::make_shared<render_args>();
  CLI::App* cmd = app.add_subcommand(
      "render",
      "Render agreements for sign-off: Markdown (default) or one self-contained HTML page each. "
      "Every agreement file given, and every one in a directory, is rendered; nothing is when "
      "any of them has an error (exit 1).");
  cmd->add_option("agreements", args->paths, "Agreement files or directories")->required();
  cmd->add_option("--format", args->format, "md (default) or html")
      ->check(CLI::IsMember({"md", "html"}));
  cmd->add_option("-o,--output", args->output,
                  "Write one file per agreement (<id>.md or <id>.html) into this directory and "
                  "list them");
  cmd->callback([args, &status] { status = run_render(*args); });
}

}  // namespace dsa::cli
