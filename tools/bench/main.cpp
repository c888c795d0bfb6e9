// `dsa-bench`: reproducible benchmarks of the policy engine, the audit store and the proxy.
#include "common/version.hpp"
#include "tools/bench/bench.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "dsa-bench — reproducible benchmarks that print their figures (policy, audit, http, memory)"};
  app.require_subcommand(1);
  int status = 0;
  dsa::bench::add_policy_bench(app, status);
  dsa::bench::add_audit_bench(app, status);
  dsa::bench::add_http_bench(app, status);
  dsa::bench::add_memory_bench(app, status);
  app.set_version_flag("--version", std::string("dsa-bench ") + dsa::common::version());
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
  return status;
}
