// `dsa test` (docs/design.md §8): golden cases (*.test.yaml) decided with the gateway's engine.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "policy/reason.hpp"
#include "policy/suggest.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

// One run over every file: the options, the counts and what the cases covered.
struct test_run {
  bool verbose = false;
  std::size_t passed = 0, failed = 0, invalid = 0;
  // "agreement\x1fpermission|prohibition\x1fid" → whether an allow and a deny case touched it
  // (docs/agreements.md, "Golden cases": what counts as covering each).
  struct touched {
    bool allow = false, deny = false;
  };
  std::map<std::string, touched> coverage;
};

std::string coverage_key(const std::string& agreement, std::string_view kind,
                         const std::string& id) {
  return agreement + '\x1f' + std::string(kind) + '\x1f' + id;
}

// Reads a request mapping of a golden case; an error names the key at fault.
result<described_request> read_case_request(const YAML::Node& n) {
  described_request out;
  if (!n.IsMap()) {
    return fail("request: expected a mapping");
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = it->first.as<std::string>("");
    if (k != "requester" && k != "identity" && k != "method" && k != "target" && k != "headers") {
      return fail("request: unknown key '" + k + "'");
    }
  }
  out.method = n["method"].as<std::string>("");
  out.target = n["target"].as<std::string>("");
  if (out.method.empty() || out.target.empty()) {
    return fail("request: method and target are required");
  }
  if (n["identity"].IsDefined()) {
    out.has_identity = true;
    YAML::Node id = n["identity"];
    if (!id.IsMap()) {
      return fail("request.identity: expected a mapping");
    }
    out.identity.trust_anchor = id["trust_anchor"].as<std::string>("");
    out.identity.subject = id["subject"].as<std::string>("");
    out.identity.spki_sha256 = lower(id["spki_sha256"].as<std::string>(""));
    for (const char* key : {"uri_san", "dns_san"}) {
      YAML::Node list = id[key];
      auto& dst =
          std::string_view(key) == "uri_san" ? out.identity.uri_sans : out.identity.dns_sans;
      if (!list.IsDefined()) {
        continue;
      }
      if (list.IsScalar()) {
        dst.push_back(list.Scalar());
      }
      for (std::size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
        dst.push_back(list[i].as<std::string>(""));
      }
    }
  } else {
    out.requester = n["requester"].as<std::string>("");
    if (out.requester.empty()) {
      return fail("request: one of requester or identity is required");
    }
  }
  YAML::Node headers = n["headers"];
  if (headers.IsDefined() && !headers.IsMap()) {
    return fail("request.headers: expected a mapping of header name to value");
  }
  for (auto it = headers.begin(); headers.IsDefined() && it != headers.end(); ++it) {
    out.headers.emplace_back(it->first.as<std::string>(""), it->second.as<std::string>(""));
  }
  return out;
}

// The ids a case may name, across every agreement its file loads.
struct known_ids {
  std::vector<std::string> parties, purposes, agreements, permissions, endpoints, reasons;
};

known_ids collect_ids(const policy::agreement_set& set) {
  std::set<std::string> parties, purposes, agreements, permissions, endpoints;
  for (const auto& a : set.agreements) {
    agreements.insert(a->id);
    for (const policy::party& p : a->parties) {
      parties.insert(p.id);
    }
    for (const policy::purpose& u : a->purposes) {
      purposes.insert(u.id);
    }
    for (const policy::permission& p : a->permissions) {
      permissions.insert(p.id);
    }
    for (const policy::endpoint& e : a->endpoints) {
      endpoints.insert(e.id);
    }
  }
  known_ids k;
  k.parties.assign(parties.begin(), parties.end());
  k.purposes.assign(purposes.begin(), purposes.end());
  k.agreements.assign(agreements.begin(), agreements.end());
  k.permissions.assign(permissions.begin(), permissions.end());
  k.endpoints.assign(endpoints.begin(), endpoints.end());
  // The reason codes are declared in order, upstream_status last (policy/reason.hpp).
  for (int i = 0; i <= static_cast<int>(policy::reason::upstream_status); ++i) {
    k.reasons.emplace_back(policy::to_string(static_cast<policy::reason>(i)));
  }
  return k;
}

// Empty when `value` is one of `ids`; otherwise the error naming it, with a likely fix.
std::string unknown(std::string_view what, const std::string& value,
                    const std::vector<std::string>& ids) {
  if (std::find(ids.begin(), ids.end(), value) != ids.end()) {
    return {};
  }
  return "unknown " + std::string(what) + " '" + value + "'" +
         policy::did_you_mean_suffix(value, ids) + " (no loaded agreement declares it)";
}

// What a case names that no loaded agreement knows: a typo there would otherwise pass vacuously
// (a misspelt requester is refused, and "deny" is what the case expected). A case that expects
// the refusal an unknown name gets (unknown_requester, purpose_not_permitted) may use one.
std::string check_case_names(const known_ids& k, const described_request& req,
                             const std::string& want_reason, const YAML::Node& expect) {
  if (!want_reason.empty()) {
    if (std::string e = unknown("reason code", want_reason, k.reasons); !e.empty()) {
      return "expect.reason: " + e;
    }
  }
  if (!req.has_identity && want_reason != "unknown_requester") {
    if (std::string e = unknown("party", req.requester, k.parties); !e.empty()) {
      return "request.requester: " + e + "; expect reason unknown_requester to test one";
    }
  }
  for (const auto& [name, value] : req.headers) {
    // A blank purpose is no purpose (purpose_missing), not an unknown one.
    const bool blank = value.find_first_not_of(" \t") == std::string::npos;
    if (lower(name) == "dsa-purpose" && !blank && want_reason != "purpose_not_permitted" &&
        want_reason != "bad_request") {
      if (std::string e = unknown("purpose", value, k.purposes); !e.empty()) {
        return "request.headers." + name + ": " + e +
               "; expect reason purpose_not_permitted to test one";
      }
    }
  }
  const std::pair<const char*, const std::vector<std::string>*> refs[] = {
      {"agreement", &k.agreements}, {"permission", &k.permissions}, {"endpoint", &k.endpoints}};
  for (const auto& [key, ids] : refs) {
    if (expect[key].IsDefined()) {
      std::string value = expect[key].as<std::string>("");
      if (std::string e = unknown(key, value, *ids); !e.empty()) {
        return std::string("expect.") + key + ": " + e;
      }
    }
  }
  return {};
}

// Every permission and prohibition of the set, so that one no case touches shows as uncovered.
void register_coverage(const policy::agreement_set& set, test_run& run) {
  for (const auto& a : set.agreements) {
    for (const policy::permission& p : a->permissions) {
      run.coverage.try_emplace(coverage_key(a->id, "permission", p.id));
    }
    for (const policy::prohibition& x : a->prohibitions) {
      run.coverage.try_emplace(coverage_key(a->id, "prohibition", x.id));
    }
  }
}

bool contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// A permission is covered by an allow it decided and by a deny where it was the candidate that
// got furthest. A prohibition is covered by a deny it caused, and by an allow on one of its
// endpoints for a party it applies to (the case shows where its edge is).
void record_coverage(const policy::decision& d, const described_request& req, test_run& run) {
  if (d.agreement == nullptr || d.permission == nullptr || d.endpoint == nullptr) {
    return;
  }
  test_run::touched& t =
      run.coverage[coverage_key(d.agreement->id, "permission", d.permission->id)];
  (d.allowed ? t.allow : t.deny) = true;
  std::optional<std::string> purpose;
  for (const auto& [name, value] : req.headers) {
    if (lower(name) == "dsa-purpose") {
      purpose = value;
    }
  }
  for (const policy::prohibition& x : d.agreement->prohibitions) {
    bool applies =
        (x.assignee == "any" || x.assignee == d.requester) && contains(x.endpoints, d.endpoint->id);
    if (!applies) {
      continue;
    }
    bool matched = purpose && (x.purposes.empty() || contains(x.purposes, *purpose));
    test_run::touched& px = run.coverage[coverage_key(d.agreement->id, "prohibition", x.id)];
    if (d.allowed) {
      px.allow = true;
    } else if (d.why == policy::reason::prohibited && matched) {
      px.deny = true;
    }
  }
}

void run_test_file(const fs::path& file, test_run& run) {
  auto report = [&](const char* kind, int line, const std::string& name, const std::string& what) {
    std::cout << file.string() << ':' << line << ": " << kind << ' '
              << (name.empty() ? "" : "'" + name + "': ") << what << '\n';
  };
  auto failure = [&](int line, const std::string& name, const std::string& what) {
    report("FAIL", line, name, what);
    run.failed += 1;
  };
  // A case that cannot be run as written: invalid input, exit 2 (docs/design.md §8).
  auto invalid = [&](int line, const std::string& name, const std::string& what) {
    report("ERROR", line, name, what);
    run.invalid += 1;
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    invalid(e.mark.line + 1, "", "not valid YAML: " + e.msg);
    return;
  }
  if (!root.IsDefined() || !root.IsMap()) {
    invalid(1, "", "expected a mapping with time and cases");
    return;
  }
  try {
    fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    if (root["agreements"].IsDefined()) {
      dir = dir / root["agreements"].as<std::string>();
    }
    std::optional<time_point> default_time;
    if (root["time"].IsDefined()) {
      default_time = policy::parse_instant(root["time"].as<std::string>(""));
      if (!default_time) {
        invalid(root["time"].Mark().line + 1, "", "time: not an RFC 3339 instant");
        return;
      }
    }
    policy::load_options opts;
    opts.now = default_time.value_or(now_utc());
    policy::load_result loaded = policy::load_agreements({dir}, opts);
    if (!loaded.ok()) {
      print_diagnostics(loaded);
      invalid(1, "", "the agreements in " + dir.string() + " do not load");
      return;
    }
    const known_ids known = collect_ids(*loaded.set);
    register_coverage(*loaded.set, run);
    policy::engine engine(loaded.set);
    policy::memory_volume_counter counter;  // shared by the file's cases, in order
    YAML::Node cases = root["cases"];
    if (!cases.IsSequence() || cases.size() == 0) {
      invalid(1, "", "cases: expected a non-empty list");
      return;
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
      YAML::Node c = cases[i];
      int line = c.Mark().line + 1;
      if (!c.IsMap()) {
        invalid(line, "", "case " + std::to_string(i) + " is not a mapping");
        continue;
      }
      std::string name = c["name"].as<std::string>("");
      if (name.empty()) {
        invalid(line, "", "case " + std::to_string(i) + " has no name");
        continue;
      }
      std::optional<time_point> when = default_time;
      if (c["time"].IsDefined()) {
        when = policy::parse_instant(c["time"].as<std::string>(""));
      }
      if (!when) {
        invalid(line, name, "no valid time (set `time:` on the file or the case)");
        continue;
      }
      if (!c["request"].IsDefined()) {
        invalid(line, name,
                "request: a mapping with requester or identity, method and target is required");
        continue;
      }
      result<described_request> read = read_case_request(c["request"]);
      if (!read) {
        invalid(line, name, read.error());
        continue;
      }
      described_request req = std::move(read).value();
      YAML::Node expect = c["expect"];
      if (!expect.IsDefined() || !expect.IsMap()) {
        invalid(line, name, "expect: a mapping with decision (and reason for a deny) is required");
        continue;
      }
      std::string want_decision = expect["decision"].as<std::string>("");
      std::string want_reason = expect["reason"].as<std::string>("");
      if (want_decision != "allow" && want_decision != "deny") {
        invalid(line, name, "expect.decision must be allow or deny");
        continue;
      }
      if (want_decision == "deny" && want_reason.empty()) {
        invalid(line, name, "expect.reason is required for a deny");
        continue;
      }
      if (std::string e = check_case_names(known, req, want_reason, expect); !e.empty()) {
        invalid(line, name, e);
        continue;
      }
      if (YAML::Node em = expect["emergency"]; em.IsDefined()) {
        try {
          (void)em.as<bool>();
        } catch (const YAML::Exception&) {
          invalid(line, name, "expect.emergency must be true or false");
          continue;
        }
      }
      int repeat = c["repeat"].as<int>(1);
      if (repeat < 1 || repeat > 100000) {
        invalid(line, name, "repeat must be between 1 and 100000");
        continue;
      }
      bool ok = true;
      for (int n = 0; n < repeat && ok; ++n) {
        evaluation e = evaluate(engine, req, *when, counter, false);
        const policy::decision& d = e.decision;
        record_coverage(d, req, run);
        std::string got_decision = d.allowed ? "allow" : "deny";
        std::string got_reason = d.allowed ? "" : std::string(policy::to_string(d.why));
        std::string mismatch;
        if (got_decision != want_decision ||
            (want_decision == "deny" && got_reason != want_reason)) {
          mismatch = "expected " + want_decision +
                     (want_reason.empty() ? "" : " (" + want_reason + ")") + ", got " +
                     got_decision + (got_reason.empty() ? "" : " (" + got_reason + ")");
          if (!d.detail.empty()) {
            mismatch += ": " + d.detail;
          }
        }
        for (const char* key : {"agreement", "permission", "endpoint"}) {
          if (!mismatch.empty() || !expect[key].IsDefined()) {
            continue;
          }
          std::string want = expect[key].as<std::string>("");
          std::string got;
          if (std::string_view(key) == "agreement") {
            got = d.agreement ? d.agreement->id : "";
          } else if (std::string_view(key) == "permission") {
            got = d.permission ? d.permission->id : "";
          } else {
            got = d.endpoint ? d.endpoint->id : "";
          }
          if (got != want) {
            mismatch = std::string("expected ") + key + " '" + want + "', got '" + got + "'";
          }
        }
        // expect.emergency: whether an emergency permission allowed it (docs/agreements.md §5).
        if (mismatch.empty() && expect["emergency"].IsDefined() &&
            expect["emergency"].as<bool>(!d.emergency) != d.emergency) {
          mismatch = std::string("expected emergency ") + (d.emergency ? "false" : "true") +
                     ", got " + (d.emergency ? "true" : "false");
        }
        if (!mismatch.empty()) {
          failure(line, name,
                  (repeat > 1
                       ? "request " + std::to_string(n + 1) + " of " + std::to_string(repeat) + ": "
                       : "") +
                      mismatch);
          ok = false;
        }
      }
      if (ok) {
        run.passed += 1;
        if (run.verbose) {
          report("PASS", line, name,
                 want_decision + (want_reason.empty() ? "" : " (" + want_reason + ")"));
        }
      }
    }
  } catch (const std::exception& e) {
    invalid(1, "", std::string("cannot read golden cases: ") + e.what());
  }
}

// The coverage report (docs/agreements.md, "Golden cases"); returns the percentage covered.
double print_coverage(const test_run& run) {
  std::size_t covered = 0;
  std::cout << "coverage (an allow and a deny case for every permission and prohibition):\n";
  for (const auto& [key, t] : run.coverage) {
    std::size_t a = key.find('\x1f');
    std::size_t b = key.find('\x1f', a + 1);
    covered += (t.allow ? 1 : 0) + (t.deny ? 1 : 0);
    std::cout << "  " << key.substr(0, a) << "  " << key.substr(a + 1, b - a - 1) << ' '
              << key.substr(b + 1) << ": allow " << (t.allow ? "yes" : "NO") << ", deny "
              << (t.deny ? "yes" : "NO") << '\n';
  }
  const std::size_t total = run.coverage.size() * 2;
  const double percent = total == 0 ? 100.0 : 100.0 * static_cast<double>(covered) / total;
  std::cout << "coverage: " << covered << " of " << total << " (" << std::fixed
            << std::setprecision(1) << percent << "%)\n";
  return percent;
}

struct test_args {
  std::vector<std::string> paths;
  bool verbose = false, coverage = false;
  std::optional<double> min_coverage;
};

int run_test(const test_args& args) {
  std::vector<fs::path> files;
  for (const std::string& p : args.paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(p, ec)) {
        std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && name.size() > 10 &&
            name.compare(name.size() - 10, 10, ".test.yaml") == 0) {
          files.push_back(entry.path());
        }
      }
    } else if (fs::exists(p, ec)) {
      files.emplace_back(p);
    } else {
      std::cerr << "dsa test: " << p << ": no such file or directory\n";
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::cerr << "dsa test: no *.test.yaml files found\n";
    return 2;
  }
  test_run run;
  run.verbose = args.verbose;
  for (const fs::path& f : files) {
    run_test_file(f, run);
  }
  std::cout << run.passed << " passed, " << run.failed << " failed";
  if (run.invalid > 0) {
    std::cout << ", " << run.invalid << (run.invalid == 1 ? " invalid case" : " invalid cases");
  }
  std::cout << '\n';
  bool below = false;
  if (args.coverage || args.min_coverage) {
    double percent = print_coverage(run);
    if (args.min_coverage && percent + 1e-9 < *args.min_coverage) {
      std::cout << "coverage " << std::fixed << std::setprecision(1) << percent
                << "% is below --min-coverage " << *args.min_coverage << "%\n";
      below = true;
    }
  }
  if (run.invalid > 0) {
    return 2;
  }
  return run.failed == 0 && !below ? 0 : 1;
}

}  // namespace

void add_test_command(CLI::App& app, int& status) {
  auto args = std::make_shared<test_args>();
  CLI::App* cmd = app.add_subcommand(
      "test",
      "Run golden cases (*.test.yaml): one line per failure and a summary 'N passed, N "
      "failed'. Exit 0 all passed, 1 any failure (or coverage under --min-coverage), 2 usage or a "
      "case that cannot run as written (an unknown party, purpose, reason, agreement, permission "
      "or endpoint).");
  cmd->add_option("paths", args->paths, "Golden-case files or directories (searched recursively)")
      ->required();
  cmd->add_flag("-v,--verbose", args->verbose, "List passing cases too");
  cmd->add_flag("--coverage", args->coverage,
                "Report, for every permission and prohibition, whether an allow and a deny case "
                "touched it");
  cmd->add_option("--min-coverage", args->min_coverage,
                  "Fail (exit 1) when coverage is below this percentage (implies --coverage)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->callback([args, &status] { status = run_test(*args); });
}

}  // namespace dsa::cli
