// `dsa register`: the register of data sharing agreements, run as the real binary over the
// shipped agreements and over agreements written for each case.

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/policy/cli_util.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy::testing;

namespace {

constexpr const char* k_time = " --time 2026-11-24T10:30:00Z ";

std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// RFC 4180: fields separated by commas, records by CRLF; a quoted field may hold commas, CR, LF
// and doubled quotes. Throws on anything else so a malformed register fails the test.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '"') {
      for (++i;; ++i) {
        if (i >= text.size()) {
          throw std::runtime_error("unterminated quoted field");
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field.push_back('"');
            ++i;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(text[i]);
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
        if (text[i] == '"') {
          throw std::runtime_error("quote inside an unquoted field");
        }
        field.push_back(text[i++]);
      }
    }
    if (i < text.size() && text[i] == ',') {
      row.push_back(std::move(field));
      field.clear();
      ++i;
    } else if (i + 1 < text.size() && text[i] == '\r' && text[i + 1] == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      i += 2;
    } else if (i < text.size()) {
      throw std::runtime_error("record not ended by CRLF at byte " + std::to_string(i));
    }
  }
  if (!row.empty() || !field.empty()) {
    throw std::runtime_error("last record not ended by CRLF");
  }
  return rows;
}

// Two agreements as at 2026-11-24: test-asb's review was due on 2026-10-31 and its title starts
// like a spreadsheet formula; test-ending ends on 2026-12-04, ten days later, holds
// special-category data and has a title with `<`, a comma and quotes.
std::string write_two(temp_dir& dir) {
  dir.write("a.yaml", replace(replace(base_agreement, "due: 2027-09-30", "due: 2026-10-31"),
                              "title: Test ASB case sharing", "title: '=SUM(1,2) case sharing'"));
  std::string b = replace(base_agreement, "id: test-asb", "id: test-ending");
  b = replace(b, "title: Test ASB case sharing",
              "title: 'Ending <b>soon</b>, \"quoted\" agreement'");
  b = replace(b, "until: 2028-04-01", "until: 2026-12-04");
  b = replace(b, "special_category: false", "special_category: true");
  dir.write("b.yaml", b);
  dir.write("a.test.yaml", "cases: []\n");  // golden cases are not agreements
  return dir.path().string();
}

}  // namespace

TEST_CASE("dsa register lists every shipped agreement with its facts") {
  const std::string agreements = std::string(DSA_SOURCE_DIR) + "/agreements";
  run_result r = run("register" + std::string(k_time) + agreements);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::StartsWith("# Register of data sharing agreements"));
  for (const char* id :
       {"kingsbury-asb-case-sharing", "kingsbury-cctv-evidence", "northshire-hotspot-prevention",
        "northshire-mash", "riverside-tenancy-asb"}) {
    CHECK(count_lines_with(r.output, std::string("](#") + id + ")") == 1);  // summary row
    CHECK_THAT(r.output, Catch::Contains(std::string("<a id=\"") + id + "\"></a>"));
  }
  // The MASH's health records are special category and its police checks criminal offence data.
  CHECK_THAT(r.output, Catch::Contains("special category, criminal offence data\\]"));
  CHECK_THAT(r.output, Catch::Contains("joint controller"));
  CHECK_THAT(r.output, Catch::Contains("Children Act 1989 s.17"));
  CHECK_THAT(r.output, Catch::Contains("- **Status:** Suspended ("));

  temp_dir out;
  const std::string csv = (out.path() / "register.csv").string();
  REQUIRE(run("register --format csv -o " + csv + k_time + agreements).status == 0);
  auto rows = parse_csv(read_all(csv));
  REQUIRE(rows.size() == 6);  // header and five agreements
  for (const auto& row : rows) {
    CHECK(row.size() == rows.front().size());
  }
  CHECK(rows[1][0] == "kingsbury-asb-case-sharing");
}

TEST_CASE("dsa register warns of an overdue review and an agreement ending inside the window") {
  temp_dir dir;
  const std::string path = write_two(dir);
  run_result r = run("register" + std::string(k_time) + path);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("> **Warning:** review overdue: it was due on 2026-10-31"));
  CHECK_THAT(r.output, Catch::Contains("dsa register: warning: test-asb: review overdue"));
  CHECK_THAT(r.output,
             Catch::Contains("> **Warning:** expires on 2026-12-04, in 10 days (inside the "
                             "30-day warning window)"));
  CHECK_THAT(r.output, Catch::Contains("dsa register: warning: test-ending: expires on"));
  CHECK_THAT(r.output, Catch::Contains("asb-case \\[special category\\]"));
  CHECK_THAT(r.output, Catch::Contains("Ending \\<b\\>soon\\</b\\>"));  // Markdown-escaped

  // A narrower window leaves the ten-day expiry out; the overdue review stays.
  run_result narrow = run("register --warn-days 5" + std::string(k_time) + path);
  CHECK(narrow.status == 0);
  CHECK_THAT(narrow.output, !Catch::Contains("expires on"));
  CHECK_THAT(narrow.output, Catch::Contains("review overdue"));
  // Later than the end: the agreement has ended.
  run_result later = run("register --time 2026-12-05T00:00:00Z " + path);
  CHECK_THAT(later.output, Catch::Contains("validity ended on 2026-12-04"));
}

TEST_CASE("dsa register --format csv is one RFC 4180 row per agreement") {
  temp_dir dir;
  const std::string path = write_two(dir);
  temp_dir out;
  const std::string csv = (out.path() / "register.csv").string();
  run_result r = run("register --format csv -o " + csv + k_time + path);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("warning: test-ending"));  // stderr still warns
  auto rows = parse_csv(read_all(csv));
  REQUIRE(rows.size() == 3);
  REQUIRE(rows[0].size() == 21);
  CHECK(rows[1].size() == 21);
  CHECK(rows[2].size() == 21);
  CHECK(rows[0][20] == "emergency_permissions");
  CHECK(rows[1][20].empty());  // no emergency permission
  CHECK(rows[0][0] == "id");
  CHECK(rows[0][8] == "special_category");
  CHECK(rows[1][0] == "test-asb");
  CHECK(rows[1][8] == "no");
  CHECK(rows[2][2] == "Ending <b>soon</b>, \"quoted\" agreement");
  CHECK(rows[2][8] == "yes");
  CHECK(rows[1][5] == "Test Police (police): controller; Test Council (council): controller");
  CHECK_THAT(rows[2][17], Catch::Contains("expires on 2026-12-04"));
  // A cell a spreadsheet would run as a formula starts with an apostrophe instead.
  CHECK(rows[1][2] == "'=SUM(1,2) case sharing");
}

TEST_CASE("dsa register --format html is one self-contained page with every value escaped") {
  temp_dir dir;
  const std::string path = write_two(dir);
  temp_dir out;
  const std::string page = (out.path() / "register.html").string();
  REQUIRE(run("register --format html -o " + page + k_time + path).status == 0);
  const std::string html = read_all(page);
  CHECK_THAT(html, Catch::StartsWith("<!DOCTYPE html>"));
  CHECK_THAT(html, !Catch::Contains("<script"));
  CHECK_THAT(html, !Catch::Contains("src="));
  CHECK_THAT(html, !Catch::Contains("href=\"http"));
  CHECK_THAT(html, !Catch::Contains("href=http"));
  CHECK_THAT(html, !Catch::Contains("<b>"));
  CHECK_THAT(html, Catch::Contains("Ending &lt;b&gt;soon&lt;/b&gt;, &quot;quoted&quot; agreement"));
  CHECK_THAT(html, Catch::Contains("review overdue"));
  CHECK_THAT(html, Catch::Contains("<section id=\"test-ending\">"));
}

TEST_CASE("dsa register exits 1 when an agreement fails to load and lists the rest") {
  temp_dir dir;
  const std::string path = write_two(dir);
  dir.write("c.yaml", replace(replace(base_agreement, "id: test-asb", "id: test-broken"),
                              "version: 1.0.0", "version: one"));
  run_result r = run("register" + std::string(k_time) + path);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("c.yaml:"));  // the loader's diagnostic
  CHECK_THAT(r.output, Catch::Contains("could not be loaded and is missing from this register"));
  CHECK_THAT(r.output, Catch::Contains("(#test-asb)"));
  CHECK_THAT(r.output, Catch::Contains("(#test-ending)"));
  CHECK_THAT(r.output, !Catch::Contains("(#test-broken)"));
  CHECK(run("register " + (dir.path() / "missing").string()).status == 2);
  CHECK(run("register --time yesterday " + path).status == 2);
}
