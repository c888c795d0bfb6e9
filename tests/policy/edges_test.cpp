// Decisions at the edges: one meaning for every pattern, value and name (docs/agreements.md,
// "Patterns", "Request headers", "Identities", "Text in refusals"). Each case here failed before
// the rule it checks was made explicit.

#include <openssl/bio.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include "policy/identity_name.hpp"
#include "policy/pattern.hpp"
#include "policy/request_fields.hpp"
#include "policy/text.hpp"
#include "tests/policy/policy_fixture.hpp"

using namespace dsa::policy;
using namespace dsa::policy::testing;
using Catch::Matchers::Contains;

namespace {

bool full_match(const char* re, std::string_view value) {
  result<pattern> p = compile_pattern(re);
  INFO(re << ": " << p.error());
  REQUIRE(p);
  return p.value().matches(value);
}

std::string dialect_error(const char* re) {
  result<pattern> p = compile_pattern(re);
  INFO(re);
  CHECK_FALSE(p);
  return p.error();
}

std::shared_ptr<const agreement_set> load_ok(const std::string& text, load_options opts = {}) {
  load_result r = load_texts({{"a.yaml", text}}, opts);
  for (const auto& d : r.diagnostics) {
    UNSCOPED_INFO(d.format());
  }
  REQUIRE(r.ok());
  return r.set;
}

request_view view_at(std::string_view path, std::string_view query, const char* now) {
  request_view v;
  v.method = "GET";
  v.path = path;
  v.query = query;
  v.purpose = "asb-case-management";
  v.now = at(now);
  return v;
}

using fields = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// --- patterns ---------------------------------------------------------------------------------

TEST_CASE("patterns: '.' never matches a line terminator, '^' and '$' only at the ends") {
  CHECK(full_match("R[0-9]{6}.?", "R123456"));
  CHECK(full_match("R[0-9]{6}.?", "R123456x"));
  CHECK_FALSE(full_match("R[0-9]{6}.?", "R123456\n"));
  CHECK_FALSE(full_match("R[0-9]{6}.?", "R123456\r"));
  CHECK_FALSE(full_match("R[0-9]{6}.?", "R123456\f"));
  CHECK(full_match("actions.*", "actions,warnings"));
  CHECK_FALSE(full_match("actions.*", "actions\r\nX-Injected: 1"));
  CHECK_FALSE(full_match("a$\\n?b?", "a\nb"));  // '$' is not "before a newline" mid-value
  CHECK_FALSE(full_match("(^a|x)\\n^b", "a\nb"));
}

TEST_CASE("patterns: \\d \\w \\s are ASCII classes") {
  CHECK(full_match("\\d{4}", "2026"));
  CHECK(full_match("\\w+", "Case_01"));
  CHECK_FALSE(full_match("\\w+", "caf\xC3\xA9"));
  CHECK_FALSE(full_match("\\d+", "\xD9\xA3"));  // ARABIC-INDIC DIGIT THREE
  CHECK_FALSE(full_match("a\\s+b",
                         "a\xC2\xA0"
                         "b"));  // NO-BREAK SPACE
  CHECK(full_match("a\\s+b", "a \tb"));
  CHECK(full_match("\\W", "\xC3"));  // a non-ASCII byte is not a word character
}

TEST_CASE("patterns: Perl-only constructs and constructs that differ are refused, by name") {
  CHECK_THAT(dialect_error("(?s)R[0-9]{6}.*"), Contains("inline modifiers"));
  CHECK_THAT(dialect_error("(?i)asb"), Contains("'(?i)"));
  CHECK_THAT(dialect_error("(?#note)a"), Contains("Perl extensions"));
  CHECK_THAT(dialect_error("(?>a+)"), Contains("Perl extensions"));
  CHECK_THAT(dialect_error("(?<name>a)"), Contains("Perl extensions"));
  CHECK_THAT(dialect_error("[[:alpha:]]+"), Contains("POSIX class"));
  CHECK_THAT(dialect_error("a*+"), Contains("possessive"));
  CHECK_THAT(dialect_error("a{2}+"), Contains("possessive"));
  CHECK_THAT(dialect_error("\\Aabc"), Contains("'\\A' is not an ECMAScript escape"));
  CHECK_THAT(dialect_error("abc\\z"), Contains("'\\z'"));
  CHECK_THAT(dialect_error("\\Qa.b\\E"), Contains("'\\Q'"));
  CHECK_THAT(dialect_error("[]a]"), Contains("literal ']' in Perl"));
  CHECK_THAT(dialect_error("[^]"), Contains("literal ']' in Perl"));
  CHECK_THAT(dialect_error("a{"), Contains("does not start a quantifier"));
  CHECK_THAT(dialect_error("(a)\\1"), Contains("backreference"));
  CHECK_THAT(dialect_error("\\v"), Contains("vertical tab"));
  CHECK_THAT(dialect_error("\\x{41}"), Contains("\\xHH"));
  CHECK_THAT(dialect_error("[\\b]"), Contains("backspace"));
  CHECK_THAT(dialect_error("\\u0041"), Contains("Unicode escape"));
  CHECK_THAT(dialect_error("a\nb"), Contains("control byte"));
  // Boost's own syntax error, said in plain words without Boost's ">>>HERE>>>" fragment.
  CHECK_THAT(dialect_error("(a"), Contains("a '(' has no matching ')'"));
  for (const char* ok : {"(CR|MP)-[0-9]{2}-[0-9]{6}", "(?:a|b)c", "a(?=b)b", "(?<!x)a", "[^,]+",
                         "\\d{4}-\\w+\\s?", "\\.\\-\\/\\\\", "\\x41", "[a\\-z\\]]", "a{2,}",
                         "a{2,3}?", "a+?", "\\bx\\B", "[\\d\\s]", "\\t\\n\\r\\f\\0"}) {
    INFO(ok);
    CHECK(compile_pattern(ok).has_value());
  }
}

TEST_CASE("patterns: the loader refuses a Perl-only pattern at its position") {
  const std::string text =
      replace(base_agreement, "case_id: \"ASB-[0-9]{4}-[0-9]{6}\"", "case_id: \"(?s)ASB-.*\"");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  // At the fault itself: the '(' just inside the quote.
  auto [line, column] = position_of(text, "(?s)ASB-.*\"");
  CHECK(r.diagnostics[0].line == line);
  CHECK(r.diagnostics[0].column == column);
  CHECK(r.diagnostics[0].code == "bad-regex");
  CHECK_THAT(r.diagnostics[0].message, Contains("inline modifiers"));
}

TEST_CASE("patterns: a decoded line terminator in a path parameter does not match '.?'") {
  auto set = load_ok(replace(base_agreement, "case_id: \"ASB-[0-9]{4}-[0-9]{6}\"",
                             "case_id: \"ASB-[0-9]{4}-[0-9]{6}.?\""));
  engine eng(set);
  memory_volume_counter counter;
  // The canonical-path check refuses %0A first (canonical_path_test); the pattern agrees if a
  // path ever reached the engine another way.
  request_view v = view_at("/asb/v1/cases/ASB-2026-000123%0A", "", "2026-11-24T10:30:00Z");
  v.case_ref = "ASB-2026-000123";
  v.acting_user = "PC1234";
  CHECK(eng.decide_for("police", v, counter).why == reason::path_param_invalid);
  v.path = "/asb/v1/cases/ASB-2026-000123x";
  CHECK(eng.decide_for("police", v, counter).why == reason::case_ref_mismatch);
}

// --- query parameters -------------------------------------------------------------------------

TEST_CASE("query parameters: no limit on how many an endpoint declares") {
  std::string params = "{";
  for (int i = 0; i < 70; ++i) {
    params += (i ? ", " : "") + ("p" + std::to_string(i)) +
              ": {pattern: \"[0-9]+\", required: " + (i >= 64 ? "true" : "false") + "}";
  }
  params += "}";
  auto set = load_ok(replace(
      base_agreement, "query_params: {include: {pattern: \"actions|notes\", required: false}}",
      "query_params: " + params));
  engine eng(set);
  memory_volume_counter counter;
  std::string all;
  for (int i = 0; i < 70; ++i) {
    all += (i ? "&" : "") + ("p" + std::to_string(i)) + "=" + std::to_string(i);
  }
  request_view v = view_at("/asb/v1/cases/ASB-2026-000123", all, "2026-11-24T10:30:00Z");
  v.case_ref = "ASB-2026-000123";
  v.acting_user = "PC1234";
  decision d = eng.decide_for("police", v, counter, true);
  INFO(d.detail);
  CHECK(d.allowed);

  std::string only_required = "p64=1&p65=1&p66=1&p67=1&p68=1&p69=1";
  v.query = only_required;
  CHECK(eng.decide_for("police", v, counter).allowed);

  std::string repeated = only_required + "&p66=2";
  v.query = repeated;
  d = eng.decide_for("police", v, counter, true);
  CHECK(d.why == reason::query_not_allowed);
  CHECK_THAT(d.detail, Contains("'p66' is repeated"));

  std::string missing = "p64=1&p65=1&p66=1&p67=1&p68=1";
  v.query = missing;
  d = eng.decide_for("police", v, counter, true);
  CHECK(d.why == reason::query_not_allowed);
  CHECK_THAT(d.detail, Contains("'p69' is required"));
}

// --- text in refusals -------------------------------------------------------------------------

TEST_CASE("text: escape_text always yields valid UTF-8 and keeps valid text") {
  CHECK(escape_text("plain") == "plain");
  CHECK(escape_text("caf\xC3\xA9") == "caf\xC3\xA9");
  CHECK(escape_text("\xC3(") == "\\xC3(");
  CHECK(escape_text("\xFF\xFE") == "\\xFF\\xFE");
  CHECK(escape_text("\xC0\xAE") == "\\xC0\\xAE");                    // overlong '.'
  CHECK(escape_text("\xED\xA0\x80") == "\\xED\\xA0\\x80");           // a UTF-16 surrogate
  CHECK(escape_text("\xF4\x90\x80\x80") == "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(escape_text("a\nb\x7F") == "a\\x0Ab\\x7F");
  CHECK(escape_text("a\\x41") == "a\\\\x41");  // a literal backslash cannot pose as an escape
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    CHECK(first_invalid_utf8(escape_text(one + "\xE2\x82" + one)) == std::string_view::npos);
  }
}

TEST_CASE("text: a query name or purpose that is not UTF-8 is escaped in detail and trace") {
  auto set = load_ok(base_agreement);
  engine eng(set);
  memory_volume_counter counter;
  request_view v = view_at("/asb/v1/cases/ASB-2026-000123", "%C3(=1", "2026-11-24T10:30:00Z");
  decision d = eng.decide_for("police", v, counter, true);
  CHECK(d.why == reason::query_not_allowed);
  CHECK(d.detail == "query parameter '\\xC3(' is not allowed");
  REQUIRE(d.trace.size() == 1);
  CHECK(d.trace[0].detail == d.detail);

  std::string raw_name = "%FF%FE=1";
  v.query = raw_name;
  d = eng.decide_for("police", v, counter, true);
  CHECK(first_invalid_utf8(d.detail) == std::string_view::npos);
  CHECK_THAT(d.detail, Contains("\\xFF\\xFE"));

  request_view p = view_at("/asb/v1/summary", "", "2026-11-24T10:30:00Z");
  p.purpose = "research\xFF";
  d = eng.decide_for("police", p, counter, true);
  CHECK(d.why == reason::purpose_not_permitted);
  CHECK_THAT(d.detail, Contains("purpose 'research\\xFF'"));
  CHECK(first_invalid_utf8(d.detail) == std::string_view::npos);
}

TEST_CASE("text: an agreement file that is not UTF-8 is refused at the bad byte") {
  const std::string text =
      replace(base_agreement, "title: Test ASB case sharing", "title: Test ASB case sharing \xFF");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].code == "not-utf8");
  auto [line, column] = position_of(text, "\xFF");
  CHECK(r.diagnostics[0].line == line);
  CHECK(r.diagnostics[0].column == column);
  CHECK(first_invalid_utf8(r.diagnostics[0].format()) == std::string_view::npos);
}

// --- request headers --------------------------------------------------------------------------

TEST_CASE("request fields: the four client DSA-* fields, trimmed, any case") {
  fields in = {{"Host", "x"},
               {"dsa-purpose", " asb-case-management\t"},
               {"DSA-CASE-REF", "ASB-2026-000123"},
               {"Dsa-Acting-User", "PC 1234"},
               {"DSA-Agreement", "test-asb"},
               {"X_Other", "caf\xC3\xA9"}};  // other fields are not interpreted
  result<client_fields> r = read_client_fields(in);
  INFO(r.error());
  REQUIRE(r);
  CHECK(r.value().purpose == "asb-case-management");
  CHECK(r.value().case_ref == "ASB-2026-000123");
  CHECK(r.value().acting_user == "PC 1234");
  CHECK(r.value().agreement == "test-asb");
  CHECK(read_client_fields(fields{}).value().purpose == std::nullopt);
}

TEST_CASE("request fields: '_' spellings, duplicates and gateway fields are refused") {
  auto error_of = [](fields in) {
    result<client_fields> r = read_client_fields(in);
    CHECK_FALSE(r);
    return r.error();
  };
  CHECK_THAT(error_of({{"DSA_Purpose", "asb-case-management"}}),
             Contains("'DSA_Purpose' spells a DSA-* field with '_'"));
  CHECK_THAT(error_of({{"dsa_case_ref", "x"}}), Contains("with '_'"));
  CHECK_THAT(error_of({{"DSA-Purpose", "a"}, {"dsa-purpose", "b"}}),
             Contains("duplicate DSA-Purpose header"));
  CHECK_THAT(error_of({{"DSA-Agreement", "a"}, {"DSA-Agreement", "a"}}),
             Contains("duplicate DSA-Agreement"));
  CHECK_THAT(error_of({{"DSA-Case-Ref", ""}, {"DSA-Case-Ref", "x"}}), Contains("duplicate"));
  CHECK_THAT(error_of({{"DSA-Requester", "police"}}), Contains("set by the gateway"));
  CHECK_THAT(error_of({{"DSA-Permission", "x"}}), Contains("set by the gateway"));
  CHECK_THAT(error_of({{"DSA-Request-Id", "x"}}), Contains("set by the gateway"));
  CHECK_THAT(error_of({{"DSA-Foo", "x"}}), Contains("not a DSA-* field a client may send"));
  CHECK_THAT(error_of({{"DSA-Purpose", "caf\xC3\xA9"}}),
             Contains("DSA-Purpose has byte 0xC3 (expected visible ASCII"));
  CHECK_THAT(error_of({{"DSA-Acting-User", "PC1234\x01"}}), Contains("control byte 0x01"));
  CHECK_THAT(error_of({{"DSA-Agreement", "  "}}), Contains("DSA-Agreement is empty"));
  CHECK_THAT(error_of({{"DSA Purpose", "x"}}), Contains("not an RFC 9110 token"));
  CHECK_THAT(error_of({{"X-Other", "a\nb"}}), Contains("control byte 0x0A"));
  CHECK(first_invalid_utf8(error_of({{"DSA-\xFF", "x"}})) == std::string_view::npos);
}

TEST_CASE("request fields: an empty or blank purpose, case ref or acting user is not sent") {
  result<client_fields> r = read_client_fields(
      fields{{"DSA-Purpose", ""}, {"DSA-Case-Ref", " \t "}, {"DSA-Acting-User", "\t"}});
  REQUIRE(r);
  CHECK_FALSE(r.value().purpose);
  CHECK_FALSE(r.value().case_ref);
  CHECK_FALSE(r.value().acting_user);

  // … so the decision is the *_missing reason of the first check that needs it.
  auto set = load_ok(base_agreement);
  engine eng(set);
  memory_volume_counter counter;
  request_view v = view_at("/asb/v1/cases/ASB-2026-000123", "", "2026-11-24T10:30:00Z");
  v.purpose.reset();
  CHECK(eng.decide_for("police", v, counter).why == reason::purpose_missing);
  v.purpose = "asb-case-management";
  CHECK(eng.decide_for("police", v, counter).why == reason::case_ref_missing);
  v.case_ref = "ASB-2026-000123";
  CHECK(eng.decide_for("police", v, counter).why == reason::acting_user_missing);
}

TEST_CASE("edge targets: an empty {name} segment matches no template") {
  auto set = load_ok(base_agreement);
  engine eng(set);
  memory_volume_counter counter;
  request_view v = view_at("/asb/v1/cases/", "", "2026-11-24T10:30:00Z");
  decision d = eng.decide_for("police", v, counter);
  CHECK(d.why == reason::no_agreement);
}

// --- identities -------------------------------------------------------------------------------

TEST_CASE("identities: RFC 4514 subjects are compared canonically") {
  auto key = [](std::string_view dn) {
    result<std::string> r = canonical_subject(dn, true);
    INFO(dn << ": " << r.error());
    REQUIRE(r);
    return r.value();
  };
  const std::string want = key("CN=police gw,O=Test Police,C=GB");
  CHECK(want == "CN=police gw,O=test police,C=gb");
  CHECK(key("cn=police gw, o=Test Police, c=GB") == want);
  CHECK(key("CN = Police  GW , O=TEST POLICE ,C=gb") == want);
  CHECK(key("commonName=police gw,organizationName=Test Police,countryName=GB") == want);
  CHECK(key("2.5.4.3=police gw,OID.2.5.4.10=Test Police,C=GB") == want);
  CHECK(key("CN=\\70olice gw,O=Test\\20Police,C=GB") == want);
  CHECK(key("CN=police gw,O=Test Police,C=GB ") == want);
  CHECK(key("OU=b+CN=a,O=x") == key("CN=a+OU=b,O=x"));    // order inside an RDN is not significant
  CHECK(key("O=Test Police,CN=police gw,C=GB") != want);  // RDN order is
  CHECK(key("CN=police gw,O=Test Police") != want);
  CHECK(key("CN=Caf\\C3\\A9\\, Ltd\\+,O=x") == key("CN=caf\xC3\xA9\\, ltd\\+,O=x"));
  CHECK(canonical_subject("CN=Caf\\C3\\A9\\, Ltd,O=x", false).value() ==
        "CN=Caf\xC3\xA9\\, Ltd,O=x");
  CHECK(key("1.2.3.4=#0C03616263,CN=x") == "1.2.3.4=#0c03616263,CN=x");
  for (const char* bad :
       {"", "   ", "CN", "CN=a;O=b", "=x", "CN=a,", "CN=\\q", "CN=a\"b", "C N=x", "CN=#0"}) {
    INFO(bad);
    CHECK_FALSE(canonical_subject(bad, true));
  }
}

TEST_CASE("identities: the subject OpenSSL prints for a certificate matches the written DN") {
  // The gateway formats a peer's subject with X509_NAME_print_ex(XN_FLAG_RFC2253).
  X509_NAME* name = X509_NAME_new();
  REQUIRE(name != nullptr);
  auto add = [&](const char* field, const char* value) {
    REQUIRE(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value), -1, -1,
                                       0) == 1);
  };
  add("C", "GB");
  add("O", "Caf\xC3\xA9 Police, Ltd");
  add("CN", "  #police gw+1 ");
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  const std::string printed(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  X509_NAME_free(name);
  INFO("OpenSSL printed: " << printed);

  const char* written = "cn=\\#police gw\\+1, o=Café Police\\, Ltd, c=gb";
  auto set = load_ok(replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"",
                             "subject: '" + std::string(written) + "'"));
  engine eng(set);
  request_identity id;
  id.trust_anchor = "partner-ca";
  id.subject = printed;
  identity_match m = eng.identify(id, at("2026-11-24T10:30:00Z"));
  CHECK(m.why == reason::allowed);
  CHECK(m.party == "police");
  // Prepared once per connection (as the gateway does): the same answer.
  request_identity prepared = id;
  prepare_identity(prepared);
  CHECK(prepared.subject_canonical.has_value());
  CHECK(eng.identify(prepared, at("2026-11-24T10:30:00Z")).party == "police");
  id.subject = "CN=#police gw+1,O=Other,C=GB";
  CHECK(eng.identify(id, at("2026-11-24T10:30:00Z")).why == reason::unknown_requester);
  prepare_identity(id);
  CHECK(eng.identify(id, at("2026-11-24T10:30:00Z")).why == reason::unknown_requester);
  // A subject that does not parse names nobody, prepared or not.
  id.subject = "not a distinguished name";
  prepare_identity(id);
  CHECK_FALSE(id.subject_canonical.has_value());
  CHECK(eng.identify(id, at("2026-11-24T10:30:00Z")).why == reason::unknown_requester);
}

TEST_CASE("identities: DNS SANs ignore letter case and a trailing dot") {
  auto set = load_ok(replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"",
                             "dns_san: \"gw.Police.test.\""));
  engine eng(set);
  request_identity id;
  id.trust_anchor = "partner-ca";
  for (const char* san : {"gw.police.test", "GW.POLICE.TEST", "gw.police.test."}) {
    id.dns_sans = {san};
    INFO(san);
    CHECK(eng.identify(id, at("2026-11-24T10:30:00Z")).party == "police");
    request_identity prepared = id;
    prepare_identity(prepared);
    CHECK(eng.identify(prepared, at("2026-11-24T10:30:00Z")).party == "police");
  }
  id.dns_sans = {"gw.police.test.evil"};
  CHECK(eng.identify(id, at("2026-11-24T10:30:00Z")).why == reason::unknown_requester);
}

TEST_CASE("identities: two spellings of one name for two parties are a conflict") {
  std::string text = replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"",
                             "subject: \"CN=gw,O=Shared\"");
  text = replace(text, "uri_san: \"spiffe://council.test/gw\"", "subject: \"cn=GW, o=shared\"");
  load_result r = load_texts({{"a.yaml", text}});
  REQUIRE_FALSE(r.ok());
  bool conflict = false;
  for (const auto& d : r.diagnostics) {
    conflict = conflict || d.code == "identity-conflict";
  }
  CHECK(conflict);
}

TEST_CASE("identities: lint shows the canonical form of a name written another way") {
  std::string text = replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"",
                             "subject: \"cn=police gw, o=Test Police\"");
  text = replace(text, "uri_san: \"spiffe://council.test/gw\"", "dns_san: \"GW.council.test.\"");
  load_options opts;
  opts.lint_warnings = true;
  load_result r = load_texts({{"a.yaml", text}}, opts);
  REQUIRE(r.ok());
  std::vector<std::string> notes;
  for (const auto& d : r.diagnostics) {
    if (d.code == "identity-normalised") {
      notes.push_back(d.message);
    }
  }
  REQUIRE(notes.size() == 2);
  CHECK_THAT(notes[0], Contains("is matched as 'CN=police gw,O=Test Police'"));
  CHECK_THAT(notes[1], Contains("is matched as 'gw.council.test'"));

  std::string bad =
      replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"", "subject: \"CN=a;O=b\"");
  load_result e = load_texts({{"a.yaml", bad}});
  REQUIRE_FALSE(e.ok());
  CHECK(e.diagnostics[0].code == "bad-identity");
  CHECK_THAT(e.diagnostics[0].message, Contains("unescaped ';'"));
}

TEST_CASE("identities: not_after is inclusive to the second, like X.509 notAfter") {
  auto set = load_ok(replace(base_agreement, "uri_san: \"spiffe://police.test/gw\"}",
                             "uri_san: \"spiffe://police.test/gw\", "
                             "not_after: \"2027-01-01T12:00:00Z\"}"));
  engine eng(set);
  request_identity id;
  id.trust_anchor = "partner-ca";
  id.uri_sans = {"spiffe://police.test/gw"};
  CHECK(eng.identify(id, at("2027-01-01T11:59:59Z")).why == reason::allowed);
  CHECK(eng.identify(id, at("2027-01-01T12:00:00Z")).why == reason::allowed);
  CHECK(eng.identify(id, at("2027-01-01T12:00:00.999999Z")).why == reason::allowed);
  CHECK(eng.identify(id, at("2027-01-01T12:00:01Z")).why == reason::unknown_requester);
}
