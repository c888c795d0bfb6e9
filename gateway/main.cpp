// `dsa-gateway --config FILE [--check]`: a thin main over dsa_gateway (docs/design.md §7).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "common/version.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"
#include "gateway/server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dsa-gateway — the enforcing mTLS reverse proxy for data sharing agreements"};
  std::string config_file;
  bool check = false;
  app.add_option("--config", config_file, "gateway config (YAML)")->required();
  app.add_flag("--check", check, "validate the config and the agreements, then exit");
  app.footer(
      "On start it prints 'listening https=HOST:PORT admin=HOST:PORT' on stdout and logs JSON "
      "lines on stderr.\nSIGHUP reloads the config, agreements and CRLs all-or-nothing; SIGTERM or "
      "SIGINT "
      "drains in-flight requests, writes the final audit checkpoint and exits 0.\nExit status: "
      "0 clean stop or --check passed, 1 invalid config/agreements or start failure, 2 usage.\n"
      "Docs: docs/operations.md, docs/gateway.md.");
  app.set_version_flag("--version", std::string("dsa-gateway ") + dsa::common::version());
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  dsa::result<dsa::gateway::config> c = dsa::gateway::load_config(config_file);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.error().c_str());
    return 1;
  }
  if (check) {
    return dsa::gateway::check_config(*c);
  }
  try {
    auto s = dsa::gateway::server::create(*c);
    if (!s) {
      dsa::gateway::log_event("error", "start_failed", {{"error", s.error()}});
      std::fprintf(stderr, "dsa-gateway: %s\n", s.error().c_str());
      return 1;
    }
    return (*s)->run();
  } catch (const std::exception& e) {
    dsa::gateway::log_event("error", "fatal", {{"error", e.what()}});
    return 1;
  }
}
