// `dsa`: the command-line tool for IG officers (lint, explain, test, render) and auditors
// (audit …). A thin main over the policy and audit libraries.
#include <iostream>

#include "common/version.hpp"
#include "tools/dsa/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "dsa — check, explain, test and render Data Sharing Agreements, and audit the disclosure "
      "log.\nExit status: 0 success, 1 negative finding (deny, lint error, tampered log), 2 usage "
      "or input error."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  int status = 0;
  dsa::cli::add_policy_commands(app, status);
  dsa::cli::add_audit_commands(app, status);
  app.set_version_flag("--version", std::string("dsa ") + dsa::common::version());
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return status;
}
