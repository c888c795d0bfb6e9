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
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "policy/engine.hpp"
#include "policy/loader.hpp"
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

std::string party_id(int n) { return "org-" + std::to_string(n); }

// One agreement: a provider organisation shares three endpoints with two requesters, with the
// conditions real agreements carry (case references, acting users, time windows, caps, query
// parameters and a prohibition).
std::string agreement_yaml(int i, int provider, int r1, int r2) {
  std::ostringstream y;
  std::string id = "bench-" + std::to_string(i);
  y << "schema: dsa/v1\nid: " << id << "\nversion: 1.0.0\ntitle: Generated agreement " << i
    << "\nstatus: active\nvalidity: {from: 2026-04-01, until: 2028-04-01}\n"
    << "review: {due: 2027-09-30}\nparties:\n";
  for (int p : {provider, r1, r2}) {
    y << "  - id: " << party_id(p) << "\n    name: Organisation " << p
      << "\n    role: controller\n    identities: [{trust_anchor: partner-ca, uri_san: "
         "\"spiffe://org"
      << p << ".example/gw\"}]\n";
  }
  y << "legal:\n  gateways: [{id: cda-s115, cite: Crime and Disorder Act 1998 s.115}]\n"
    << "  lawful_bases: [{id: public-task, cite: UK GDPR Art 6(1)(e)}]\n"
    << "purposes:\n  - {id: asb-case-management, description: Case management}\n"
    << "  - {id: prevention, description: Prevention}\n"
    << "data_categories:\n  - {id: case, description: Case record, personal_data: true, "
       "special_category: false, criminal_offence_data: false, retention: 6 years}\n"
    << "endpoints:\n";
  std::string base = "/svc" + std::to_string(i);
  y << "  - id: case\n    provider: " << party_id(provider)
    << "\n    upstream: up\n    method: GET\n    path: " << base
    << "/cases/{case_id}\n    path_params: {case_id: \"ASB-[0-9]{4}-[0-9]{6}\"}\n"
    << "    query_params: {include: {pattern: \"actions|notes\", required: false}}\n"
    << "    data_categories: [case]\n    response: {allow_fields: [/case_id, /status]}\n"
    << "  - id: list\n    provider: " << party_id(provider)
    << "\n    upstream: up\n    method: GET\n    path: " << base
    << "/cases\n    query_params: {ward: {pattern: \"[A-Z][0-9]{8}\", required: true}}\n"
    << "    data_categories: [case]\n    response: {allow_fields: [/cases/*/case_id]}\n"
    << "  - id: note\n    provider: " << party_id(provider)
    << "\n    upstream: up\n    method: POST\n    path: " << base
    << "/cases/{case_id}/notes\n    data_categories: [case]\n"
    << "permissions:\n"
    << "  - id: read-case\n    assignee: " << party_id(r1)
    << "\n    endpoints: [case]\n    purposes: [asb-case-management]\n"
    << "    lawful_basis: [public-task]\n    legal_gateway: [cda-s115]\n"
    << "    require: {case_ref: \"ASB-[0-9]{4}-[0-9]{6}\", case_ref_param: case_id, acting_user: "
       "\"[A-Z]{2}[0-9]{4}\"}\n"
    << "    volume_caps: [{scope: case_ref, window: P1D, max: 100000000}]\n"
    << "  - id: read-list\n    assignee: " << party_id(r2)
    << "\n    endpoints: [list]\n    purposes: [prevention]\n"
    << "    lawful_basis: [public-task]\n    legal_gateway: [cda-s115]\n"
    << "    time_windows: {timezone: Europe/London, allow: [{days: [mon, tue, wed, thu, fri], "
       "from: \"00:00\", to: \"24:00\"}]}\n"
    << "  - id: write-note\n    assignee: " << party_id(r1)
    << "\n    endpoints: [note]\n    purposes: [asb-case-management]\n"
    << "    lawful_basis: [public-task]\n    legal_gateway: [cda-s115]\n"
    << "prohibitions:\n  - {id: no-prevention-notes, assignee: any, endpoints: [note], purposes: "
       "[prevention], reason: Notes are for case management only}\n";
  return y.str();
}

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
  const int organisations = std::max(3, args.agreements / 5);
  struct shape {
    int provider, r1, r2;
  };
  std::vector<shape> shapes;
  for (int i = 0; i < args.agreements; ++i) {
    int provider = static_cast<int>(rng() % organisations);
    int r1 = static_cast<int>(rng() % organisations);
    int r2 = static_cast<int>(rng() % organisations);
    while (r1 == provider) {
      r1 = (r1 + 1) % organisations;
    }
    while (r2 == provider || r2 == r1) {
      r2 = (r2 + 1) % organisations;
    }
    shapes.push_back({provider, r1, r2});
    std::ofstream(dir / ("bench-" + std::to_string(i) + ".yaml"))
        << agreement_yaml(i, provider, r1, r2);
  }

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
    const shape& s = shapes[i];
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
