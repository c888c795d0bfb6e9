// `dsa render` over a directory: every agreement, not only the first.

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;

namespace {

std::string two_agreements(temp_dir& dir) {
  dir.write("a.yaml", base_agreement);
  dir.write("b.yaml", replace(replace(base_agreement, "id: test-asb", "id: test-asb-two"),
                              "title: Test ASB case sharing", "title: Second ASB agreement"));
  dir.write("a.test.yaml", "cases: []\n");  // golden cases are not agreements
  return dir.path().string();
}

}  // namespace

TEST_CASE("dsa render DIR renders every agreement in it") {
  temp_dir dir;
  std::string path = two_agreements(dir);
  run_result r = run("render " + path);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("Test ASB case sharing"));
  CHECK_THAT(r.output, Catch::Contains("Second ASB agreement"));
  CHECK(r.output.find("Test ASB case sharing") < r.output.find("Second ASB agreement"));
  CHECK_THAT(r.output, Catch::Contains("\n---\n"));
}

TEST_CASE("dsa render DIR --format html writes one page per agreement with --output") {
  temp_dir dir;
  std::string path = two_agreements(dir);
  run_result refused = run("render --format html " + path);
  CHECK(refused.status == 2);
  CHECK_THAT(refused.output, Catch::Contains("give --output DIR"));

  temp_dir out;
  run_result r = run("render --format html --output " + out.path().string() + " " + path);
  CHECK(r.status == 0);
  for (const char* id : {"test-asb", "test-asb-two"}) {
    std::ifstream f(out.path() / (std::string(id) + ".html"));
    std::stringstream ss;
    ss << f.rdbuf();
    CHECK_THAT(ss.str(), Catch::StartsWith("<!DOCTYPE html>"));
    CHECK_THAT(r.output, Catch::Contains(std::string(id) + ".html"));
  }
}

TEST_CASE("dsa render renders nothing when any agreement has an error") {
  temp_dir dir;
  std::string path = two_agreements(dir);
  dir.write("c.yaml", replace(base_agreement, "version: 1.0.0", "version: one"));
  run_result r = run("render " + path);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("c.yaml:"));
  CHECK_THAT(r.output, !Catch::Contains("Test ASB case sharing"));
  CHECK(run("render " + (dir.path() / "missing").string()).status == 2);
}
