// `dsa lint --format json|sarif` (docs/agreements.md, "Output formats for CI"): the real binary on
// agreement files with known mistakes; the output parsed with Boost.JSON and each finding checked
// at the file, line, column and code of its mistake; the SARIF log checked for the structure
// SARIF 2.1.0 requires of it; exit statuses as in text mode.

#include <sys/wait.h>

#include <array>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <set>
#include <string>

#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;
namespace json = boost::json;

namespace {

// The base fixture with three mistakes: an unknown key (a typo with a suggestion), a regex
// that does not compile, and a purpose the agreement does not declare.
std::string broken_agreement() {
  std::string broken = replace(base_agreement, "    upstream: council-asb\n",
                               "    upstream: council-asb\n    upstrem: typo\n");
  broken = replace(broken, "acting_user: \"[A-Z]{2}[0-9]{4}\"", "acting_user: \"[A-Z\"");
  return replace(broken, "purposes: [asb-case-management]\n", "purposes: [asb-casework]\n");
}

// `dsa ARGS` run in `dir`, so that paths can be given relative; stdout only.
run_result run_in(const std::filesystem::path& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir.string() + "' && timeout 60 " + std::string(DSA_BINARY_DIR) +
                          "/tools/dsa " + args + " 2>/dev/null";
  run_result r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  INFO(text);
  REQUIRE(!ec);
  REQUIRE(v.is_object());
  return v.as_object();
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

// The one element of `list` whose `key` is `value`.
const json::object& one_with(const json::array& list, const std::string& key,
                             const std::string& value) {
  const json::object* found = nullptr;
  int n = 0;
  for (const json::value& v : list) {
    if (str(v.at(key)) == value) {
      found = &v.as_object();
      ++n;
    }
  }
  INFO(key << " = " << value);
  REQUIRE(n == 1);
  return *found;
}

}  // namespace

TEST_CASE("dsa lint --format json: each finding at its file, line, column and code") {
  temp_dir dir;
  const std::string broken = broken_agreement();
  const std::string file = dir.write("a.yaml", broken).string();
  run_result r = run_in(dir.path(), "lint --format json " + file);
  CHECK(r.status == 1);
  json::object doc = parse_object(r.output);
  REQUIRE(doc.at("files").as_array().size() == 1);
  CHECK(str(doc.at("files").as_array()[0]) == file);
  const json::array& findings = doc.at("findings").as_array();
  CHECK(doc.at("errors").as_int64() == 3);
  std::int64_t warnings = 0;
  for (const json::value& f : findings) {
    CHECK(str(f.at("file")) == file);
    warnings += str(f.at("severity")) == "warning" ? 1 : 0;
  }
  CHECK(doc.at("warnings").as_int64() == warnings);
  CHECK(findings.size() == 3 + static_cast<std::size_t>(warnings));

  const json::object& unknown = one_with(findings, "code", "unknown-key");
  auto [l1, c1] = position_of(broken, "upstrem: typo");
  CHECK(unknown.at("line").as_int64() == l1);
  CHECK(unknown.at("column").as_int64() == c1);
  CHECK(str(unknown.at("severity")) == "error");
  CHECK(str(unknown.at("suggestion")) == "upstream");
  CHECK_THAT(str(unknown.at("message")), Catch::Contains("unknown key 'upstrem'"));

  const json::object& regex = one_with(findings, "code", "bad-regex");
  CHECK(regex.at("line").as_int64() == position_of(broken, "acting_user: \"[A-Z\"").first);
  CHECK(regex.if_contains("suggestion") == nullptr);

  const json::object& dangling = one_with(findings, "code", "dangling-reference");
  auto [l3, c3] = position_of(broken, "asb-casework]");
  CHECK(dangling.at("line").as_int64() == l3);
  CHECK(dangling.at("column").as_int64() == c3);
  // Not near enough to a declared purpose to be a typo: the message lists them, no suggestion.
  CHECK(dangling.if_contains("suggestion") == nullptr);
  CHECK_THAT(str(dangling.at("message")), Catch::Contains("declared: asb-case-management"));

  // Exit statuses as in text mode: warnings only is 0, or 1 with --strict.
  dir.write("a.yaml", base_agreement);  // no governance: warnings, no errors
  run_result clean = run_in(dir.path(), "lint --format json a.yaml");
  CHECK(clean.status == 0);
  json::object clean_doc = parse_object(clean.output);
  CHECK(clean_doc.at("errors").as_int64() == 0);
  CHECK(clean_doc.at("warnings").as_int64() > 0);
  CHECK(str(clean_doc.at("findings").as_array()[0].at("file")) == "a.yaml");
  CHECK(run_in(dir.path(), "lint --format json --strict a.yaml").status == 1);
  CHECK(run_in(dir.path(), "lint --format yaml a.yaml").status == 2);
}

TEST_CASE("dsa lint --format sarif: a SARIF 2.1.0 log with rules, results and relative URIs") {
  temp_dir dir;
  const std::string broken = broken_agreement();
  dir.write("agreements/a.yaml", broken);
  run_result r = run_in(dir.path(), "lint --format sarif agreements");
  CHECK(r.status == 1);
  json::object log = parse_object(r.output);

  // The members SARIF 2.1.0 requires of a log, a run, its tool and each result.
  CHECK(str(log.at("version")) == "2.1.0");
  CHECK_THAT(str(log.at("$schema")), Catch::EndsWith("sarif-schema-2.1.0.json"));
  const json::array& runs = log.at("runs").as_array();
  REQUIRE(runs.size() == 1);
  const json::object& driver = runs[0].at("tool").at("driver").as_object();
  CHECK(str(driver.at("name")) == "dsa lint");
  run_result version = run("--version");
  CHECK(version.output == "dsa " + str(driver.at("version")) + "\n");
  std::set<std::string> rule_ids;
  for (const json::value& rule : driver.at("rules").as_array()) {
    CHECK(rule_ids.insert(str(rule.at("id"))).second);  // one rule per code
    CHECK(!str(rule.at("shortDescription").at("text")).empty());
  }
  const json::array& results = runs[0].at("results").as_array();
  std::size_t errors = 0;
  for (const json::value& res : results) {
    CHECK(rule_ids.count(str(res.at("ruleId"))) == 1);  // every result names a declared rule
    const std::string level = str(res.at("level"));
    CHECK((level == "error" || level == "warning"));
    errors += level == "error" ? 1 : 0;
    CHECK(!str(res.at("message").at("text")).empty());
    const json::object& loc =
        res.at("locations").as_array().at(0).at("physicalLocation").as_object();
    CHECK(str(loc.at("artifactLocation").at("uri")) == "agreements/a.yaml");
  }
  CHECK(errors == 3);
  CHECK(rule_ids.count("unknown-key") == 1);

  const json::object& unknown = one_with(results, "ruleId", "unknown-key");
  const json::object& region =
      unknown.at("locations").as_array()[0].at("physicalLocation").at("region").as_object();
  auto [l1, c1] = position_of(broken, "upstrem: typo");
  CHECK(region.at("startLine").as_int64() == l1);
  CHECK(region.at("startColumn").as_int64() == c1);
  CHECK(str(unknown.at("level")) == "error");

  const json::object& dangling = one_with(results, "ruleId", "dangling-reference");
  const json::object& region3 =
      dangling.at("locations").as_array()[0].at("physicalLocation").at("region").as_object();
  auto [l3, c3] = position_of(broken, "asb-casework]");
  CHECK(region3.at("startLine").as_int64() == l3);
  CHECK(region3.at("startColumn").as_int64() == c3);

  // A clean file: exit 0 with its warnings as results; a path with a space is percent-encoded.
  dir.write("my agreements/a.yaml", base_agreement);
  run_result clean = run_in(dir.path(), "lint --format sarif 'my agreements'");
  CHECK(clean.status == 0);
  json::object clean_log = parse_object(clean.output);
  const json::array& clean_results = clean_log.at("runs").as_array()[0].at("results").as_array();
  REQUIRE(!clean_results.empty());
  for (const json::value& res : clean_results) {
    CHECK(str(res.at("level")) == "warning");
    CHECK(str(res.at("locations")
                  .as_array()[0]
                  .at("physicalLocation")
                  .at("artifactLocation")
                  .at("uri")) == "my%20agreements/a.yaml");
  }
}
