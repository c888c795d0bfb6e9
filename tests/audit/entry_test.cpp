#include "audit/entry.hpp"

#include <catch2/catch.hpp>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

using namespace dsa::audit;

TEST_CASE("entries serialise in a fixed order and omit defaults", "[entry]") {
  entry e;
  e.seq = 7;
  e.time_us = 1750000000123456;
  e.request_id = "r1";
  e.decision = entry_decision::deny;
  e.reason = "purpose_not_permitted";
  e.status = 403;
  e.requester.party = "northshire-police";
  e.requester.trust_anchor = "partners";
  e.agreement = "asb";
  e.method = "GET";
  e.path = "/asb/v1/cases/1";
  CHECK(to_json(e) == R"({"seq":7,"time_us":1750000000123456,"kind":"request","request_id":"r1",)"
                      R"("decision":"deny","reason":"purpose_not_permitted","status":403,)"
                      R"("requester":{"party":"northshire-police","trust_anchor":"partners"},)"
                      R"("agreement":"asb","method":"GET","path":"/asb/v1/cases/1"})");
  CHECK(to_json(e) == json_with_seq(7, json_after_seq(e)));
}

TEST_CASE("lifecycle entries carry details and counted flags", "[entry]") {
  entry e;
  e.kind = entry_kind::agreements_loaded;
  e.time_us = 5;
  e.details["files"] = boost::json::array{boost::json::object{{"id", "asb"}, {"version", "1.0.0"}}};
  CHECK(
      to_json(e) ==
      R"({"seq":0,"time_us":5,"kind":"agreements_loaded","details":{"files":[{"id":"asb","version":"1.0.0"}]}})");
  entry c;
  c.counted = true;
  c.upstream_latency_us = 0;
  CHECK(to_json(c) ==
        R"({"seq":0,"time_us":0,"kind":"request","upstream_latency_us":0,"counted":true})");
}

TEST_CASE("strings are escaped and invalid UTF-8 is replaced", "[entry]") {
  entry e;
  e.purpose = "a\"b\\c\n\x01 é";
  e.case_ref = std::string("bad\xff\xc3");
  const std::string text = to_json(e);
  CHECK(text.find(R"("purpose":"a\"b\\c\n\u0001 é")") != std::string::npos);
  CHECK(text.find("\"case_ref\":\"bad\xef\xbf\xbd\xef\xbf\xbd\"") != std::string::npos);
  auto back = entry_from_json(text);
  REQUIRE(back);
  CHECK(back->purpose == e.purpose);
}

TEST_CASE("entries read back field for field", "[entry]") {
  entry e;
  e.seq = 99;
  e.time_us = 42;
  e.request_id = "id";
  e.decision = entry_decision::allow;
  e.status = 200;
  e.requester = {"p", "CN=x", "ab", "ta"};
  e.agreement = "a";
  e.agreement_version = "1.0.0";
  e.agreement_sha256 = "cd";
  e.permission = "perm";
  e.endpoint = "ep";
  e.purpose = "pu";
  e.case_ref = "c";
  e.acting_user = "u";
  e.method = "POST";
  e.path = "/p";
  e.query = "a=1";
  e.upstream = "up";
  e.upstream_status = 201;
  e.upstream_latency_us = 12;
  e.bytes = 3;
  e.items = 4;
  e.fields_removed = 5;
  e.body_sha256 = "ef";
  e.counted = true;
  auto back = entry_from_json(to_json(e));
  REQUIRE(back);
  CHECK(to_json(*back) == to_json(e));
  CHECK_FALSE(entry_from_json("[1]"));
  CHECK_FALSE(entry_from_json(R"({"time_us":1})"));
}

TEST_CASE("the claimed seq is read from the fixed prefix", "[entry]") {
  CHECK(claimed_seq(R"({"seq":0,"time_us":1})") == std::optional<std::uint64_t>(0));
  CHECK(claimed_seq(R"({"seq":123,"x":1})") == std::optional<std::uint64_t>(123));
  CHECK_FALSE(claimed_seq(R"({"seq":012,"x":1})"));
  CHECK_FALSE(claimed_seq(R"({"seq":-1,"x":1})"));
  CHECK_FALSE(claimed_seq(R"({"time_us":1,"seq":1})"));
  CHECK_FALSE(claimed_seq(R"({"seq":1)"));
}

TEST_CASE("every entry kind and decision round-trips through its stored spelling", "[entry]") {
  // The spellings are part of the stored format (entry.hpp): each is checked here by value.
  const std::pair<entry_kind, std::string_view> kinds[] = {
      {entry_kind::request, "request"},
      {entry_kind::forwarding, "forwarding"},
      {entry_kind::startup, "startup"},
      {entry_kind::agreements_loaded, "agreements_loaded"},
      {entry_kind::agreements_rejected, "agreements_rejected"},
      {entry_kind::shutdown, "shutdown"},
      {entry_kind::disclosure_started, "disclosure_started"},
      {entry_kind::disclosure_completed, "disclosure_completed"},
      {entry_kind::disclosure_interrupted, "disclosure_interrupted"},
      {entry_kind::agreement_text, "agreement_text"},
      {entry_kind::review, "review"}};
  for (const auto& [k, text] : kinds) {
    CHECK(to_string(k) == text);
    entry_kind back = entry_kind::unknown;
    REQUIRE(from_string(text, back));
    CHECK(back == k);
    entry e;
    e.kind = k;
    const auto read = entry_from_json(to_json(e));
    REQUIRE(read);
    CHECK(read->kind == k);
    CHECK(read->unknown_kind.empty());
  }
  // Every enumerator before `unknown` is listed above: a kind added to entry.hpp without a
  // spelling here fails.
  CHECK(static_cast<std::size_t>(entry_kind::unknown) == std::size(kinds));

  const std::pair<entry_decision, std::string_view> decisions[] = {
      {entry_decision::none, ""},         {entry_decision::allow, "allow"},
      {entry_decision::deny, "deny"},     {entry_decision::withheld, "withheld"},
      {entry_decision::reject, "reject"}, {entry_decision::error, "error"}};
  for (const auto& [d, text] : decisions) {
    CHECK(to_string(d) == text);
    entry_decision back = entry_decision::unknown;
    REQUIRE(from_string(text, back));
    CHECK(back == d);
    entry e;
    e.decision = d;
    const auto read = entry_from_json(to_json(e));
    REQUIRE(read);
    CHECK(read->decision == d);
  }
  CHECK(static_cast<std::size_t>(entry_decision::unknown) == std::size(decisions));

  entry_kind k = entry_kind::shutdown;
  CHECK_FALSE(from_string("Request", k));
  CHECK_FALSE(from_string("", k));
  CHECK_FALSE(from_string("unknown", k));
  CHECK(k == entry_kind::shutdown);  // unchanged on failure
  entry_decision d = entry_decision::deny;
  CHECK_FALSE(from_string("allowed", d));
  CHECK_FALSE(from_string("unknown", d));
  CHECK(d == entry_decision::deny);
}

TEST_CASE("a kind or decision this build does not know reads back and serialises unchanged",
          "[entry]") {
  // As a newer gateway would write it.
  const std::string text = R"({"seq":3,"time_us":9,"kind":"disclosure_paused","request_id":"r",)"
                           R"("decision":"quarantined","reason":"x"})";
  const auto e = entry_from_json(text);
  REQUIRE(e);
  CHECK(e->kind == entry_kind::unknown);
  CHECK(e->unknown_kind == "disclosure_paused");
  CHECK(kind_text(*e) == "disclosure_paused");
  CHECK(e->decision == entry_decision::unknown);
  CHECK(decision_text(*e) == "quarantined");
  CHECK(to_json(*e) == text);
}

TEST_CASE("client, lawful basis, legal gateway and released fields follow details and read back",
          "[entry]") {
  entry e;
  e.seq = 3;
  e.time_us = 10;
  e.decision = entry_decision::allow;
  e.status = 200;
  e.details["detail"] = "x";
  e.client = "[::1]:50123";
  e.lawful_basis = {"public-task", "legal-obligation"};
  e.legal_gateway = {"cda-s115"};
  e.released_fields = {"/case_id", "/subjects/*/name", "/a\"b"};
  const std::string text = to_json(e);
  CHECK(text == R"({"seq":3,"time_us":10,"kind":"request","decision":"allow","status":200,)"
                R"("details":{"detail":"x"},"client":"[::1]:50123",)"
                R"("lawful_basis":["public-task","legal-obligation"],"legal_gateway":["cda-s115"],)"
                R"("released_fields":["/case_id","/subjects/*/name","/a\"b"]})");
  auto back = entry_from_json(text);
  REQUIRE(back);
  CHECK(back->client == e.client);
  CHECK(back->lawful_basis == e.lawful_basis);
  CHECK(back->legal_gateway == e.legal_gateway);
  CHECK(back->released_fields == e.released_fields);
  CHECK(to_json(*back) == text);
  // Columns are still derived: the new members are skipped like details.
  entry_columns c;
  REQUIRE(derive_columns(text, c));
  CHECK(c.decision == "allow");

  // Empty: omitted, so entries without them keep their old text.
  entry plain;
  plain.client = "127.0.0.1:4000";
  CHECK(to_json(plain) == R"({"seq":0,"time_us":0,"kind":"request","client":"127.0.0.1:4000"})");
  auto plain_back = entry_from_json(to_json(plain));
  REQUIRE(plain_back);
  CHECK(plain_back->lawful_basis.empty());
  CHECK(plain_back->released_fields.empty());
}

TEST_CASE("an agreement_text entry keeps the file's bytes exactly", "[entry]") {
  const std::string file = "schema: dsa/v1\nid: a\n# \"quoted\" \\ back\ttab é ✓\r\n\x01";
  entry e;
  e.kind = entry_kind::agreement_text;
  e.time_us = 1;
  e.agreement = "a";
  e.agreement_version = "1.0.0";
  e.agreement_sha256 = "00ff";
  e.details["file"] = "agreements/a.yaml";
  e.details["text"] = boost::json::string(file);
  const std::string text = to_json(e);
  CHECK(text.find(R"("kind":"agreement_text")") != std::string::npos);
  auto back = entry_from_json(text);
  REQUIRE(back);
  CHECK(back->kind == entry_kind::agreement_text);
  CHECK(back->agreement_sha256 == "00ff");
  REQUIRE(back->details.if_contains("text") != nullptr);
  CHECK(std::string(back->details.at("text").get_string()) == file);
  CHECK(to_json(*back) == text);
}

TEST_CASE("subjects are stored after details as an array of strings and read back", "[entry]") {
  entry e;
  e.seq = 3;
  e.time_us = 10;
  e.request_id = "r3";
  e.decision = entry_decision::allow;
  e.status = 200;
  e.details["filter"] = "x";
  e.subjects = {std::string(64, 'a'), std::string(64, 'b')};
  const std::string text = to_json(e);
  CHECK(text == R"({"seq":3,"time_us":10,"kind":"request","request_id":"r3","decision":"allow",)"
                R"("status":200,"details":{"filter":"x"},"subjects":[")" +
                    std::string(64, 'a') + R"(",")" + std::string(64, 'b') + R"("]})");
  auto back = entry_from_json(text);
  REQUIRE(back);
  CHECK(back->subjects == e.subjects);
  CHECK(to_json(*back) == text);
  // An empty list is omitted, as every other default is.
  e.subjects.clear();
  CHECK(to_json(e).find("subjects") == std::string::npos);
}

TEST_CASE("emergency members follow details, read back and derive the incident reference",
          "[entry]") {
  entry e;
  e.seq = 3;
  e.time_us = 10;
  e.decision = entry_decision::allow;
  e.counted = true;
  e.details["detail"] = "x";
  e.incident_ref = "INC-\"1\"";
  e.justification = "risk to life";
  e.review_due_us = 20;
  const std::string text = to_json(e);
  CHECK(text == R"({"seq":3,"time_us":10,"kind":"request","decision":"allow","counted":true,)"
                R"("details":{"detail":"x"},"incident_ref":"INC-\"1\"",)"
                R"("justification":"risk to life","review_due_us":20})");
  const auto back = entry_from_json(text);
  REQUIRE(back);
  CHECK(back->incident_ref == e.incident_ref);
  CHECK(back->justification == e.justification);
  CHECK(back->review_due_us == 20);
  CHECK(is_emergency_disclosure(*back));
  entry_columns c;
  REQUIRE(derive_columns(text, c));
  CHECK(c.incident_ref == e.incident_ref);  // unescaped
  CHECK(c.counted);
  REQUIRE(derive_columns(R"({"seq":0,"time_us":1,"kind":"request"})", c));
  CHECK(c.incident_ref.empty());
  // Named twice: not an entry.
  CHECK_FALSE(derive_columns(R"({"seq":0,"time_us":1,"kind":"request","incident_ref":"a",)"
                             R"("incident_ref":"b"})",
                             c));

  entry refused = e;
  refused.decision = entry_decision::deny;
  CHECK_FALSE(is_emergency_disclosure(refused));  // declared, but nothing was disclosed
  entry ended = e;
  ended.kind = entry_kind::disclosure_completed;
  CHECK_FALSE(is_emergency_disclosure(ended));  // its started entry is the disclosure
  entry ordinary = e;
  ordinary.incident_ref.clear();
  CHECK_FALSE(is_emergency_disclosure(ordinary));
}
