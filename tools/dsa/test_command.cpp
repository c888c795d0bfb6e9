// `dsa test` (docs/design.md §8): golden cases (*.test.yaml) decided with the gateway's engine.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

struct test_counts {
  std::size_t passed = 0, failed = 0;
};

// Reads a request mapping of a golden case into `out`; false with `error` set.
bool read_case_request(const YAML::Node& n, described_request& out, std::string& error) {
  if (!n.IsMap()) {
    error = "request: expected a mapping";
    return false;
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = it->first.as<std::string>("");
    if (k != "requester" && k != "identity" && k != "method" && k != "target" && k != "headers") {
      error = "request: unknown key '" + k + "'";
      return false;
    }
  }
  out.method = n["method"].as<std::string>("");
  out.target = n["target"].as<std::string>("");
  if (out.method.empty() || out.target.empty()) {
    error = "request: method and target are required";
    return false;
  }
  if (n["identity"].IsDefined()) {
    out.has_identity = true;
    YAML::Node id = n["identity"];
    if (!id.IsMap()) {
      error = "request.identity: expected a mapping";
      return false;
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
      error = "request: one of requester or identity is required";
      return false;
    }
  }
  YAML::Node headers = n["headers"];
  if (headers.IsDefined() && !headers.IsMap()) {
    error = "request.headers: expected a mapping of header name to value";
    return false;
  }
  for (auto it = headers.begin(); headers.IsDefined() && it != headers.end(); ++it) {
    out.headers.emplace_back(it->first.as<std::string>(""), it->second.as<std::string>(""));
  }
  return true;
}

void run_test_file(const fs::path& file, test_counts& counts) {
  auto failure = [&](int line, const std::string& name, const std::string& what) {
    std::cout << file.string() << ':' << line << ": FAIL "
              << (name.empty() ? "" : "'" + name + "': ") << what << '\n';
    counts.failed += 1;
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    failure(e.mark.line + 1, "", "not valid YAML: " + e.msg);
    return;
  }
  if (!root.IsDefined() || !root.IsMap()) {
    failure(1, "", "expected a mapping with time and cases");
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
        failure(root["time"].Mark().line + 1, "", "time: not an RFC 3339 instant");
        return;
      }
    }
    policy::load_options opts;
    opts.now = default_time.value_or(now_utc());
    policy::load_result loaded = policy::load_agreements({dir}, opts);
    if (!loaded.ok()) {
      print_diagnostics(loaded);
      failure(1, "", "the agreements in " + dir.string() + " do not load");
      return;
    }
    policy::engine engine(loaded.set);
    policy::memory_volume_counter counter;  // shared by the file's cases, in order
    YAML::Node cases = root["cases"];
    if (!cases.IsSequence() || cases.size() == 0) {
      failure(1, "", "cases: expected a non-empty list");
      return;
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
      YAML::Node c = cases[i];
      int line = c.Mark().line + 1;
      if (!c.IsMap()) {
        failure(line, "", "case " + std::to_string(i) + " is not a mapping");
        continue;
      }
      std::string name = c["name"].as<std::string>("");
      if (name.empty()) {
        failure(line, "", "case " + std::to_string(i) + " has no name");
        continue;
      }
      std::optional<time_point> when = default_time;
      if (c["time"].IsDefined()) {
        when = policy::parse_instant(c["time"].as<std::string>(""));
      }
      if (!when) {
        failure(line, name, "no valid time (set `time:` on the file or the case)");
        continue;
      }
      described_request req;
      std::string error;
      if (!c["request"].IsDefined() || !read_case_request(c["request"], req, error)) {
        if (error.empty()) {
          error = "request: a mapping with requester or identity, method and target is required";
        }
        failure(line, name, error);
        continue;
      }
      YAML::Node expect = c["expect"];
      if (!expect.IsDefined() || !expect.IsMap()) {
        failure(line, name, "expect: a mapping with decision (and reason for a deny) is required");
        continue;
      }
      std::string want_decision = expect["decision"].as<std::string>("");
      std::string want_reason = expect["reason"].as<std::string>("");
      if (want_decision != "allow" && want_decision != "deny") {
        failure(line, name, "expect.decision must be allow or deny");
        continue;
      }
      if (want_decision == "deny" && want_reason.empty()) {
        failure(line, name, "expect.reason is required for a deny");
        continue;
      }
      int repeat = c["repeat"].as<int>(1);
      if (repeat < 1 || repeat > 100000) {
        failure(line, name, "repeat must be between 1 and 100000");
        continue;
      }
      bool ok = true;
      for (int n = 0; n < repeat && ok; ++n) {
        evaluation e = evaluate(engine, req, *when, counter, false);
        const policy::decision& d = e.decision;
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
        counts.passed += 1;
      }
    }
  } catch (const std::exception& e) {
    failure(1, "", std::string("cannot read golden cases: ") + e.what());
  }
}

int run_test(const std::vector<std::string>& paths) {
  std::vector<fs::path> files;
  for (const std::string& p : paths) {
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
  test_counts counts;
  for (const fs::path& f : files) {
    run_test_file(f, counts);
  }
  std::cout << counts.passed << " passed, " << counts.failed << " failed\n";
  return counts.failed == 0 ? 0 : 1;
}

}  // namespace

void add_test_command(CLI::App& app, int& status) {
  auto paths = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "test",
      "Run golden cases (*.test.yaml): one line per failure and a summary 'N passed, N "
      "failed'. Exit 0 all passed, 1 any failure, 2 usage.");
  cmd->add_option("paths", *paths, "Golden-case files or directories (searched recursively)")
      ->required();
  cmd->callback([paths, &status] { status = run_test(*paths); });
}

}  // namespace dsa::cli
