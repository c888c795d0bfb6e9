// `dsa render` (docs/design.md §8): the human-readable agreement for sign-off.

#include <filesystem>
#include <iostream>

#include "render/render.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

int run_render(const std::string& file, const std::string& format) {
  policy::load_options opts;
  opts.now = now_utc();
  // An agreement is rendered on its own, so cross-file rules do not apply here; lint does them.
  policy::load_result loaded = policy::load_agreements({file}, opts);
  if (!loaded.ok()) {
    print_diagnostics(loaded);
    return 1;
  }
  const policy::agreement& a = *loaded.set->agreements.front();
  std::cout << (format == "html" ? policy::render_html(a) : policy::render_markdown(a));
  return 0;
}

}  // namespace

void add_render_command(CLI::App& app, int& status) {
  auto file = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("md");
  CLI::App* cmd = app.add_subcommand(
      "render",
      "Render one agreement for sign-off: Markdown (default) or one self-contained HTML page.");
  cmd->add_option("agreement", *file, "Agreement file (YAML)")->required();
  cmd->add_option("--format", *format, "md (default) or html")
      ->check(CLI::IsMember({"md", "html"}));
  cmd->callback([file, format, &status] { status = run_render(*file, *format); });
}

}  // namespace dsa::cli
