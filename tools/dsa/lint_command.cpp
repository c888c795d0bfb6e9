// `dsa lint` (docs/design.md §8): every error and warning the loader finds, as file:line:col.

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

struct lint_args {
  bool strict = false;
  std::string config;
  std::vector<std::string> paths;
};

int run_lint(const lint_args& args) {
  policy::load_options opts;
  opts.now = now_utc();
  opts.lint_warnings = true;
  if (!args.config.empty()) {
    try {
      YAML::Node cfg = YAML::LoadFile(args.config);
      std::set<std::string> anchors;
      YAML::Node tls = cfg["tls"];
      YAML::Node list = tls.IsDefined() && tls.IsMap() ? tls["trust_anchors"] : YAML::Node();
      for (std::size_t i = 0; list.IsDefined() && list.IsSequence() && i < list.size(); ++i) {
        anchors.insert(list[i].IsMap() ? list[i]["name"].as<std::string>("") : "");
      }
      opts.trust_anchors = std::move(anchors);
    } catch (const std::exception& e) {
      std::cerr << args.config << ": error: cannot read the gateway config: " << e.what() << '\n';
      return 2;
    }
  }
  std::vector<fs::path> paths(args.paths.begin(), args.paths.end());
  policy::load_result r = policy::load_agreements(paths, opts);
  std::size_t errors = 0, warnings = 0;
  for (const policy::diagnostic& d : r.diagnostics) {
    std::cout << d.format() << '\n';
    (d.level == policy::severity::error ? errors : warnings) += 1;
  }
  std::cout << r.files.size() << (r.files.size() == 1 ? " file, " : " files, ") << errors
            << (errors == 1 ? " error, " : " errors, ") << warnings
            << (warnings == 1 ? " warning" : " warnings") << '\n';
  if (r.files.empty() && errors == 0) {
    std::cerr << "dsa lint: no agreement files found\n";
    return 2;
  }
  if (errors > 0 || (args.strict && warnings > 0)) {
    return 1;
  }
  return 0;
}

}  // namespace

void add_lint_command(CLI::App& app, int& status) {
  auto args = std::make_shared<lint_args>();
  CLI::App* cmd = app.add_subcommand(
      "lint",
      "Check agreement files: every error and warning as file:line:col: error|warning: "
      "message [code]. Exit 0 clean (warnings allowed unless --strict), 1 errors, 2 usage.");
  cmd->add_flag("--strict", args->strict, "Treat warnings as errors");
  cmd->add_option("--config", args->config,
                  "Gateway config (YAML): identities must name its trust anchors");
  cmd->add_option("paths", args->paths, "Agreement files or directories")->required();
  cmd->callback([args, &status] { status = run_lint(*args); });
}

}  // namespace dsa::cli
