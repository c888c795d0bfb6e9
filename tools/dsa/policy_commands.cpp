// `dsa lint`, `dsa explain`, `dsa test`, `dsa render`, `dsa diff` and `dsa register`: the IG
// officer's tools (docs/design.md §8). Thin commands over the policy library: they load agreements
// exactly as the gateway does and decide requests with the same engine and the same canonical-path
// check. One file per command (policy_cli.hpp lists them); this one registers them in the order
// `dsa --help` shows.

#include "tools/dsa/commands.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

void add_policy_commands(CLI::App& app, int& status) {
  add_lint_command(app, status);
  add_explain_command(app, status);
  add_test_command(app, status);
  add_render_command(app, status);
  add_diff_command(app, status);
  add_register_command(app, status);
  add_openapi_command(app, status);
}

}  // namespace dsa::cli
