// `dsa-bench policy`: decisions per second and per-decision latency of the policy engine with a
// large, realistic agreement set (docs/design.md §9: ≥ 1,000,000 decisions/s on one core with 1,000
// agreements loaded; p99 ≤ 5 µs).
//
// It writes N generated agreements to a temporary directory, loads them through the real loader,
// prepares a fixed mix of requests (allowed, and refused for several reasons) from a fixed seed,
// then decides them on one thread, timing every decision.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>

#include "policy/engine.hpp"
#include "policy/loader.hpp"
#include "tools/bench/agreement_gen.hpp"
#include "tools/bench/bench.hpp"

namespace dsa::bench {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

struct policy_args {
  int agreements = 1000;
  int decisions = 2000000;
  unsigned seed = 20261122;
  std::string keep;
};

struct prepared {
  policy::request_identity identity;
  policy::identity_match who;  // identified once, as the gateway does per connection
  std::string method, path, query;
  std::optional<std::string> purpose, case_ref, acting_user;
};

int run_policy_bench(const policy_args& args) {
  fs::path dir = args.keep.empty()
                     ? fs::temp_directory_path() / ("dsa-bench-policy-" + std::to_string(getpid()))
                     : fs::path(args.keep);
  fs::create_directories(dir);
  std::mt19937 rng(args.seed);
  const int organisations = generated_organisations(args.agreements);
  const std::vector<generated_shape> shapes = write_generated_agreements(dir, args.agreements, rng);

  auto load_start = steady_clock::now();
  policy::load_options opts;
  policy::load_result loaded = policy::load_agreements({dir}, opts);
  double load_ms = duration<double, std::milli>(steady_clock::now() - load_start).count();
  if (args.keep.empty()) {
    fs::remove_all(dir);
  }
  if (!loaded.ok()) {
    for (std::size_t i = 0; i < loaded.diagnostics.size() && i < 10; ++i) {
      std::cerr << loaded.diagnostics[i].format() << '\n';
    }
    std::cerr << "dsa-bench policy: the generated agreements do not load (" << loaded.error_count()
              << " errors)\n";
    return 2;
  }
  policy::engine engine(loaded.set);
  policy::memory_volume_counter counter;

  // A fixed mix: 60 % allowed, the rest refused at different depths.
  std::vector<prepared> requests;
  const int distinct = 4096;
  for (int n = 0; n < distinct; ++n) {
    int i = static_cast<int>(rng() % args.agreements);
    const generated_shape& s = shapes[static_cast<std::size_t>(i)];
    std::string base = "/svc" + std::to_string(i);
    char case_id[32];
    std::snprintf(case_id, sizeof case_id, "ASB-2026-%06u", static_cast<unsigned>(rng() % 1000000));
    prepared p;
    p.identity.trust_anchor = "partner-ca";
    p.method = "GET";
    p.purpose = "asb-case-management";
    int kind = static_cast<int>(rng() % 10);
    int requester = s.r1;
    switch (kind) {
      case 0:
      case 1:
      case 2:  // allowed case read
        p.path = base + "/cases/" + case_id;
        p.query = "include=actions";
        p.case_ref = case_id;
        p.acting_user = "PC1234";
        break;
      case 3:
      case 4:  // allowed list, time window checked
        requester = s.r2;
        p.path = base + "/cases";
        p.query = "ward=E05000123";
        p.purpose = "prevention";
        break;
      case 5:  // allowed case read without query
        p.path = base + "/cases/" + case_id;
        p.case_ref = case_id;
        p.acting_user = "AB9876";
        break;
      case 6:  // purpose missing
        p.path = base + "/cases/" + case_id;
        p.purpose.reset();
        break;
      case 7:  // case reference mismatch
        p.path = base + "/cases/" + case_id;
        p.case_ref = "ASB-2026-999999";
        p.acting_user = "PC1234";
        break;
      case 8:  // another organisation's endpoint: no agreement
        requester = s.provider;
        p.path = base + "/cases/" + case_id;
        break;
      default:  // unknown requester
        requester = organisations + 1;
        p.path = base + "/cases";
        break;
    }
    p.identity.uri_sans = {"spiffe://org" + std::to_string(requester) + ".example/gw"};
    requests.push_back(std::move(p));
  }

  const auto now = policy::parse_instant("2026-11-24T10:30:00Z").value();
  for (prepared& p : requests) {
    p.who = engine.identify(p.identity, now);
  }
  // The gateway maps a connection's certificate to a party once (at the first request, and again
  // only after a reload); each request is then decided for that party. Unknown certificates are
  // refused without a decision.
  auto decide = [&](const prepared& p, const policy::request_view& v) {
    if (p.who.why != policy::reason::allowed) {
      return false;
    }
    return engine.decide_for(p.who.party, v, counter).allowed;
  };
  auto view_of = [&now](const prepared& p) {
    return policy::request_view{.method = p.method,
                                .path = p.path,
                                .query = p.query,
                                .purpose = p.purpose,
                                .case_ref = p.case_ref,
                                .acting_user = p.acting_user,
                                .now = now};
  };
  std::vector<float> latencies_ns;
  latencies_ns.reserve(static_cast<std::size_t>(args.decisions));
  std::size_t allowed = 0;
  // Warm up caches and the counter's maps.
  for (const prepared& p : requests) {
    const policy::request_view v = view_of(p);
    allowed += decide(p, v) ? 1 : 0;
  }
  allowed = 0;
  auto start = steady_clock::now();
  for (int n = 0; n < args.decisions; ++n) {
    const prepared& p = requests[static_cast<std::size_t>(n) % requests.size()];
    auto t0 = steady_clock::now();
    const policy::request_view v = view_of(p);
    bool ok = decide(p, v);
    auto t1 = steady_clock::now();
    allowed += ok ? 1 : 0;
    latencies_ns.push_back(static_cast<float>(duration<double, std::nano>(t1 - t0).count()));
  }
  double seconds = duration<double>(steady_clock::now() - start).count();
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto pct = [&](double q) {
    return latencies_ns[static_cast<std::size_t>(q * (latencies_ns.size() - 1))] / 1000.0;
  };
  std::printf("dsa-bench policy\n");
  std::printf("  agreements loaded     %d (%zu candidates indexed) in %.0f ms\n", args.agreements,
              loaded.set->candidates.size(), load_ms);
  std::printf("  decisions             %d on one thread (%zu allowed, %zu refused)\n",
              args.decisions, allowed, static_cast<std::size_t>(args.decisions) - allowed);
  std::printf("  throughput            %.0f decisions/s\n", args.decisions / seconds);
  std::printf("  latency per decision  p50 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.2f us\n",
              pct(0.50), pct(0.99), pct(0.999), latencies_ns.back() / 1000.0);
  std::printf("  (timings include one steady_clock read pair per decision)\n");
  return 0;
}

}  // namespace

void add_policy_bench(CLI::App& app, int& status) {
  auto args = std::make_shared<policy_args>();
  CLI::App* cmd = app.add_subcommand(
      "policy", "Decisions/s and per-decision latency with N generated agreements on one core");
  cmd->add_option("--agreements", args->agreements, "Agreements to generate (default 1000)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--decisions", args->decisions, "Decisions to time (default 2000000)")
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--seed", args->seed, "Random seed (default 20261122)");
  cmd->add_option("--keep", args->keep, "Write the generated agreements to this directory");
  cmd->callback([args, &status] { status = run_policy_bench(*args); });
}

}  // namespace dsa::bench
