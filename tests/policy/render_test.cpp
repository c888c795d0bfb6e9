#include "render/render.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include "policy/loader.hpp"
#include "tests/common/temp_dir.hpp"

// The policy library keeps yaml-cpp private (docs/design.md §2): its public headers, and the
// render library's, must not pull it into the tools that use them.
#ifdef YAML_H_62B23520_7C8E_11DE_8A39_0800200C9A66
#error "policy/loader.hpp or render/render.hpp includes yaml-cpp"
#endif

namespace fs = std::filesystem;
using dsa::policy::agreement;
using dsa::policy::load_result;

namespace {

// A small agreement exercising every section of the rendered document. Hostile text sits in
// the title, a party name (a table cell), a purpose (a list item starting with '#'), a
// governance value and a header value.
constexpr std::string_view k_agreement = R"yaml(
schema: dsa/v1
id: render-test
version: "1.4.2"
title: "<script>alert('x')</script> Case sharing & more"
status: active
validity:
  from: 2026-04-01
  until: 2027-04-01
review:
  due: 2027-03-01
  overdue: deny
parties:
  - id: alpha
    name: "Alpha | Beta Council <b>"
    role: controller
    identities:
      - trust_anchor: partner-ca
        uri_san: "spiffe://alpha.example/gateway"
  - id: gamma
    name: Gamma Constabulary
    role: processor
    identities:
      - trust_anchor: partner-ca
        dns_san: gateway.gamma.example
legal:
  gateways:
    - id: cda-s115
      cite: Crime and Disorder Act 1998 s.115
  lawful_bases:
    - id: gdpr-6-1-e
      cite: UK GDPR Art 6(1)(e) — public task
purposes:
  - id: case-work
    description: "# Managing an open case"
  - id: case-audit
    description: Auditing closed cases.
data_categories:
  - id: case-record
    description: The council case record.
    personal_data: true
    special_category: false
    criminal_offence_data: true
    retention: Six years after the case closes.
endpoints:
  - id: case-read
    provider: alpha
    upstream: alpha-cases
    method: GET
    path: /cases/{case_id}
    path_params:
      case_id: "ASB-[0-9]{4}-[0-9]{6}"
    data_categories: [case-record]
    response:
      allow_fields: [/case_id, /subjects/*/name]
      max_items: {pointer: /subjects, max: 7}
      withhold_if:
        - {pointer: /restricted, equals: true}
      add_headers:
        Handling-Caveat: "OFFICIAL <i>SENSITIVE</i>"
  - id: case-raw
    provider: alpha
    upstream: alpha-cases
    method: GET
    path: /cases/{case_id}/raw
    path_params:
      case_id: "ASB-[0-9]{4}-[0-9]{6}"
    data_categories: [case-record]
permissions:
  - id: gamma-read
    assignee: gamma
    endpoints: [case-read, case-raw]
    purposes: [case-work, case-audit]
    lawful_basis: [gdpr-6-1-e]
    legal_gateway: [cda-s115]
    require:
      case_ref: "ASB-[0-9]{4}-[0-9]{6}"
      case_ref_param: case_id
      acting_user: "GP[0-9]{5}"
    time_windows:
      timezone: Europe/London
      allow:
        - {days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00"}
        - {days: [sat, sun], from: "10:00", to: "12:00"}
    volume_caps:
      - {scope: case_ref, window: P1D, max: 5}
      - {scope: acting_user, window: PT1H, max: 2}
      - {scope: assignee, window: P7D, max: 300}
prohibitions:
  - id: no-raw-audit
    assignee: any
    endpoints: [case-raw]
    purposes: [case-audit]
    reason: Raw records are never used for audits.
governance:
  breach_reporting: Within 24 hours to the other party's DPO.
  roles:
    alpha: Community Safety Manager
    gamma: Duty Inspector
  security:
    transport: Mutual TLS
    storage_controls:
      - Role-based access
      - "<img src=x onerror=alert(1)>"
  approvals:
    - {party: alpha, signed_by: Director of Communities, date: 2026-03-01}
)yaml";

// Writes `yaml` to a fresh file in the temporary directory, loads it, and removes the file.
struct loaded {
  load_result result;
  const agreement* a = nullptr;
};

loaded load_inline(std::string_view yaml) {
  loaded l;
  {
    const dsa::test::temp_dir dir("dsa-render-test");
    const fs::path file = dir.write("render-test.yaml", std::string(yaml));
    l.result = dsa::policy::load_agreements({file}, {});
  }
  for (const auto& d : l.result.diagnostics) {
    UNSCOPED_INFO(d.format());
  }
  if (l.result.ok() && !l.result.set->agreements.empty()) {
    l.a = l.result.set->agreements.front().get();
  }
  return l;
}

bool has(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::size_t pos(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle);
}

// Every '<' in Markdown outside a code span must be escaped, or it could open raw HTML.
std::string unescaped_angle_brackets(const std::string& md) {
  std::string found;
  bool in_code = false;
  for (std::size_t i = 0; i < md.size(); ++i) {
    const bool escaped = i > 0 && md[i - 1] == '\\';
    if (md[i] == '`' && !escaped) {
      in_code = !in_code;
    } else if (md[i] == '<' && !in_code && !escaped) {
      found += md.substr(i, 20) + "\n";
    }
  }
  return found;
}

// The names of the elements an HTML text opens or closes.
std::set<std::string> tag_names(const std::string& html) {
  std::set<std::string> names;
  for (auto at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    std::size_t i = at + 1;
    if (i < html.size() && html[i] == '/') {
      ++i;
    }
    std::size_t end = i;
    while (end < html.size() &&
           (std::isalnum(static_cast<unsigned char>(html[end])) || html[end] == '!')) {
      ++end;
    }
    names.insert(html.substr(i, end - i));
  }
  return names;
}

std::string replaced(std::string_view text, std::string_view from, std::string_view to) {
  std::string s(text);
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("markdown states who may request what, on which conditions", "[render]") {
  const loaded l = load_inline(k_agreement);
  REQUIRE(l.a != nullptr);
  const std::string md = dsa::policy::render_markdown(*l.a);

  // Identity, version, status and dates.
  CHECK(has(md, "`render-test`"));
  CHECK(has(md, "1.4.2"));
  CHECK(has(md, "**Active**"));
  CHECK(has(md, "From 00:00 on 1 April 2026 (UK time) until 00:00 on 1 April 2027 (UK time)"));
  CHECK(has(md, "Due by 1 March 2027"));
  CHECK(has(md, "from 2 March 2027 (UK date) the gateways refuse every request"));

  // Parties by name and role in plain words; identities only in the appendix.
  CHECK(has(md, "Gamma Constabulary"));
  CHECK(has(md, "Processor: uses the data only on a controller's documented instructions"));
  const auto appendix = pos(md, "## Technical appendix");
  REQUIRE(appendix != std::string::npos);
  CHECK(pos(md, "spiffe://alpha.example/gateway") > appendix);
  CHECK(pos(md, "gateway.gamma.example") > appendix);

  // Legal basis, purposes and data categories.
  CHECK(has(md, "Crime and Disorder Act 1998 s.115"));
  CHECK(has(md, "UK GDPR Art 6(1)(e) — public task"));
  CHECK(has(md, "Auditing closed cases."));
  CHECK(has(md,
            "| The council case record. *(ref. case-record)* | Yes | No | Yes | Six years "
            "after the case closes. |"));

  // The permission: who, what, for which purposes, under which conditions.
  CHECK(has(md, "- **Who may ask:** **Gamma Constabulary**"));
  CHECK(has(md, "**Read** (`GET`) `/cases/{case_id}` at Alpha \\| Beta Council"));
  CHECK(has(md,
            "A case reference is required on every request (DSA-Case-Ref header), in the "
            "form “ASB-” followed by 4 digits, “-” and 6 digits (pattern "
            "`ASB-[0-9]{4}-[0-9]{6}`)."));
  CHECK(has(md, "must be the same as the `{case_id}` in the address"));
  CHECK(has(md, "A named user is required"));
  CHECK(has(md, "in the form “GP” followed by 5 digits"));
  CHECK(has(md,
            "Monday to Friday, 08:00–18:00; and Saturday and Sunday, 10:00–12:00 "
            "(Europe/London local time)"));
  CHECK(has(md, "At most 5 requests per day per case reference"));
  CHECK(has(md, "At most 2 requests per hour per named user"));
  CHECK(has(md, "At most 300 requests per week in total for Gamma Constabulary"));
  CHECK(has(md,
            "**Not permitted:** **Read** (`GET`) `/cases/{case_id}/raw` for “Auditing "
            "closed cases”"));

  // What leaves: allowed fields, limits, withhold rules, headers, and the unfiltered warning.
  CHECK(has(md, "everything else is removed"));
  CHECK(has(md, "- `case_id`\n- `subjects` › every item › `name`\n"));
  CHECK(has(md, "At most 7 items in `subjects`; a longer list withholds the whole response"));
  CHECK(has(md, "The whole response is withheld when `restricted` is true."));
  CHECK(has(md, "`Handling-Caveat: OFFICIAL <i>SENSITIVE</i>`"));
  const auto raw = pos(md, "### Read (GET) /cases/{case\\_id}/raw");
  REQUIRE(raw != std::string::npos);
  CHECK(pos(md, "The whole response is disclosed unfiltered") > raw);

  // Prohibitions.
  CHECK(has(md,
            "| Every party | **Read** (`GET`) `/cases/{case_id}/raw` | Auditing closed "
            "cases. | Raw records are never used for audits."));

  // Governance: keys humanised, party ids named, nested mappings and lists kept.
  CHECK(has(md, "### Breach reporting\n\nWithin 24 hours to the other party's DPO."));
  CHECK(has(md, "- **Gamma Constabulary:** Duty Inspector"));
  CHECK(has(md,
            "### Security\n\n#### Transport\n\nMutual TLS\n\n#### Storage controls\n\n"
            "- Role-based access\n"));
  CHECK(has(md, "| Party | Signed by | Date |"));

  // Sign-off block after governance, one per party, and the SHA-256 in the footer.
  const auto signoff = pos(md, "## Sign-off");
  REQUIRE(signoff != std::string::npos);
  CHECK(signoff > pos(md, "## Governance"));
  CHECK(pos(md, "**Signed for Gamma Constabulary** (Processor)") > signoff);
  CHECK(pos(md, "**Signed for Alpha \\| Beta Council \\<b\\>** (Controller)") > signoff);
  CHECK(has(md, "| Signature | |\n| Name | |\n| Position | |\n| Date | |"));
  CHECK(has(md, "Approval recorded in the file: Director of Communities, 2026-03-01"));
  REQUIRE(l.a->sha256.size() == 64);
  const auto footer = md.rfind("\n---\n");
  REQUIRE(footer != std::string::npos);
  CHECK(md.find(l.a->sha256, footer) != std::string::npos);
  CHECK(md.find("render-test.yaml", footer) != std::string::npos);
}

TEST_CASE("markdown escapes text that would change the document's structure", "[render]") {
  const loaded l = load_inline(k_agreement);
  REQUIRE(l.a != nullptr);
  const std::string md = dsa::policy::render_markdown(*l.a);

  // A `|` in a party name must not split a table cell.
  CHECK(has(md, "| **Alpha \\| Beta Council \\<b\\>** |"));
  CHECK_FALSE(has(md, "Alpha | Beta"));
  // A purpose starting with '#' is a list item, not a heading.
  CHECK(has(md, "- \\# Managing an open case"));
  CHECK_FALSE(has(md, "\n# Managing"));
  // Raw HTML does not pass through.
  CHECK(unescaped_angle_brackets(md).empty());
  CHECK(has(md, "\\<img src=x onerror=alert(1)\\>"));
  CHECK(has(md, "# \\<script\\>alert('x')\\</script\\> Case sharing & more\n"));
}

TEST_CASE("a suspended agreement says so, with its reason, before anything else", "[render]") {
  const std::string yaml =
      replaced(k_agreement, "status: active",
               "status: suspended\nstatus_reason: Paused by the DPO pending a new DPIA.");
  const loaded l = load_inline(yaml);
  REQUIRE(l.a != nullptr);
  const std::string md = dsa::policy::render_markdown(*l.a);
  const auto warning = pos(md, "> **⚠** **Status: Suspended.**");
  REQUIRE(warning != std::string::npos);
  CHECK(warning < pos(md, "## Parties"));
  CHECK(md.find("**Paused by the DPO pending a new DPIA.**", warning) < pos(md, "## Parties"));
  const std::string html = dsa::policy::render_html(*l.a);
  const auto box = pos(html, "<div class=\"warning\"");
  REQUIRE(box != std::string::npos);
  CHECK(box < pos(html, "<h2 id=\"parties\">"));
  CHECK(html.find("Paused by the DPO pending a new DPIA.", box) < pos(html, "<h2"));

  // An active agreement carries no such warning.
  const loaded active = load_inline(k_agreement);
  REQUIRE(active.a != nullptr);
  CHECK_FALSE(has(dsa::policy::render_markdown(*active.a), "Status: Suspended"));
}

TEST_CASE("a review that only warns says requests continue", "[render]") {
  const loaded l = load_inline(replaced(k_agreement, "overdue: deny", "overdue: warn"));
  REQUIRE(l.a != nullptr);
  const std::string md = dsa::policy::render_markdown(*l.a);
  CHECK(has(md, "If the review is overdue, requests are still permitted"));
  CHECK_FALSE(has(md, "the gateways refuse every request under this agreement until a reviewed"));
}

TEST_CASE("html is one self-contained, escaped, printable page", "[render]") {
  const loaded l = load_inline(k_agreement);
  REQUIRE(l.a != nullptr);
  const std::string html = dsa::policy::render_html(*l.a);

  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en-GB\">", 0) == 0);
  CHECK(has(html, "</html>\n"));
  CHECK(has(html, "@page { size: A4;"));
  // No scripts and nothing fetched from elsewhere.
  CHECK_FALSE(has(html, "<script"));
  CHECK_FALSE(has(html, "<img"));
  CHECK_FALSE(has(html, "<link"));
  const std::set<std::string> allowed{
      "!DOCTYPE", "html", "head", "meta", "title",  "style", "body",  "main",  "footer",
      "h1",       "h2",   "h3",   "h4",   "h5",     "h6",    "p",     "div",   "section",
      "span",     "ul",   "li",   "dl",   "dt",     "dd",    "table", "thead", "tbody",
      "tr",       "th",   "td",   "code", "strong", "em"};
  for (const std::string& tag : tag_names(html)) {
    INFO("tag <" << tag << ">");
    CHECK(allowed.count(tag) == 1);
  }
  CHECK_FALSE(has(html, "http://"));
  CHECK_FALSE(has(html, "https://"));
  CHECK_FALSE(has(html, "<b>"));
  CHECK_FALSE(has(html, "<i>"));
  // Hostile values are escaped, not dropped.
  CHECK(has(html,
            "<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Case sharing &amp; "
            "more — version 1.4.2</title>"));
  CHECK(has(html,
            "<h1>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Case sharing &amp; "
            "more</h1>"));
  CHECK(has(html, "Alpha | Beta Council &lt;b&gt;"));
  CHECK(has(html, "&lt;img src=x onerror=alert(1)&gt;"));
  CHECK(has(html, "<code>Handling-Caveat: OFFICIAL &lt;i&gt;SENSITIVE&lt;/i&gt;</code>"));

  // The same facts as the Markdown.
  CHECK(has(html, "Monday to Friday, 08:00–18:00"));
  CHECK(has(html, "At most 5 requests per day per case reference"));
  CHECK(has(html, "<code>subjects</code> › every item › <code>name</code>"));
  CHECK(has(html, "The whole response is withheld when <code>restricted</code> is true."));
  CHECK(has(html, "The whole response is disclosed unfiltered"));
  CHECK(has(html, "<h3>Signed for Gamma Constabulary</h3>"));
  CHECK(has(html, "<div class=\"sigline\"><span>Signature</span></div>"));
  REQUIRE(l.a->sha256.size() == 64);
  const auto footer = pos(html, "<footer>");
  REQUIRE(footer != std::string::npos);
  CHECK(html.find(l.a->sha256, footer) != std::string::npos);
  CHECK(html.find("render-test.yaml", footer) != std::string::npos);
}

TEST_CASE("rendering is deterministic", "[render]") {
  const loaded l = load_inline(k_agreement);
  REQUIRE(l.a != nullptr);
  CHECK(dsa::policy::render_markdown(*l.a) == dsa::policy::render_markdown(*l.a));
  CHECK(dsa::policy::render_html(*l.a) == dsa::policy::render_html(*l.a));
}

TEST_CASE("the shipped example agreements render", "[render]") {
  const fs::path dir = fs::path(DSA_SOURCE_DIR) / "agreements";
  const load_result r = dsa::policy::load_agreements({dir}, {});
  for (const auto& d : r.diagnostics) {
    UNSCOPED_INFO(d.format());
  }
  REQUIRE(r.ok());
  REQUIRE_FALSE(r.set->agreements.empty());
  for (const auto& a : r.set->agreements) {
    INFO(a->id);
    const std::string md = dsa::policy::render_markdown(*a);
    const std::string html = dsa::policy::render_html(*a);
    CHECK(md.rfind("# ", 0) == 0);
    CHECK(a->sha256.size() == 64);
    CHECK(has(md, a->sha256));
    CHECK(has(html, a->sha256));
    std::size_t signatures = 0;
    for (auto at = md.find("**Signed for "); at != std::string::npos;
         at = md.find("**Signed for ", at + 1)) {
      ++signatures;
    }
    CHECK(signatures == a->parties.size());
    CHECK_FALSE(has(html, "<script"));
  }
}

TEST_CASE("governance nested deeper than the document can show is quoted as its YAML", "[render]") {
  std::string deep = "{leaf: x, seq: [1, 2]}";
  for (int level = 13; level >= 2; --level) {
    deep = "{l" + std::to_string(level) + ": " + deep + "}";
  }
  const loaded l =
      load_inline(replaced(k_agreement, "governance:\n", "governance:\n  deep: " + deep + "\n"));
  REQUIRE(l.a != nullptr);
  CHECK(has(dsa::policy::render_markdown(*l.a), "- **L13:** `{leaf: x, seq: [1, 2]}`"));
  CHECK(has(dsa::policy::render_html(*l.a), "<dd><code>{leaf: x, seq: [1, 2]}</code></dd>"));
}

TEST_CASE("an approval without a party, a signer or a date still renders", "[render]") {
  // Before the governance tree was the loader's own (model.hpp, free_value), a missing key here
  // made yaml-cpp throw out of `dsa render`.
  const loaded l = load_inline(replaced(
      k_agreement, "    - {party: alpha, signed_by: Director of Communities, date: 2026-03-01}",
      "    - {party: alpha}\n    - {signed_by: Someone}"));
  REQUIRE(l.a != nullptr);
  const std::string md = dsa::policy::render_markdown(*l.a);
  CHECK(has(md, "*Approval recorded in the file: —*"));
  CHECK(has(dsa::policy::render_html(*l.a), "Approval recorded in the file: —"));
}
