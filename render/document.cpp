// Building the rendered document from an agreement: one pass over the model in the order the
// signatories read it (docs/agreements.md §3 explains each section). See document.hpp.
//
// This file is longer than the project's ~700-line guide because it is one class walking the
// agreement section by section, in the document's order; the governance section, which follows
// the file's own shape rather than the model's, is in governance.cpp.

#include "render/document.hpp"

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <string_view>

#include "policy/time.hpp"
#include "render/words.hpp"

namespace dsa::policy::doc {

using namespace std::chrono;

block heading(int level, std::string title, std::string anchor) {
  block b;
  b.k = block::kind::heading;
  b.level = level;
  b.text = {text(std::move(title))};
  b.anchor = std::move(anchor);
  return b;
}

block para(line l, block::kind k) {
  block b;
  b.k = k;
  b.text = std::move(l);
  return b;
}

block bullet_list(std::vector<line> lines) {
  block b;
  b.k = block::kind::list;
  for (line& l : lines) {
    b.items.push_back({para(std::move(l))});
  }
  return b;
}

block fields_block() {
  block b;
  b.k = block::kind::fields;
  return b;
}

void add_field(block& f, std::string term, line value) {
  f.terms.emplace_back(line{text(std::move(term))}, blocks{para(std::move(value))});
}

namespace {

// "in the form “ASB-” followed by 4 digits … (pattern `…`)" as a line fragment.
void append_pattern(line& l, const std::string& re) {
  if (auto words = describe_pattern(re)) {
    l.push_back(text("in the form " + *words + " (pattern "));
  } else {
    l.push_back(text("matching the pattern "));
    l.push_back(code(re));
    return;
  }
  l.push_back(code(re));
  l.push_back(text(")"));
}

// A JSON Pointer read aloud: "/subjects/*/name" → `subjects` › every item › `name`.
void append_pointer(line& l, const json_pointer& p) {
  if (p.segments.empty()) {
    l.push_back(text("the whole response body"));
    return;
  }
  for (std::size_t i = 0; i < p.segments.size(); ++i) {
    if (i > 0) {
      l.push_back(text(" › "));
    }
    if (p.segments[i] == "*") {
      l.push_back(text("every item"));
    } else {
      l.push_back(code(p.segments[i]));
    }
  }
}

class builder {
 public:
  explicit builder(const agreement& a) : a_(a) {}

  blocks build() {
    header();
    parties();
    legal();
    purposes();
    data_categories();
    permissions();
    endpoints();
    prohibitions();
    governance();
    sign_off();
    appendix();
    return std::move(doc_);
  }

 private:
  const agreement& a_;
  blocks doc_;

  void add(block b) { doc_.push_back(std::move(b)); }

  std::string party_name(std::string_view id) const { return doc::party_name(a_, id); }

  const citation* find_citation(const std::vector<citation>& list, std::string_view id) const {
    for (const citation& c : list) {
      if (c.id == id) {
        return &c;
      }
    }
    return nullptr;
  }

  const data_category* find_category(std::string_view id) const {
    for (const data_category& c : a_.data_categories) {
      if (c.id == id) {
        return &c;
      }
    }
    return nullptr;
  }

  // "Read (GET) /asb/v1/cases/{case_id}"
  void append_endpoint(line& l, const endpoint& e) const {
    l.push_back(strong(method_words(e.method)));
    l.push_back(text(" ("));
    l.push_back(code(e.method));
    l.push_back(text(") "));
    l.push_back(code(e.path));
  }

  void header() {
    add(heading(1, squash(a_.title)));
    if (a_.status != agreement_status::active) {
      line l{strong("Status: " + status_words(a_.status) + ".")};
      l.push_back(text(" " + status_effect(a_.status)));
      if (!a_.status_reason.empty()) {
        l.push_back(text(" Reason: "));
        l.push_back(strong(squash(a_.status_reason)));
      }
      add(para(std::move(l), block::kind::warning));
    }
    block f = fields_block();
    f.terms.emplace_back(line{text("Agreement id")}, blocks{para({code(a_.id)})});
    add_field(f, "Version", {text(squash(a_.version))});
    {
      line l{strong(status_words(a_.status))};
      l.push_back(text(" — " + status_effect(a_.status)));
      if (!a_.status_reason.empty()) {
        l.push_back(text(" Reason: " + squash(a_.status_reason)));
      }
      add_field(f, "Status", std::move(l));
    }
    {
      line l;
      if (a_.valid_from_text.empty() && a_.valid_until_text.empty() &&
          a_.valid_from == time_point{} && a_.valid_until == time_point{}) {
        l.push_back(text("Not stated."));
      } else {
        l.push_back(text("From " + uk_time(a_.valid_from) + " until " + uk_time(a_.valid_until) +
                         "; the agreement ends at that moment. Written in the file as from "));
        l.push_back(code(a_.valid_from_text));
        l.push_back(text(" until "));
        l.push_back(code(a_.valid_until_text));
        l.push_back(text(" (UTC " + format_instant(a_.valid_from) + " to " +
                         format_instant(a_.valid_until) + ")."));
      }
      add_field(f, "In force", std::move(l));
    }
    {
      line l;
      if (!a_.review_due) {
        l.push_back(text("No review date is set."));
      } else {
        l.push_back(text("Due by " + long_date(*a_.review_due) + ". "));
        if (a_.review_overdue_denies) {
          const auto next = date::year_month_day{date::sys_days{*a_.review_due} + date::days{1}};
          l.push_back(strong("If the review is overdue, requests are refused:"));
          l.push_back(text(" from " + long_date(next) +
                           " (UK date) the gateways refuse every request under this agreement "
                           "until a reviewed version is deployed."));
        } else {
          l.push_back(
              text("If the review is overdue, requests are still permitted, but the "
                   "agreement is reported as overdue for review (warning only)."));
        }
      }
      add_field(f, "Review", std::move(l));
    }
    add_field(f, "File", {code(file_name(a_)), text(", SHA-256 "), code(a_.sha256)});
    add(std::move(f));
  }

  void parties() {
    add(heading(2, "Parties", "parties"));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Party")}, {text("Role")}};
    for (const party& p : a_.parties) {
      t.rows.push_back({{strong(squash(p.name))}, {text(role_explained(p.role))}});
    }
    add(std::move(t));
    add(para({text("Each party's gateway certificate identities are listed in the technical "
                   "appendix.")},
             block::kind::note));
  }

  void legal() {
    add(heading(2, "Legal basis", "legal-basis"));
    add(heading(3, "Legal gateways (the powers that allow the sharing)"));
    add(citations(a_.legal_gateways));
    add(heading(3, "Lawful bases for processing"));
    add(citations(a_.lawful_bases));
  }

  static block citations(const std::vector<citation>& list) {
    std::vector<line> lines;
    for (const citation& c : list) {
      lines.push_back({text(squash(c.cite) + " "), em("(ref. " + c.id + ")")});
    }
    if (lines.empty()) {
      return para({text("None stated.")});
    }
    return bullet_list(std::move(lines));
  }

  void purposes() {
    add(heading(2, "Purposes", "purposes"));
    add(
        para({text("Data may be shared under this agreement only for these purposes. Every "
                   "request must name one of them (in its DSA-Purpose header).")}));
    std::vector<line> lines;
    for (const purpose& p : a_.purposes) {
      lines.push_back({text(squash(p.description) + " "), em("(ref. " + p.id + ")")});
    }
    add(bullet_list(std::move(lines)));
  }

  void data_categories() {
    add(heading(2, "Data categories", "data-categories"));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Category")},
                {text("Personal data")},
                {text("Special category")},
                {text("Criminal offence data")},
                {text("Retention")}};
    auto yn = [](bool b) { return line{text(b ? "Yes" : "No")}; };
    for (const data_category& c : a_.data_categories) {
      t.rows.push_back({{text(squash(c.description) + " "), em("(ref. " + c.id + ")")},
                        yn(c.personal_data),
                        yn(c.special_category),
                        yn(c.criminal_offence_data),
                        {text(squash(c.retention))}});
    }
    add(std::move(t));
  }

  std::vector<const prohibition*> prohibitions_for(const permission& p) const {
    std::vector<const prohibition*> out;
    for (const prohibition& x : a_.prohibitions) {
      if (x.assignee != "any" && x.assignee != p.assignee) {
        continue;
      }
      bool endpoint = std::any_of(x.endpoints.begin(), x.endpoints.end(), [&](const auto& e) {
        return std::find(p.endpoints.begin(), p.endpoints.end(), e) != p.endpoints.end();
      });
      bool purpose =
          x.purposes.empty() ||
          std::any_of(x.purposes.begin(), x.purposes.end(), [&](const auto& u) {
            return std::find(p.purposes.begin(), p.purposes.end(), u) != p.purposes.end();
          });
      if (endpoint && purpose) {
        out.push_back(&x);
      }
    }
    return out;
  }

  std::string purpose_text(std::string_view id) const {
    if (const purpose* u = a_.find_purpose(id)) {
      return squash(u->description);
    }
    return std::string(id);
  }

  // docs/agreements.md §3.10: who may use the emergency route, what they must send, and the
  // review every disclosure under it gets.
  void emergency_field(block& f, const permission& p) {
    const emergency_terms& t = *p.emergency;
    line l{
        text("Used only when the requester declares an emergency, giving an incident "
             "reference (DSA-Emergency header) ")};
    append_pattern(l, t.incident_ref.text);
    l.push_back(text(" and a justification of at least " +
                     plural(t.min_justification, "character", "characters") +
                     " (DSA-Emergency-Justification header); a declared emergency uses no other "
                     "permission. Every disclosure is recorded with the incident and the "
                     "justification, and reviewed within " +
                     duration_words(t.review_within, t.review_within_text) + "."));
    add_field(f, "Emergency", std::move(l));
    if (!t.response) {
      return;
    }
    const response_rules& r = *t.response;
    if (r.has_allow_fields && !r.allow_fields.empty()) {
      std::vector<line> lines;
      for (const json_pointer& ptr : r.allow_fields) {
        line pl;
        append_pointer(pl, ptr);
        lines.push_back(std::move(pl));
      }
      f.terms.emplace_back(
          line{text("Released in an emergency")},
          blocks{para({text("Only these fields, in place of the service's own rules:")}),
                 bullet_list(std::move(lines))});
    } else if (r.has_allow_fields) {
      add_field(f, "Released in an emergency",
                {text("Nothing from the response body, in place of the service's own rules.")});
    } else {
      add_field(f, "Released in an emergency",
                {text("The response rules written in this permission's emergency block, in place "
                      "of the service's own (see the agreement file).")});
    }
  }

  void permission_section(const permission& p) {
    add(heading(4, (p.emergency ? "Emergency permission " : "Permission ") + p.id,
                "permission-" + p.id));
    block f = fields_block();
    add_field(f, "Who may ask", {strong(party_name(p.assignee))});
    if (p.emergency) {
      emergency_field(f, p);
    }

    {
      block what;
      what.k = block::kind::list;
      for (const std::string& id : p.endpoints) {
        line l;
        if (const endpoint* e = a_.find_endpoint(id)) {
          append_endpoint(l, *e);
          l.push_back(text(" at " + party_name(e->provider)));
          std::vector<std::string> cats;
          for (const std::string& c : e->data_categories) {
            const data_category* dc = find_category(c);
            cats.push_back(dc != nullptr ? squash(dc->description) : c);
          }
          if (!cats.empty()) {
            l.push_back(text(" — " + join_words(cats, "; ")));
          }
          l.push_back(text(" "));
          l.push_back(em("(endpoint " + e->id + "; what leaves is set out below)"));
        } else {
          l.push_back(code(id));
        }
        what.items.push_back({para(std::move(l))});
      }
      f.terms.emplace_back(line{text("What")}, blocks{std::move(what)});
    }

    {
      std::vector<line> lines;
      for (const std::string& id : p.purposes) {
        lines.push_back({text(purpose_text(id))});
      }
      f.terms.emplace_back(line{text("For these purposes only")},
                           blocks{bullet_list(std::move(lines))});
    }

    auto cites = [&](const std::vector<std::string>& ids, const std::vector<citation>& list) {
      std::vector<line> lines;
      for (const std::string& id : ids) {
        const citation* c = find_citation(list, id);
        lines.push_back({text(c != nullptr ? squash(c->cite) : id)});
      }
      return bullet_list(std::move(lines));
    };
    f.terms.emplace_back(line{text("Lawful basis")},
                         blocks{cites(p.lawful_basis, a_.lawful_bases)});
    f.terms.emplace_back(line{text("Legal gateway")},
                         blocks{cites(p.legal_gateway, a_.legal_gateways)});

    {
      std::vector<line> conds;
      const requirements& r = p.require;
      if (r.case_ref_required()) {
        line l{text("A case reference is required on every request (DSA-Case-Ref header)")};
        if (r.case_ref) {
          l.push_back(text(", "));
          append_pattern(l, r.case_ref->text);
        }
        l.push_back(text("."));
        conds.push_back(std::move(l));
      }
      if (!r.case_ref_param.empty()) {
        conds.push_back({text("The case reference must be the same as the "),
                         code("{" + r.case_ref_param + "}"),
                         text(" in the address requested, so a request can only reach the "
                              "record of the case it names.")});
      }
      if (r.acting_user) {
        line l{
            text("A named user is required: every request must identify the member of "
                 "staff making it (DSA-Acting-User header), ")};
        append_pattern(l, r.acting_user->text);
        l.push_back(text(". The name is recorded in the audit log."));
        conds.push_back(std::move(l));
      }
      if (p.windows) {
        std::vector<std::string> spans;
        for (const time_window& w : p.windows->allow) {
          spans.push_back(days_words(w.days) + ", " + hhmm(w.from_minute) + "–" +
                          hhmm(w.to_minute));
        }
        conds.push_back(
            {text("Only at these times: " + join_words(spans, "; and ") + " (" +
                  p.windows->timezone + " local time). Requests at any other time are refused.")});
      }
      for (const volume_cap& c : p.volume_caps) {
        std::string scope;
        switch (c.scope) {
          case cap_scope::assignee:
            scope = "in total for " + party_name(p.assignee);
            break;
          case cap_scope::case_ref:
            scope = "per case reference";
            break;
          case cap_scope::acting_user:
            scope = "per named user";
            break;
          case cap_scope::incident:
            scope = "per emergency incident";
            break;
        }
        conds.push_back({text("At most " + plural(c.max, "request", "requests") + " per " +
                              window_words(c) + " " + scope + "; further requests are refused.")});
      }
      if (conds.empty()) {
        conds.push_back({text("No further conditions.")});
      }
      f.terms.emplace_back(line{text("Conditions")}, blocks{bullet_list(std::move(conds))});
    }

    auto prohibited = prohibitions_for(p);
    if (!prohibited.empty()) {
      std::vector<line> lines;
      for (const prohibition* x : prohibited) {
        line l{strong("Not permitted:"), text(" ")};
        bool first = true;
        for (const std::string& id : x->endpoints) {
          const endpoint* e = a_.find_endpoint(id);
          if (e == nullptr ||
              std::find(p.endpoints.begin(), p.endpoints.end(), id) == p.endpoints.end()) {
            continue;
          }
          if (!first) {
            l.push_back(text("; "));
          }
          first = false;
          append_endpoint(l, *e);
        }
        std::vector<std::string> purposes;
        for (const std::string& u : x->purposes) {
          purposes.push_back("“" + strip_period(purpose_text(u)) + "”");
        }
        l.push_back(text(purposes.empty() ? std::string(" for any purpose")
                                          : " for " + join_words(purposes, " or ")));
        l.push_back(text(". "));
        l.push_back(em("(prohibition " + x->id + ", which always wins; see Prohibitions)"));
        lines.push_back(std::move(l));
      }
      f.terms.emplace_back(line{text("Exceptions")}, blocks{bullet_list(std::move(lines))});
    }
    add(std::move(f));
  }

  void permissions() {
    add(heading(2, "What each partner may request", "permissions"));
    add(
        para({text("Anything not listed here is refused. Each request must come from the named "
                   "partner's gateway, during the agreement's validity period, and meet every "
                   "condition listed.")}));
    for (const party& who : a_.parties) {
      std::vector<const permission*> mine;
      for (const permission& p : a_.permissions) {
        if (p.assignee == who.id) {
          mine.push_back(&p);
        }
      }
      if (mine.empty()) {
        continue;
      }
      add(heading(3, squash(who.name) + " may request"));
      for (const permission* p : mine) {
        permission_section(*p);
      }
    }
    // Permissions whose assignee is not a listed party (the loader refuses these; kept for
    // hand-built models so nothing the engine would allow is left out of the document).
    for (const permission& p : a_.permissions) {
      if (a_.find_party(p.assignee) == nullptr) {
        add(heading(3, p.assignee + " may request"));
        permission_section(p);
      }
    }
    bool rolling = std::any_of(a_.permissions.begin(), a_.permissions.end(),
                               [](const permission& p) { return !p.volume_caps.empty(); });
    if (rolling) {
      add(para({text("Request limits are rolling: they count the requests allowed under the same "
                     "permission in the period immediately before each request (“per day” means "
                     "the previous 24 hours, not the calendar day; “per hour” the previous 60 "
                     "minutes).")},
               block::kind::note));
    }
  }

  void endpoint_section(const endpoint& e) {
    add(heading(3, method_words(e.method) + " (" + e.method + ") " + e.path, "endpoint-" + e.id));
    block f = fields_block();
    add_field(f, "Provided by",
              {strong(party_name(e.provider)), text(" "), em("(endpoint " + e.id + ")")});
    {
      std::vector<std::string> cats;
      for (const std::string& c : e.data_categories) {
        const data_category* dc = find_category(c);
        cats.push_back(dc != nullptr ? squash(dc->description) : c);
      }
      add_field(f, "Data",
                {text(cats.empty() ? std::string("None stated.") : join_words(cats, "; "))});
    }
    {
      std::vector<line> ids;
      for (const path_param& pp : e.path_params) {
        line l{code("{" + pp.name + "}"), text(": ")};
        if (pp.re) {
          append_pattern(l, pp.re->text);
        } else {
          l.push_back(text("any value"));
        }
        ids.push_back(std::move(l));
      }
      if (!e.query_allowed) {
        ids.push_back({text("No query string is allowed.")});
      } else {
        for (const query_param& q : e.query_params) {
          line l{code(q.name), text(q.required ? " (required): " : " (optional): ")};
          append_pattern(l, q.re.text);
          ids.push_back(std::move(l));
        }
        ids.push_back({text("Any other query parameter is refused.")});
      }
      if (!ids.empty()) {
        f.terms.emplace_back(line{text("Address")}, blocks{bullet_list(std::move(ids))});
      }
    }
    {
      std::vector<line> who;
      for (const permission& p : a_.permissions) {
        if (std::find(p.endpoints.begin(), p.endpoints.end(), e.id) != p.endpoints.end()) {
          who.push_back({text(party_name(p.assignee) + " "),
                         em(std::string(p.emergency ? "(emergency permission " : "(permission ") +
                            p.id + ")")});
        }
      }
      if (who.empty()) {
        who.push_back({text("No partner has a permission for it.")});
      }
      f.terms.emplace_back(line{text("Who may request it")}, blocks{bullet_list(std::move(who))});
    }
    add(std::move(f));

    const response_rules& r = e.response;
    if (!e.has_response || !r.filters()) {
      add(para({strong("Warning: no response rules."),
                text(" The whole response is disclosed unfiltered: whatever the provider's "
                     "system returns for this request leaves as it is.")},
               block::kind::warning));
    }
    if (r.has_allow_fields) {
      if (r.allow_fields.empty()) {
        add(para({strong("Fields released: none."),
                  text(" Nothing from the response body is released.")}));
      } else {
        add(para({strong("Fields released"),
                  text(" (everything else is removed; a field that contains further fields is "
                       "released with everything inside it):")}));
        std::vector<line> lines;
        for (const json_pointer& p : r.allow_fields) {
          line l;
          append_pointer(l, p);
          lines.push_back(std::move(l));
        }
        add(bullet_list(std::move(lines)));
      }
    } else if (e.has_response && r.filters()) {
      add(para({strong("Fields released: all."),
                text(" No list of fields is set, so every field of the response is released "
                     "unless a rule below withholds it.")},
               block::kind::warning));
    }
    std::vector<line> rules;
    if (r.max_items) {
      line l{text("At most " + number(r.max_items->max) + " items in ")};
      append_pointer(l, r.max_items->pointer);
      l.push_back(text("; a longer list withholds the whole response (it is not cut short)."));
      rules.push_back(std::move(l));
    }
    for (const withhold_rule& w : r.withhold_if) {
      line l{text("The whole response is withheld when ")};
      append_pointer(l, w.pointer);
      l.push_back(text(" is " + json_value_words(w.equals_json) + "."));
      rules.push_back(std::move(l));
    }
    for (const auto& [name, value] : r.add_headers) {
      rules.push_back({text("Every response released carries the header "),
                       code(name + ": " + value), text(".")});
    }
    if (!rules.empty()) {
      add(bullet_list(std::move(rules)));
    }
  }

  void endpoints() {
    add(heading(2, "What leaves each system", "responses"));
    add(
        para({text("For each service a partner may call: the fields of the response that are "
                   "released and the rules that withhold a response entirely. The gateway applies "
                   "these rules before anything leaves, and records every disclosure in its "
                   "audit log.")}));
    for (const endpoint& e : a_.endpoints) {
      endpoint_section(e);
    }
  }

  void prohibitions() {
    add(heading(2, "Prohibitions", "prohibitions"));
    if (a_.prohibitions.empty()) {
      add(para({text("None.")}));
      return;
    }
    add(para({text("A prohibition always overrides a permission.")}));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Who")}, {text("May not request")}, {text("For")}, {text("Why")}};
    for (const prohibition& x : a_.prohibitions) {
      line who{text(x.assignee == "any" ? std::string("Every party") : party_name(x.assignee))};
      line what;
      for (const std::string& id : x.endpoints) {
        if (!what.empty()) {
          what.push_back(text("; "));
        }
        if (const endpoint* e = a_.find_endpoint(id)) {
          append_endpoint(what, *e);
        } else {
          what.push_back(code(id));
        }
      }
      std::vector<std::string> purposes;
      for (const std::string& u : x.purposes) {
        purposes.push_back(purpose_text(u));
      }
      line purposes_line{
          text(purposes.empty() ? std::string("Any purpose") : join_words(purposes, "; "))};
      t.rows.push_back({std::move(who),
                        std::move(what),
                        std::move(purposes_line),
                        {text(squash(x.reason) + " "), em("(ref. " + x.id + ")")}});
    }
    add(std::move(t));
  }

  void governance() {
    blocks b = governance_blocks(a_);
    std::move(b.begin(), b.end(), std::back_inserter(doc_));
  }

  void sign_off() {
    add(heading(2, "Sign-off", "sign-off"));
    add(para({text("By signing, each party agrees to share data as set out above. This document "
                   "describes agreement "),
              code(a_.id), text(" version " + squash(a_.version) + ", file "), code(file_name(a_)),
              text(" with SHA-256 "), code(a_.sha256),
              text("; a signed copy applies only to a deployed file with the same SHA-256.")}));
    block s;
    s.k = block::kind::signatures;
    const free_value* approvals = a_.governance ? a_.governance->find("approvals") : nullptr;
    auto scalar = [](const free_value& item, std::string_view key) -> const std::string* {
      const free_value* v = item.find(key);
      return v != nullptr && v->k == free_value::kind::scalar ? &v->scalar : nullptr;
    };
    for (const party& p : a_.parties) {
      signatory who{squash(p.name), capitalise(role_words(p.role)), {}};
      if (approvals != nullptr && approvals->k == free_value::kind::sequence) {
        for (const free_value& item : approvals->items) {
          const std::string* who_party = scalar(item, "party");
          if (item.k == free_value::kind::mapping && who_party != nullptr && *who_party == p.id) {
            const std::string* signed_by = scalar(item, "signed_by");
            const std::string* date = scalar(item, "date");
            std::string by = signed_by != nullptr ? squash(*signed_by) : std::string();
            std::string on = date != nullptr ? squash(*date) : std::string();
            who.recorded = "Approval recorded in the file: " + (by.empty() ? "—" : by) +
                           (on.empty() ? "" : ", " + on);
          }
        }
      }
      s.signers.push_back(std::move(who));
    }
    add(std::move(s));
  }

  void appendix() {
    add(heading(2, "Technical appendix", "appendix"));
    add(heading(3, "Gateway certificate identities"));
    add(para({text("A request is treated as coming from a party only when the client "
                   "certificate matches one of these identities.")},
             block::kind::note));
    block t;
    t.k = block::kind::table;
    t.header = {{text("Party")},
                {text("Trust anchor")},
                {text("Identity")},
                {text("Key pin (SPKI SHA-256)")},
                {text("Valid until")}};
    for (const party& p : a_.parties) {
      for (const identity_rule& r : p.identities) {
        std::string kind = r.kind == identity_kind::uri_san   ? "URI SAN "
                           : r.kind == identity_kind::dns_san ? "DNS SAN "
                                                              : "Subject ";
        t.rows.push_back({{text(squash(p.name) + " "), em("(" + p.id + ")")},
                          {code(r.trust_anchor)},
                          {text(kind), code(r.value)},
                          {r.spki_sha256.empty() ? text("—") : code(r.spki_sha256)},
                          {text(r.not_after ? format_instant(*r.not_after) : "—")}});
      }
    }
    add(std::move(t));
    add(heading(3, "Endpoints"));
    block e;
    e.k = block::kind::table;
    e.header = {{text("Endpoint")}, {text("Provider")}, {text("Upstream")}, {text("Request")}};
    for (const endpoint& x : a_.endpoints) {
      e.rows.push_back(
          {{code(x.id)}, {code(x.provider)}, {code(x.upstream)}, {code(x.method + " " + x.path)}});
    }
    add(std::move(e));
  }
};

}  // namespace

blocks build_document(const agreement& a) { return builder(a).build(); }

}  // namespace dsa::policy::doc
