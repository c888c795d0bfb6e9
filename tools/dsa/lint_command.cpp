// `dsa lint` (docs/design.md §8): every error and warning the loader finds, as file:line:col text,
// one JSON document, or a SARIF 2.1.0 log for code-scanning tools (docs/agreements.md, "Output
// formats for CI").

#include <yaml-cpp/yaml.h>

#include <boost/regex.hpp>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "common/version.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using policy::time_point;

namespace {

struct lint_args {
  bool strict = false;
  std::string config;
  std::string format = "text";
  std::vector<std::string> paths;
};

// One line per code the loader reports, for SARIF's rules[].shortDescription (docs/agreements.md
// §2.1 and §2.2 say more about each).
const std::map<std::string, std::string, std::less<>>& rule_descriptions() {
  static const std::map<std::string, std::string, std::less<>> table{
      {"agreement-ended", "The agreement's validity has ended"},
      {"bad-cap", "A volume cap is malformed"},
      {"bad-date", "A date is not a valid YYYY-MM-DD calendar date"},
      {"bad-duration",
       "A duration is not an ISO 8601 duration of weeks, days, hours, minutes, "
       "seconds"},
      {"bad-header", "A response header cannot be set by an agreement"},
      {"bad-id", "An id is not lowercase letters, digits, '.', '_' or '-' (at most 64)"},
      {"bad-identity", "A party identity is malformed"},
      {"bad-path", "An endpoint path is not literal and {placeholder} segments"},
      {"bad-pointer", "A JSON Pointer is not valid RFC 6901"},
      {"bad-regex", "A regular expression is not in the supported ECMAScript subset"},
      {"bad-schema", "The schema key is not dsa/v1"},
      {"bad-time", "A time of day or instant is malformed"},
      {"bad-timezone", "A time zone is not in the tz database"},
      {"bad-value", "A value is not one the format allows"},
      {"bad-version", "The version is not a semantic version"},
      {"conflicting-response-rules",
       "Two endpoints call the same resource with different response rules"},
      {"dangling-reference", "A reference names an id that is not declared"},
      {"duplicate-agreement", "Two files declare the same agreement id"},
      {"duplicate-id", "An id is declared twice"},
      {"duplicate-key", "A mapping holds the same key twice"},
      {"empty-allow-fields", "allow_fields is empty: nothing of any response leaves"},
      {"empty-value", "A value or list that must not be empty is empty"},
      {"governance-missing",
       "A governance section the ICO data sharing code recommends is missing"},
      {"identity-conflict", "One certificate identity is claimed by two parties"},
      {"identity-normalised", "A subject name is written otherwise than it will be matched"},
      {"missing-key", "A required key is missing"},
      {"not-utf8", "The file is not UTF-8"},
      {"party-conflict", "One party id names two organisations"},
      {"prohibited-purpose", "A permitted purpose is always refused by a prohibition"},
      {"ranges-on-filtered", "Range requests on an endpoint with response filters"},
      {"review-missing", "The agreement has no review date"},
      {"review-overdue", "The agreement's review date has passed"},
      {"unfiltered-endpoint", "An endpoint without response rules discloses the whole body"},
      {"unknown-key", "A key the format does not define"},
      {"unpatterned-placeholder", "A path placeholder has no pattern"},
      {"unused-endpoint", "No permission names the endpoint"},
      {"unused-purpose", "No permission or prohibition names the purpose"},
      {"wrong-type", "A value has the wrong type"},
      {"yaml-indentation", "YAML indentation does not match an open level"},
      {"yaml-structure", "The file is not one YAML mapping"},
      {"yaml-syntax", "The file is not valid YAML"},
      {"yaml-tab", "A tab is used to indent YAML"},
  };
  return table;
}

// The fix a message proposes ("…; did you mean 'upstream'?"), when it proposes one.
std::optional<std::string> suggestion_of(const std::string& message) {
  static const boost::regex re{R"(; did you mean '([^']*)'\?)"};
  boost::smatch m;
  if (boost::regex_search(message, m, re)) {
    return m[1].str();
  }
  return std::nullopt;
}

const char* level_name(policy::severity s) {
  return s == policy::severity::error ? "error" : "warning";
}

json::object finding_json(const policy::diagnostic& d) {
  json::object f{{"severity", level_name(d.level)},
                 {"code", d.code},
                 {"file", d.file},
                 {"line", d.line},
                 {"column", d.column},
                 {"message", d.message}};
  if (auto s = suggestion_of(d.message)) {
    f["suggestion"] = *s;
  }
  return f;
}

// A file path as a SARIF artifact URI (RFC 3986 path characters kept, the rest percent-encoded):
// relative when the path given was relative, so a CI upload resolves it against the checkout;
// a file: URI when it was absolute.
std::string path_uri(const std::string& path) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out = !path.empty() && path.front() == '/' ? "file://" : "";
  for (unsigned char c : path) {
    if (std::isalnum(c) != 0 || std::string_view("-._~/!$&'()*+,;=:@").find(static_cast<char>(c)) !=
                                    std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

json::object sarif_log(const policy::load_result& r) {
  std::set<std::string> codes;
  std::map<std::string, std::string> first_message;
  for (const policy::diagnostic& d : r.diagnostics) {
    codes.insert(d.code);
    first_message.try_emplace(d.code, d.message);
  }
  json::array rules;
  for (const std::string& code : codes) {
    auto it = rule_descriptions().find(code);
    // A code this table does not know yet still gets a description: its first message.
    const std::string text = it != rule_descriptions().end() ? it->second : first_message[code];
    rules.push_back(json::object{{"id", code}, {"shortDescription", json::object{{"text", text}}}});
  }
  json::array results;
  for (const policy::diagnostic& d : r.diagnostics) {
    json::object physical{{"artifactLocation", json::object{{"uri", path_uri(d.file)}}}};
    // SARIF regions are 1-based; a finding about the whole file (line 0) has none.
    if (d.line > 0) {
      json::object region{{"startLine", d.line}};
      if (d.column > 0) {
        region["startColumn"] = d.column;
      }
      physical["region"] = std::move(region);
    }
    json::object result{{"ruleId", d.code},
                        {"level", level_name(d.level)},
                        {"message", json::object{{"text", d.message}}},
                        {"locations", json::array{json::object{{"physicalLocation", physical}}}}};
    results.push_back(std::move(result));
  }
  json::object driver{
      {"name", "dsa lint"}, {"version", common::version()}, {"rules", std::move(rules)}};
  json::object run{{"tool", json::object{{"driver", std::move(driver)}}},
                   {"results", std::move(results)}};
  return json::object{
      {"$schema",
       "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json"},
      {"version", "2.1.0"},
      {"runs", json::array{std::move(run)}}};
}

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
    (d.level == policy::severity::error ? errors : warnings) += 1;
  }
  if (args.format == "json") {
    json::array files, findings;
    for (const std::string& f : r.files) {
      files.emplace_back(f);
    }
    for (const policy::diagnostic& d : r.diagnostics) {
      findings.push_back(finding_json(d));
    }
    std::cout << json::serialize(json::object{{"files", std::move(files)},
                                              {"findings", std::move(findings)},
                                              {"errors", errors},
                                              {"warnings", warnings}})
              << '\n';
  } else if (args.format == "sarif") {
    std::cout << json::serialize(sarif_log(r)) << '\n';
  } else {
    for (const policy::diagnostic& d : r.diagnostics) {
      std::cout << d.format() << '\n';
    }
    std::cout << r.files.size() << (r.files.size() == 1 ? " file, " : " files, ") << errors
              << (errors == 1 ? " error, " : " errors, ") << warnings
              << (warnings == 1 ? " warning" : " warnings") << '\n';
  }
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
      "message [code] (or --format json|sarif). Exit 0 clean (warnings allowed unless --strict), "
      "1 errors, 2 usage.");
  cmd->add_flag("--strict", args->strict, "Treat warnings as errors");
  cmd->add_option("--config", args->config,
                  "Gateway config (YAML): identities must name its trust anchors");
  cmd->add_option("--format", args->format,
                  "text (default), json (one document: files, findings, errors, warnings) or "
                  "sarif (SARIF 2.1.0, for code-scanning uploads)")
      ->check(CLI::IsMember({"text", "json", "sarif"}));
  cmd->add_option("paths", args->paths, "Agreement files or directories")->required();
  cmd->callback([args, &status] { status = run_lint(*args); });
}

}  // namespace dsa::cli
