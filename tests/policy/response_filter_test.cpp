#include "policy/response_filter.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <string_view>

using Catch::Matchers::Contains;
using dsa::policy::filter_response;
using dsa::policy::json_pointer;
using dsa::policy::reason;
using dsa::policy::response_rules;

namespace {

// What the loader does: split an RFC 6901 pointer and unescape ~1 then ~0 in each segment.
json_pointer ptr(std::string_view text) {
  json_pointer p;
  p.text = std::string(text);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t next = text.find('/', pos + 1);
    std::string raw(text.substr(pos + 1, next == std::string_view::npos ? next : next - pos - 1));
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size()) {
        seg += raw[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        seg += raw[i];
      }
    }
    p.segments.push_back(std::move(seg));
    pos = next == std::string_view::npos ? text.size() : next;
  }
  return p;
}

response_rules allow(std::initializer_list<std::string_view> pointers) {
  response_rules r;
  r.has_allow_fields = true;
  for (auto p : pointers) {
    r.allow_fields.push_back(ptr(p));
  }
  return r;
}

response_rules& withhold(response_rules& r, std::string_view pointer, std::string equals) {
  r.withhold_if.push_back({ptr(pointer), std::move(equals)});
  return r;
}

response_rules& max_items(response_rules& r, std::string_view pointer, std::uint64_t max) {
  r.max_items = dsa::policy::max_items_rule{ptr(pointer), max};
  return r;
}

}  // namespace

TEST_CASE("the test helper unescapes pointers like the loader", "[response_filter]") {
  CHECK(ptr("/a~1b/m~0n/~01").segments == std::vector<std::string>{"a/b", "m~n", "~1"});
  CHECK(ptr("").segments.empty());
  CHECK(ptr("/").segments == std::vector<std::string>{""});
}

TEST_CASE("nested objects keep only what allow_fields names", "[response_filter]") {
  const auto rules = allow({"/id", "/name/first", "/address"});
  const auto r = filter_response(rules, R"({
    "id": 7, "name": {"first": "Ann", "last": "Smith"}, "secret": "x",
    "address": {"line1": "1 High St", "postcode": "AB1 2CD", "geo": [1.5, 2]}
  })");
  REQUIRE(r.allowed());
  CHECK(r.changed);
  CHECK(
      r.body ==
      R"({"id":7,"name":{"first":"Ann"},"address":{"line1":"1 High St","postcode":"AB1 2CD","geo":[1.5E0,2]}})");
  CHECK(r.fields_removed == 2);  // name.last and secret
  CHECK(r.items == 1);
}

TEST_CASE("member order of the upstream is preserved", "[response_filter]") {
  const auto r = filter_response(allow({"/z", "/a", "/m"}), R"({"z":1,"x":0,"a":2,"m":3})");
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"z":1,"a":2,"m":3})");
  CHECK(r.fields_removed == 1);
}

TEST_CASE("'*' matches every array element and every object key", "[response_filter]") {
  SECTION("array elements") {
    const auto r = filter_response(allow({"/items/*/id", "/total"}),
                                   R"({"items":[{"id":1,"nhs":"a"},{"id":2,"nhs":"b"},{"x":3}],)"
                                   R"("total":3,"debug":true})");
    REQUIRE(r.allowed());
    CHECK(r.body == R"({"items":[{"id":1},{"id":2},{}],"total":3})");
    CHECK(r.fields_removed == 4);  // two nhs, x, debug
  }
  SECTION("object keys") {
    const auto r =
        filter_response(allow({"/people/*/name"}),
                        R"({"people":{"p1":{"name":"A","dob":"1990"},"p2":{"name":"B"}}})");
    REQUIRE(r.allowed());
    CHECK(r.body == R"({"people":{"p1":{"name":"A"},"p2":{"name":"B"}}})");
    CHECK(r.fields_removed == 1);
  }
  SECTION("a top-level array") {
    const auto r = filter_response(allow({"/*/ref"}), R"([{"ref":"a","pii":1},{"ref":"b"},5])");
    REQUIRE(r.allowed());
    CHECK(r.body == R"([{"ref":"a"},{"ref":"b"}])");
    CHECK(r.fields_removed == 2);  // pii and the scalar 5 (a scalar cannot hold /ref)
    CHECK(r.items == 3);
  }
}

TEST_CASE("array elements are addressed by decimal index", "[response_filter]") {
  const std::string body = R"({"items":[{"a":1},{"a":2},{"a":3}]})";
  auto r = filter_response(allow({"/items/1"}), body);
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"items":[{"a":2}]})");
  CHECK(r.fields_removed == 2);

  // Leading zeros, '-' and out-of-range indexes address nothing.
  r = filter_response(allow({"/items/01", "/items/-", "/items/3", "/items/+1"}), body);
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"items":[]})");
  CHECK(r.fields_removed == 3);
}

TEST_CASE("a pointer to a container keeps its whole subtree", "[response_filter]") {
  const auto r = filter_response(
      allow({"/record", "/record/ignored/deeper"}),
      R"({"record":{"a":[1,{"b":null}],"c":{"d":{"e":"f"}},"g":[]},"other":{"h":1}})");
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"record":{"a":[1,{"b":null}],"c":{"d":{"e":"f"}},"g":[]}})");
  CHECK(r.fields_removed == 1);  // "other" counted once, not its child
}

TEST_CASE("the empty pointer keeps the whole document, re-serialised compactly",
          "[response_filter]") {
  const auto r = filter_response(allow({""}), " {\"a\" : [ 1 , 2 ] ,\n \"b\":\"\\u0041\"} ");
  REQUIRE(r.allowed());
  CHECK(r.changed);
  CHECK(r.body == R"({"a":[1,2],"b":"A"})");
  CHECK(r.fields_removed == 0);
}

TEST_CASE("escaped pointer segments address keys with '/' and '~'", "[response_filter]") {
  const auto r = filter_response(allow({"/a~1b", "/m~0n/x", "/q\"k"}),
                                 R"({"a/b":1,"a":{"b":2},"m~n":{"x":3,"y":4},"q\"k":5})");
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"a/b":1,"m~n":{"x":3},"q\"k":5})");
  CHECK(r.fields_removed == 2);  // "a" and m~n.y
}

TEST_CASE("what is not on the way to an allowed pointer is removed", "[response_filter]") {
  SECTION("a scalar where the pointer expects a container") {
    const auto r = filter_response(allow({"/a/b"}), R"({"a":5,"c":6})");
    REQUIRE(r.allowed());
    CHECK(r.body == "{}");
    CHECK(r.fields_removed == 2);
  }
  SECTION("empty containers left after filtering remain") {
    const auto r = filter_response(allow({"/a/y", "/l/*/z"}), R"({"a":{"x":1},"l":[{"w":0}]})");
    REQUIRE(r.allowed());
    CHECK(r.body == R"({"a":{},"l":[{}]})");
    CHECK(r.fields_removed == 2);
  }
  SECTION("a scalar document no pointer names leaves as null") {
    const auto r = filter_response(allow({"/a"}), R"("secret text")");
    REQUIRE(r.allowed());
    CHECK(r.body == "null");
    CHECK(r.fields_removed == 1);
    CHECK(r.items == 1);
  }
}

TEST_CASE("an empty allow list removes everything", "[response_filter]") {
  auto r = filter_response(allow({}), R"({"a":1,"b":{"c":2},"d":[1,2]})");
  REQUIRE(r.allowed());
  CHECK(r.changed);
  CHECK(r.body == "{}");
  CHECK(r.fields_removed == 3);

  r = filter_response(allow({}), R"([1,2,3,4])");
  REQUIRE(r.allowed());
  CHECK(r.body == "[]");
  CHECK(r.fields_removed == 4);
  CHECK(r.items == 4);
}

TEST_CASE("withhold_if matches anywhere in an array", "[response_filter]") {
  auto rules = allow({"/people/*/name"});
  withhold(rules, "/people/*/flags/restricted", "true");
  const std::string restricted = R"({"people":[{"name":"A","flags":{"restricted":false}},)"
                                 R"({"name":"B","flags":{"restricted":true}}]})";
  auto r = filter_response(rules, restricted);
  CHECK(r.why == reason::withheld_by_agreement);
  CHECK_FALSE(r.changed);
  CHECK(r.body.empty());
  CHECK_THAT(r.detail, Contains("/people/*/flags/restricted"));

  // The flag is removed by allow_fields, yet the check runs on the unfiltered body.
  const std::string fine = R"({"people":[{"name":"A","flags":{"restricted":false}},{"name":"B"}]})";
  r = filter_response(rules, fine);
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"people":[{"name":"A"},{"name":"B"}]})");
  CHECK(r.fields_removed == 1);  // A's flags
}

TEST_CASE("withhold_if compares JSON values, not text", "[response_filter]") {
  response_rules rules;
  withhold(rules, "/status", R"("sealed")");
  withhold(rules, "/level", "2");
  withhold(rules, "/tag", R"({"a":1,"b":[true,null]})");

  CHECK(filter_response(rules, R"({"status":"sealed"})").why == reason::withheld_by_agreement);
  CHECK(filter_response(rules, R"({"status":"se\u0061led"})").why == reason::withheld_by_agreement);
  CHECK(filter_response(rules, R"({"status":"Sealed"})").allowed());
  CHECK(filter_response(rules, R"({"status":["sealed"]})").allowed());
  CHECK(filter_response(rules, R"({"level":2.0})").why == reason::withheld_by_agreement);
  CHECK(filter_response(rules, R"({"level":"2"})").allowed());
  CHECK(filter_response(rules, R"({"level":-2})").allowed());
  CHECK(filter_response(rules, R"({"tag":{"b":[true,null],"a":1}})").why ==
        reason::withheld_by_agreement);
  CHECK(filter_response(rules, R"({"tag":{"b":[true,null],"a":1,"c":0}})").allowed());
}

TEST_CASE("withhold_if alone keeps an allowed body whole", "[response_filter]") {
  response_rules rules;
  withhold(rules, "/status", R"("sealed")");
  const auto r = filter_response(rules, R"({ "status" : "open", "x": [1,2] })");
  REQUIRE(r.allowed());
  CHECK_FALSE(r.changed);
  CHECK(r.body.empty());
  CHECK(r.fields_removed == 0);
  CHECK(r.items == 1);
}

TEST_CASE("a withhold_if value that does not parse fails closed", "[response_filter]") {
  response_rules rules;
  withhold(rules, "/status", "{not json");
  const auto r = filter_response(rules, R"({"status":"open"})");
  CHECK_FALSE(r.allowed());
  CHECK(r.why == reason::response_not_filterable);
}

TEST_CASE("max_items refuses arrays over the limit", "[response_filter]") {
  response_rules rules;
  max_items(rules, "/results", 3);

  auto r = filter_response(rules, R"({"results":[1,2,3]})");
  REQUIRE(r.allowed());
  CHECK(r.items == 3);
  CHECK_FALSE(r.changed);

  r = filter_response(rules, R"({"results":[1,2,3,4]})");
  CHECK(r.why == reason::too_many_items);
  CHECK_THAT(r.detail, Contains("/results"));
  CHECK_THAT(r.detail, Contains("4"));
  CHECK(r.items == 4);

  // Nothing at the pointer: fine, and items falls back to the document.
  r = filter_response(rules, R"([{"a":1},{"a":2}])");
  REQUIRE(r.allowed());
  CHECK(r.items == 2);
  r = filter_response(rules, R"({"results":"none"})");
  REQUIRE(r.allowed());
  CHECK(r.items == 1);
}

TEST_CASE("max_items with '*' checks every array it reaches", "[response_filter]") {
  auto rules = allow({"/groups/*/members"});
  max_items(rules, "/groups/*/members", 2);
  auto r = filter_response(rules, R"({"groups":[{"members":[1]},{"members":[1,2]}]})");
  REQUIRE(r.allowed());
  CHECK(r.items == 1);  // the first array reached
  CHECK(r.body == R"({"groups":[{"members":[1]},{"members":[1,2]}]})");

  r = filter_response(rules, R"({"groups":[{"members":[1]},{"members":[1,2,3]}]})");
  CHECK(r.why == reason::too_many_items);
}

TEST_CASE("withhold_if is checked before max_items", "[response_filter]") {
  response_rules rules;
  max_items(rules, "/r", 0);
  withhold(rules, "/s", "null");
  CHECK(filter_response(rules, R"({"r":[1],"s":null})").why == reason::withheld_by_agreement);
  CHECK(filter_response(rules, R"({"r":[1],"s":0})").why == reason::too_many_items);
}

TEST_CASE("bodies that are not JSON are not filterable", "[response_filter]") {
  const auto rules = allow({"/a"});
  for (std::string_view body :
       {std::string_view(""), std::string_view("<html>ok</html>"), std::string_view("{\"a\":1"),
        std::string_view("{\"a\":1} trailing"), std::string_view("{\"a\":1}{}"),
        std::string_view("{'a':1}"), std::string_view("{\"a\":1,}"),
        std::string_view("{\"a\":1 /* c */}"), std::string_view("{\"a\":\"\xC3\x28\"}"),
        std::string_view("{\"a\":NaN}"), std::string_view("\xEF\xBB\xBF{}")}) {
    INFO("body: " << body);
    const auto r = filter_response(rules, body);
    CHECK(r.why == reason::response_not_filterable);
    CHECK_FALSE(r.changed);
    CHECK(r.body.empty());
    CHECK_FALSE(r.detail.empty());
  }
}

TEST_CASE("hostile nesting is refused without crashing", "[response_filter]") {
  const auto rules = allow({"/a"});
  for (std::size_t depth : {65U, 1000U, 200000U}) {
    const std::string body = std::string(depth, '[') + std::string(depth, ']');
    const auto r = filter_response(rules, body);
    CHECK(r.why == reason::response_not_filterable);
    CHECK_THAT(r.detail, Contains("deeper than 64"));
  }
  const std::string ok = std::string(63, '[') + std::string(63, ']');
  CHECK(filter_response(rules, ok).allowed());
}

TEST_CASE("duplicate keys make a body not filterable", "[response_filter]") {
  response_rules rules;
  withhold(rules, "/restricted", "true");
  // A first-wins reader would see true; Boost keeps the last. Refuse rather than guess.
  const auto r = filter_response(rules, R"({"restricted":true,"restricted":false})");
  CHECK(r.why == reason::response_not_filterable);
  CHECK_THAT(r.detail, Contains("duplicate"));
  CHECK(filter_response(rules, R"({"x":{"k":1,"k":2}})").why == reason::response_not_filterable);
  CHECK(filter_response(rules, R"({"x":[{"k":1},{"k":2}]})").allowed());
}

TEST_CASE("integers beyond 64 bits are refused only when re-serialised", "[response_filter]") {
  const std::string body = R"({"id":123456789012345678901234567890,"x":1.5e3})";
  const auto r = filter_response(allow({"/id"}), body);
  CHECK(r.why == reason::response_not_filterable);
  CHECK_THAT(r.detail, Contains("64-bit"));

  response_rules only_withhold;
  withhold(only_withhold, "/x", "1");
  const auto kept = filter_response(only_withhold, body);
  REQUIRE(kept.allowed());
  CHECK_FALSE(kept.changed);

  const auto in_range = filter_response(allow({"/id"}), R"({"id":18446744073709551615,"n":-9})");
  REQUIRE(in_range.allowed());
  CHECK(in_range.body == R"({"id":18446744073709551615})");
}

TEST_CASE("no rules: any body passes unchanged, binary included", "[response_filter]") {
  const response_rules none;
  const std::string binary("\x89PNG\r\n\x1A\n\0\xFF", 10);
  auto r = filter_response(none, binary);
  REQUIRE(r.allowed());
  CHECK_FALSE(r.changed);
  CHECK(r.body.empty());
  CHECK(r.fields_removed == 0);
  CHECK(r.items == 1);

  r = filter_response(none, "");
  CHECK(r.allowed());
  CHECK_FALSE(r.changed);
}

TEST_CASE("large bodies spill out of the arena correctly", "[response_filter]") {
  std::string body = "[";
  std::string expected = "[";
  for (int i = 0; i < 5000; ++i) {
    const std::string sep = i == 0 ? "" : ",";
    body += sep + R"({"id":)" + std::to_string(i) + R"(,"name":"person )" + std::to_string(i) +
            R"(","dob":"2000-01-01"})";
    expected += sep + R"({"id":)" + std::to_string(i) + "}";
  }
  body += "]";
  expected += "]";
  auto rules = allow({"/*/id"});
  max_items(rules, "", 5000);
  const auto r = filter_response(rules, body);
  REQUIRE(r.allowed());
  CHECK(r.items == 5000);
  CHECK(r.fields_removed == 10000);
  CHECK(r.body == expected);
}

TEST_CASE("numbers outside the range of a double are refused, so output always parses",
          "[response_filter]") {
  for (const char* n : {"1e400", "-1e400", "1E+400", "1e-400", "-2.5e-999", "0e999", "0.0e400"}) {
    const std::string body = std::string(R"({"id":1,"n":)") + n + "}";
    INFO(body);
    for (const response_rules& rules : {allow({"/id"}), allow({""})}) {
      const auto r = filter_response(rules, body);
      CHECK(r.why == reason::response_not_filterable);
      CHECK_THAT(r.detail, Contains("outside the range of a double"));
    }
    // Compared in withhold_if as infinity, NaN or 0 it would be wrong too: refused as well.
    response_rules only_withhold;
    withhold(only_withhold, "/n", "0");
    CHECK(filter_response(only_withhold, body).why == reason::response_not_filterable);
  }
  // A huge integer is refused when re-serialised (above); in-range extremes pass and parse.
  CHECK(filter_response(allow({""}), R"({"n":123456789012345678901234567890})").why ==
        reason::response_not_filterable);
  for (const char* n : {"1.7976931348623157e308", "-1.7976931348623157e308", "5e-324", "0e-400",
                        "-0.0", "0.1", "1e2", "-9223372036854775808", "18446744073709551615"}) {
    const std::string body = std::string(R"({"n":)") + n + "}";
    INFO(body);
    const auto r = filter_response(allow({""}), body);
    REQUIRE(r.allowed());
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(r.body, ec);  // strict RFC 8259 parser
    CHECK_FALSE(ec);
    CHECK(r.body.find("Infinity") == std::string::npos);
    CHECK(r.body.find("NaN") == std::string::npos);
  }
}

TEST_CASE("a released number is the double nearest the upstream's text, and stays so",
          "[response_filter]") {
  // Boost.JSON 1.81 converts decimals up to an ulp off; the filter converts them exactly, so a
  // released body filtered again is unchanged (found by fuzz_response_filter).
  for (const char* n :
       {"44444444444444444440e4", "0.1", "2.2250738585072011e-308", "9007199254740993.0",
        "1.00000000000000011102230246251565e0", "123456789.123456789e-3"}) {
    const std::string body = std::string(R"({"n":)") + n + R"(,"drop":1})";
    INFO(body);
    const auto first = filter_response(allow({"/n"}), body);
    REQUIRE(first.allowed());
    REQUIRE(first.changed);
    const double expected = std::strtod(n, nullptr);  // correctly rounded (glibc)
    // Read back exactly too (Boost.JSON's own reading could be an ulp off).
    const std::string released = first.body.substr(5, first.body.size() - 6);  // {"n":…}
    CHECK(std::strtod(released.c_str(), nullptr) == expected);
    const auto again = filter_response(allow({"/n"}), first.body);
    REQUIRE(again.allowed());
    CHECK((!again.changed || again.body == first.body));
  }
}

TEST_CASE("released_fields names the allow_fields patterns that released something",
          "[response_filter]") {
  using list = std::vector<std::string>;
  SECTION("a pattern that matched nothing is absent; agreement order is kept") {
    const auto r = filter_response(allow({"/total", "/missing", "/items/*/id", "/items/*/alias"}),
                                   R"({"items":[{"id":1,"nhs":"a"},{"x":3}],"total":2})");
    REQUIRE(r.allowed());
    CHECK(r.body == R"({"items":[{"id":1},{}],"total":2})");
    CHECK(r.released_fields == list{"/total", "/items/*/id"});
  }
  SECTION("a container kept only for its path is not a match of the longer pattern") {
    const auto r = filter_response(allow({"/subjects/*/name"}), R"({"subjects":[{"dob":"x"}]})");
    REQUIRE(r.allowed());
    CHECK(r.body == R"({"subjects":[{}]})");
    CHECK(r.released_fields.empty());
  }
  SECTION("a member named by two patterns counts for both") {
    const auto r = filter_response(allow({"/*", "/a"}), R"({"a":1,"b":2})");
    REQUIRE(r.allowed());
    CHECK(r.released_fields == list{"/*", "/a"});
  }
  SECTION("a longer pattern inside a subtree released whole by a shorter one") {
    const auto r =
        filter_response(allow({"/a", "/a/b", "/a/c", "/z/q"}), R"({"a":{"b":1},"z":{"q":[]}})");
    REQUIRE(r.allowed());
    CHECK(r.body == R"({"a":{"b":1},"z":{"q":[]}})");
    CHECK(r.released_fields == list{"/a", "/a/b", "/z/q"});
  }
  SECTION("the whole document") {
    const auto r = filter_response(allow({"", "/x", "/y"}), R"({"x":null})");
    REQUIRE(r.allowed());
    CHECK(r.released_fields == list{"", "/x"});
  }
  SECTION("an array index and a scalar document no pattern names") {
    CHECK(filter_response(allow({"/0", "/5"}), "[7,8]").released_fields == list{"/0"});
    CHECK(filter_response(allow({"/a"}), "17").released_fields.empty());
  }
  SECTION("nothing is reported when nothing is filtered or the body is withheld") {
    response_rules rules = allow({"/a"});
    withhold(rules, "/a", "1");
    CHECK(filter_response(rules, R"({"a":1})").released_fields.empty());
  }
}

// Data subjects (docs/agreements.md, "Data subjects"): the identifiers response.subjects reaches
// in what is released, and only there.
namespace {

response_rules& subjects(response_rules& r, std::initializer_list<std::string_view> pointers) {
  for (auto p : pointers) {
    r.subjects.push_back(ptr(p));
  }
  return r;
}

using strings = std::vector<std::string>;

}  // namespace

TEST_CASE("subjects: released strings and numbers are listed, sorted and unique",
          "[filter][subjects]") {
  response_rules rules = allow({"/case_id", "/people/*/id", "/officer"});
  subjects(rules, {"/people/*/id", "/officer/staff_no", "/reporter/id"});
  const auto r = filter_response(
      rules, R"({"case_id":"C-1","people":[{"id":"P-2","name":"B"},{"id":"P-1"},{"id":"P-2"},)"
             R"({"id":77},{"id":true},{"id":null},{"id":{"nested":"P-9"}},{"id":["P-8"]}],)"
             R"("officer":{"staff_no":4471234},"reporter":{"id":"P-3"}})");
  REQUIRE(r.allowed());
  // Objects, arrays, booleans and null are not identifiers; /reporter is not released.
  CHECK(r.subjects == strings{"4471234", "77", "P-1", "P-2"});
}

TEST_CASE("subjects: a field allow_fields does not release is never listed", "[filter][subjects]") {
  // Only the first element's id is released; a partially kept container keeps only its allowed
  // children, so /people/1/id does not leave.
  response_rules rules = allow({"/people/0/id", "/people/1/name"});
  subjects(rules, {"/people/*/id"});
  const auto r = filter_response(rules, R"({"people":[{"id":"P-1"},{"id":"P-2","name":"x"}]})");
  REQUIRE(r.allowed());
  CHECK(r.body == R"({"people":[{"id":"P-1"},{"name":"x"}]})");
  CHECK(r.subjects == strings{"P-1"});
}

TEST_CASE("subjects: without allow_fields the whole body leaves, so every match is listed",
          "[filter][subjects]") {
  response_rules rules;
  withhold(rules, "/restricted", "true");
  subjects(rules, {"/people/*/id"});
  const auto r = filter_response(rules, R"({"people":[{"id":"P-1"},{"id":-5}]})");
  REQUIRE(r.allowed());
  CHECK_FALSE(r.changed);
  CHECK(r.subjects == strings{"-5", "P-1"});
}

TEST_CASE("subjects: a withheld response lists none", "[filter][subjects]") {
  response_rules rules = allow({"/people"});
  withhold(rules, "/people/*/restricted", "true");
  subjects(rules, {"/people/*/id"});
  const auto r =
      filter_response(rules, R"({"people":[{"id":"P-1"},{"id":"P-2","restricted":true}]})");
  CHECK(r.why == reason::withheld_by_agreement);
  CHECK(r.subjects.empty());
}

TEST_CASE("subjects: string values are listed as their decoded UTF-8 text", "[filter][subjects]") {
  response_rules rules = allow({""});
  subjects(rules, {"/id"});
  const auto r = filter_response(rules, R"({"id":"Zo\u00eb \"Q\""})");
  REQUIRE(r.allowed());
  CHECK(r.subjects == strings{"Zo\xc3\xab \"Q\""});
}
