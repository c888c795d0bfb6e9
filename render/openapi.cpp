// `dsa openapi`: the OpenAPI 3.1 document of what one partner may call (render/openapi.hpp,
// docs/agreements.md §2.8).

#include "render/openapi.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <set>

#include "policy/reason.hpp"
#include "policy/time.hpp"
#include "render/render.hpp"
#include "render/words.hpp"

namespace dsa::policy::doc {

namespace json = boost::json;

namespace {

// --- Small helpers --------------------------------------------------------------------------

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// A Markdown code span that survives any backtick in `s`.
std::string code_span(std::string_view s) {
  if (s.find('`') == std::string_view::npos) {
    return "`" + std::string(s) + "`";
  }
  return "`` " + std::string(s) + " ``";
}

std::string code_list(const std::vector<std::string>& ids) {
  std::vector<std::string> spans;
  spans.reserve(ids.size());
  for (const std::string& id : ids) {
    spans.push_back(code_span(id));
  }
  return join_words(spans, " and ");
}

// Agreement patterns match the whole value (docs/agreements.md §3.5.1); a JSON Schema `pattern`
// matches anywhere, so it is anchored. The agreement dialect is an ECMAScript subset, which is
// what OpenAPI 3.1 patterns are written in.
std::string anchored(std::string_view re) { return "^(?:" + std::string(re) + ")$"; }

// One pattern that accepts what any of `alternatives` accepts.
std::string anchored_union(const std::vector<std::string>& alternatives) {
  if (alternatives.size() == 1) {
    return anchored(alternatives.front());
  }
  std::string inner;
  for (const std::string& a : alternatives) {
    inner += (inner.empty() ? "" : "|") + ("(?:" + a + ")");
  }
  return anchored(inner);
}

// An RFC 6901 array index as the filter reads one (policy/response_filter.cpp, index_matches).
bool is_index(const std::string& seg) {
  if (seg.empty() || (seg.size() > 1 && seg.front() == '0')) {
    return false;
  }
  return std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; });
}

json::value& slot(json::object& o, std::string_view key) {
  if (!o.contains(key)) {
    o[key] = json::object{};
  }
  return o[key];
}

std::string operation_method(std::string_view method) {
  static constexpr std::array<std::string_view, 8> names{"GET",     "PUT",  "POST",  "DELETE",
                                                         "OPTIONS", "HEAD", "PATCH", "TRACE"};
  for (std::string_view n : names) {
    if (n == method) {
      std::string out(n);
      std::transform(out.begin(), out.end(), out.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      return out;
    }
  }
  return {};
}

// --- Which agreements count -------------------------------------------------------------------

// Empty when `a` permits requests at `now`; otherwise why not, in words. The same checks, in the
// same order, as the engine's first ones (policy/engine.cpp): an agreement that refuses every
// request is not an interface the partner has.
std::string not_in_force(const agreement& a, time_point now) {
  if (a.status != agreement_status::active) {
    std::string why = "it is " + std::string(to_string(a.status));
    if (!a.status_reason.empty()) {
      why += " (" + squash(a.status_reason) + ")";
    }
    return why;
  }
  if (now < a.valid_from) {
    return "it takes effect at " + format_instant(a.valid_from);
  }
  if (now >= a.valid_until) {
    return "it ended at " + format_instant(a.valid_until);
  }
  if (a.review_overdue_denies && a.review_due && london_zone() != nullptr) {
    auto local = london_zone()->to_local(std::chrono::floor<std::chrono::seconds>(now));
    date::year_month_day today{std::chrono::floor<date::days>(local)};
    if (today > *a.review_due) {
      return "its review was due on " + date::format("%F", *a.review_due) +
             " and it says overdue: deny";
    }
  }
  return {};
}

// --- The response body schema -----------------------------------------------------------------

json::object node_schema(const std::vector<const json_pointer*>& ptrs, std::size_t depth,
                         bool root);

// The schema of a member or element that the pointers in `ptrs` reach at `depth`: anything when
// one of them ends there (a pointer to a node keeps its whole subtree), else only what they
// reach further down.
json::value child_schema(const std::vector<const json_pointer*>& ptrs, std::size_t depth) {
  for (const json_pointer* p : ptrs) {
    if (p->segments.size() == depth) {
      return json::object{};
    }
  }
  return node_schema(ptrs, depth, false);
}

// A container on the way to allowed pointers, as the filter writes it (policy/response_filter.cpp,
// allow_writer): an object keeps only the members some pointer names (or all, for `*`), each
// filtered further; an array keeps only the elements an index or `*` reaches; a scalar there is
// removed. The agreement says nothing of types, so a container may be an object or an array; an
// array that no index or `*` reaches leaves empty. Elements reached by different indices are
// described by one `items` schema (an array does not keep positions once elements are removed).
json::object node_schema(const std::vector<const json_pointer*>& ptrs, std::size_t depth,
                         bool root) {
  json::object s;
  json::array types{"object", "array"};
  if (root) {
    types.push_back("null");  // a scalar document that no pointer names leaves as null
  }
  s["type"] = std::move(types);
  std::vector<std::string> keys;
  bool star = false;
  bool index = false;
  for (const json_pointer* p : ptrs) {
    const std::string& seg = p->segments[depth];
    if (seg == "*") {
      star = true;
    } else if (!contains(keys, seg)) {
      keys.push_back(seg);
      index = index || is_index(seg);
    }
  }
  auto reaching = [&](auto&& pred) {
    std::vector<const json_pointer*> out;
    for (const json_pointer* p : ptrs) {
      if (pred(p->segments[depth])) {
        out.push_back(p);
      }
    }
    return out;
  };
  json::object props;
  for (const std::string& key : keys) {
    props[key] = child_schema(
        reaching([&](const std::string& seg) { return seg == key || seg == "*"; }), depth + 1);
  }
  if (!props.empty()) {
    s["properties"] = std::move(props);
  }
  if (star) {
    s["additionalProperties"] =
        child_schema(reaching([](const std::string& seg) { return seg == "*"; }), depth + 1);
  } else {
    s["additionalProperties"] = false;
  }
  if (star || index) {
    s["items"] = child_schema(
        reaching([](const std::string& seg) { return seg == "*" || is_index(seg); }), depth + 1);
  } else {
    s["items"] = false;
  }
  return s;
}

// Adds `maxItems` where the max_items pointer reaches. A node without `type` is kept whole (any
// value): the path to the array is spelled out in it. Where the filtered schema has no such
// member the array does not leave and nothing is added.
void add_max_items(json::value& node, const std::vector<std::string>& segs, std::size_t depth,
                   std::uint64_t max) {
  if (!node.is_object()) {
    return;  // `false`: nothing leaves here
  }
  json::object& o = node.as_object();
  if (depth == segs.size()) {
    // As a signed integer when it fits, as a parser reading the document back would hold it.
    if (max <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      o["maxItems"] = static_cast<std::int64_t>(max);
    } else {
      o["maxItems"] = max;
    }
    return;
  }
  const std::string& seg = segs[depth];
  const bool whole = !o.contains("type");
  if (seg == "*") {
    if (whole) {
      add_max_items(slot(o, "additionalProperties"), segs, depth + 1, max);
      add_max_items(slot(o, "items"), segs, depth + 1, max);
      return;
    }
    if (auto* props = o.if_contains("properties"); props != nullptr && props->is_object()) {
      for (auto& m : props->as_object()) {
        add_max_items(m.value(), segs, depth + 1, max);
      }
    }
    if (auto* extra = o.if_contains("additionalProperties")) {
      add_max_items(*extra, segs, depth + 1, max);
    }
    if (auto* items = o.if_contains("items")) {
      add_max_items(*items, segs, depth + 1, max);
    }
    return;
  }
  if (whole) {
    add_max_items(slot(slot(o, "properties").as_object(), seg), segs, depth + 1, max);
    if (is_index(seg)) {
      add_max_items(slot(o, "items"), segs, depth + 1, max);
    }
    return;
  }
  if (auto* props = o.if_contains("properties"); props != nullptr && props->is_object()) {
    if (auto* member = props->as_object().if_contains(seg)) {
      add_max_items(*member, segs, depth + 1, max);
    }
  }
  if (is_index(seg)) {
    if (auto* items = o.if_contains("items")) {
      add_max_items(*items, segs, depth + 1, max);
    }
  }
}

json::object body_schema(const response_rules& r) {
  json::value schema;
  if (r.has_allow_fields) {
    std::vector<const json_pointer*> ptrs;
    for (const json_pointer& p : r.allow_fields) {
      ptrs.push_back(&p);
    }
    const bool whole = std::any_of(ptrs.begin(), ptrs.end(),
                                   [](const json_pointer* p) { return p->segments.empty(); });
    schema = whole ? json::object{} : node_schema(ptrs, 0, true);
  } else {
    schema = json::object{};
  }
  if (r.max_items) {
    add_max_items(schema, r.max_items->pointer.segments, 0, r.max_items->max);
  }
  json::object& o = schema.as_object();
  o["description"] = r.has_allow_fields
                         ? "What the gateway lets leave: only the members and elements described "
                           "here; everything else of the provider's answer is removed."
                         : "The provider's JSON answer, unchanged.";
  return o;
}

// --- Requests -----------------------------------------------------------------------------------

struct grant {
  const permission* perm = nullptr;
  std::vector<std::string> purposes;  // less those a prohibition refuses for this requester here
  std::vector<const prohibition*> narrowed_by;
};

struct operation_source {
  const agreement* a = nullptr;
  const endpoint* e = nullptr;
  std::vector<grant> grants;
  std::string method;  // lower case, as OpenAPI names it
};

// What a header must match under every grant, or nothing when one grant does not constrain it.
struct header_rule {
  bool any = false;       // some grant requires the header
  bool all = true;        // every grant requires it
  bool patterned = true;  // every grant constrains its value
  std::vector<std::string> alternatives;
};

header_rule case_ref_rule(const operation_source& src) {
  header_rule h;
  for (const grant& g : src.grants) {
    const requirements& req = g.perm->require;
    if (!req.case_ref_required()) {
      h.all = false;
      h.patterned = false;
      continue;
    }
    h.any = true;
    std::optional<std::string> alt;
    if (req.case_ref) {
      alt = req.case_ref->text;
    } else {
      // Only case_ref_param: the reference must equal that path parameter, so it has its pattern.
      for (const path_param& p : src.e->path_params) {
        if (p.name == req.case_ref_param && p.re) {
          alt = p.re->text;
        }
      }
    }
    if (!alt) {
      h.patterned = false;
    } else if (!contains(h.alternatives, *alt)) {
      h.alternatives.push_back(*alt);
    }
  }
  return h;
}

header_rule acting_user_rule(const operation_source& src) {
  header_rule h;
  for (const grant& g : src.grants) {
    const requirements& req = g.perm->require;
    if (!req.acting_user) {
      h.all = false;
      h.patterned = false;
      continue;
    }
    h.any = true;
    if (!contains(h.alternatives, req.acting_user->text)) {
      h.alternatives.push_back(req.acting_user->text);
    }
  }
  return h;
}

json::object header_param(std::string_view name, bool required, json::object schema,
                          std::string description) {
  return json::object{{"name", name},
                      {"in", "header"},
                      {"required", required},
                      {"description", std::move(description)},
                      {"schema", std::move(schema)}};
}

json::array parameters(const operation_source& src) {
  const endpoint& e = *src.e;
  json::array params;
  for (const path_param& p : e.path_params) {
    json::object schema{{"type", "string"}};
    std::string description = "One path segment, compared after percent-decoding";
    if (p.re) {
      schema["pattern"] = anchored(p.re->text);
      description += "; it must match the pattern whole.";
    } else {
      schema["minLength"] = 1;
      description += "; the agreement gives it no pattern (any non-empty segment).";
    }
    params.push_back(json::object{{"name", p.name},
                                  {"in", "path"},
                                  {"required", true},
                                  {"description", description},
                                  {"schema", std::move(schema)}});
  }
  for (const query_param& q : e.query_params) {
    params.push_back(json::object{
        {"name", q.name},
        {"in", "query"},
        {"required", q.required},
        {"description", "Compared after percent-decoding (`+` is not a space); sent at most once."},
        {"schema", json::object{{"type", "string"}, {"pattern", anchored(q.re.text)}}}});
  }

  json::array purposes;
  for (const grant& g : src.grants) {
    for (const std::string& p : g.purposes) {
      if (std::find(purposes.begin(), purposes.end(), json::value(p)) == purposes.end()) {
        purposes.push_back(json::string(p));
      }
    }
  }
  params.push_back(header_param("DSA-Purpose", true,
                                json::object{{"type", "string"}, {"enum", std::move(purposes)}},
                                "Why the request is made: a purpose the agreement permits for "
                                "this endpoint (ids are case-sensitive)."));

  const header_rule cr = case_ref_rule(src);
  if (cr.any) {
    json::object schema{{"type", "string"}, {"minLength", 1}};
    if (cr.patterned) {
      schema["pattern"] = anchored_union(cr.alternatives);
    }
    std::string description = "The case the request is for, as the agreement requires";
    std::vector<std::string> params_named;
    for (const grant& g : src.grants) {
      const std::string& param = g.perm->require.case_ref_param;
      if (!param.empty() && !contains(params_named, param)) {
        params_named.push_back(param);
      }
    }
    if (!params_named.empty()) {
      description += "; it must equal the " + code_list(params_named) + " path parameter";
    }
    description += cr.all ? "." : " (required under some of the permissions: see the description).";
    params.push_back(header_param("DSA-Case-Ref", cr.all, std::move(schema), description));
  }
  const header_rule au = acting_user_rule(src);
  if (au.any) {
    json::object schema{{"type", "string"}, {"minLength", 1}};
    if (au.patterned) {
      schema["pattern"] = anchored_union(au.alternatives);
    }
    params.push_back(header_param(
        "DSA-Acting-User", au.all, std::move(schema),
        std::string("The person behind the request (a staff number), recorded in the audit") +
            (au.all ? "." : " (required under some of the permissions: see the description).")));
  }
  params.push_back(header_param("DSA-Agreement", false,
                                json::object{{"type", "string"}, {"enum", json::array{src.a->id}}},
                                "Restricts the decision to this agreement (optional)."));
  if (e.response.ranges) {
    params.push_back(
        header_param("Range", false, json::object{{"type", "string"}},
                     "A byte range (RFC 9110), forwarded to the provider: the answer is then 206 "
                     "Partial Content."));
  }
  return params;
}

// --- Operation description (CommonMark) -------------------------------------------------------

std::string windows_words(const time_windows& w) {
  std::vector<std::string> parts;
  for (const time_window& tw : w.allow) {
    parts.push_back(days_words(tw.days) + " " + hhmm(tw.from_minute) + "–" + hhmm(tw.to_minute));
  }
  return join_words(parts, " and ") + " (" + w.timezone + " time)";
}

std::string caps_words(const std::vector<volume_cap>& caps) {
  std::vector<std::string> parts;
  for (const volume_cap& c : caps) {
    std::string scope = c.scope == cap_scope::assignee   ? "for the whole partner"
                        : c.scope == cap_scope::case_ref ? "per case reference"
                                                         : "per acting user";
    parts.push_back("at most " + plural(c.max, "request", "requests") + " per " + window_words(c) +
                    " " + scope);
  }
  return join_words(parts, " and ");
}

std::string grant_words(const grant& g) {
  const permission& p = *g.perm;
  std::string s = "- " + code_span(p.id) + ": purposes " + code_list(g.purposes);
  if (p.require.case_ref_required()) {
    s += "; case reference required";
    if (p.require.case_ref) {
      s += " matching " + code_span(p.require.case_ref->text);
    }
    if (!p.require.case_ref_param.empty()) {
      s += ", equal to the " + code_span(p.require.case_ref_param) + " path parameter";
    }
  }
  if (p.require.acting_user) {
    s += "; acting user required matching " + code_span(p.require.acting_user->text);
  }
  if (p.windows) {
    s += "; only " + windows_words(*p.windows) + " (else 403 `outside_time_window`)";
  }
  if (!p.volume_caps.empty()) {
    s += "; " + caps_words(p.volume_caps) + " (then 429 `volume_cap_exceeded`)";
  }
  s += ". Lawful basis " + code_list(p.lawful_basis) + "; legal gateway " +
       code_list(p.legal_gateway) + ".";
  for (const prohibition* pr : g.narrowed_by) {
    std::vector<std::string> refused;
    for (const std::string& purpose : p.purposes) {
      if (pr->purposes.empty() || contains(pr->purposes, purpose)) {
        refused.push_back(purpose);
      }
    }
    s += " Not for " + code_list(refused) + " (prohibition " + code_span(pr->id) + ": " +
         md_escape(strip_period(squash(pr->reason))) + ").";
  }
  return s + "\n";
}

std::string operation_description(const operation_source& src) {
  const agreement& a = *src.a;
  const endpoint& e = *src.e;
  std::string d = "Served by **" + md_escape(party_name(a, e.provider)) + "** (" +
                  code_span(e.provider) + ") under the agreement **" + md_escape(a.title) + "** (" +
                  code_span(a.id) + " version " + md_escape(a.version) + ").\n\n";
  d += "Data:\n\n";
  for (const std::string& id : e.data_categories) {
    d += "- " + code_span(id);
    for (const data_category& c : a.data_categories) {
      if (c.id == id) {
        std::vector<std::string> flags;
        if (c.special_category) {
          flags.emplace_back("special category data");
        }
        if (c.criminal_offence_data) {
          flags.emplace_back("criminal offence data");
        }
        if (flags.empty()) {
          flags.emplace_back(c.personal_data ? "personal data" : "not personal data");
        }
        d += ": " + md_escape(squash(c.description)) + " (" + join_words(flags, " and ") +
             "; retention: " + md_escape(squash(c.retention)) + ")";
      }
    }
    d += "\n";
  }
  d += std::string("\nPermitted under ") +
       (src.grants.size() == 1 ? "this permission" : "these permissions") +
       (src.grants.size() > 1 ? " (the gateway tries them in this order; one must pass)" : "") +
       ":\n\n";
  for (const grant& g : src.grants) {
    d += grant_words(g);
  }
  d += "\n";
  if (!e.query_allowed) {
    d += "No query string is accepted (`query_not_allowed`).\n\n";
  } else {
    d += "Only the query parameters listed are accepted; an unknown, repeated or malformed one, or "
         "a missing required one, is refused (`query_not_allowed`).\n\n";
  }
  const response_rules& r = e.response;
  if (r.filters()) {
    if (r.has_allow_fields) {
      d += "Only the members the response schema lists leave the provider (";
      std::vector<std::string> ptrs;
      for (const json_pointer& p : r.allow_fields) {
        ptrs.push_back(p.text.empty() ? "\"\"" : p.text);
      }
      d += code_list(ptrs) + ").";
    } else {
      d += "The provider's JSON answer leaves unchanged.";
    }
    if (r.max_items) {
      d += " More than " + number(r.max_items->max) + " elements at " +
           code_span(r.max_items->pointer.text) +
           " and the whole answer is withheld (403 `too_many_items`).";
    }
    if (!r.withhold_if.empty()) {
      d += " The agreement withholds some records whole (403 `withheld_by_agreement`).";
    }
    d += " A `Range` request header is not forwarded.\n";
  } else {
    d += "The provider's answer leaves unchanged and is streamed as it arrives";
    if (r.max_bytes) {
      d += ", at most " + number(*r.max_bytes) + " bytes (a larger one is refused or cut off)";
    }
    d += r.ranges ? "; byte ranges (`Range`) are forwarded.\n"
                  : "; a `Range` request header is not forwarded.\n";
  }
  return d;
}

// --- Responses ------------------------------------------------------------------------------

json::object fixed_header(std::string_view value, std::string description) {
  return json::object{{"description", std::move(description)},
                      {"required", true},
                      {"schema", json::object{{"type", "string"}, {"const", value}}}};
}

json::object success_headers(const operation_source& src) {
  const agreement& a = *src.a;
  json::object h;
  h["DSA-Agreement"] = fixed_header(a.id + "@" + a.version,
                                    "The agreement (id@version) the request was allowed under.");
  h["DSA-Request-Id"] = json::object{{"$ref", "#/components/headers/DSA-Request-Id"}};
  h["Cache-Control"] = fixed_header("no-store", "Disclosed data is not to be cached.");
  for (const auto& [name, value] : src.e->response.add_headers) {
    json::object added = fixed_header(value,
                                      "Set by the agreement (for example a handling "
                                      "caveat) on every answer that has a body.");
    added["required"] = false;
    h[name] = std::move(added);
  }
  return h;
}

json::object responses(const operation_source& src, const std::map<int, std::string>& refusals) {
  const response_rules& r = src.e->response;
  json::object out;
  json::object ok;
  json::object headers = success_headers(src);
  if (r.filters()) {
    ok["description"] =
        "Allowed: the provider's answer (its 2xx status), filtered as the agreement says. A 204 "
        "carries no body.";
    ok["headers"] = headers;
    ok["content"] = json::object{{"application/json", json::object{{"schema", body_schema(r)}}}};
  } else {
    if (r.ranges) {
      headers["Accept-Ranges"] = fixed_header("bytes", "Byte ranges may be requested.");
    }
    ok["description"] =
        "Allowed: the provider's answer (its 2xx status and Content-Type), unchanged, streamed.";
    ok["headers"] = headers;
    ok["content"] = json::object{{"application/octet-stream", json::object{}}};
  }
  if (r.ranges) {
    json::object partial;
    json::object ph = success_headers(src);
    ph["Content-Range"] = json::object{{"description", "The range sent (RFC 9110)."},
                                       {"required", true},
                                       {"schema", json::object{{"type", "string"}}}};
    partial["description"] = "Allowed: the byte range asked for with `Range`.";
    partial["headers"] = std::move(ph);
    partial["content"] = json::object{{"application/octet-stream", json::object{}}};
    out["206"] = std::move(partial);
  }
  out["2XX"] = std::move(ok);
  for (const auto& [status, name] : refusals) {
    out[std::to_string(status)] = json::object{{"$ref", "#/components/responses/" + name}};
  }
  out["default"] = json::object{{"$ref", "#/components/responses/UpstreamStatus"}};
  return out;
}

// Every reason code the gateway writes, by the status it is written with
// (policy/reason.hpp). `upstream_status` is added to each: the provider's own error status is
// passed on with a problem body of that status.
std::map<int, std::vector<std::string>> reasons_by_status() {
  std::map<int, std::vector<std::string>> out;
  for (int i = 0;; ++i) {
    const auto r = static_cast<reason>(i);
    reason back{};
    if (!from_string(to_string(r), back) || back != r) {
      break;  // past the last reason
    }
    if (r == reason::allowed || r == reason::upstream_status) {
      continue;
    }
    out[http_status(r)].emplace_back(to_string(r));
  }
  for (auto& [status, names] : out) {
    names.emplace_back(to_string(reason::upstream_status));
  }
  return out;
}

json::array all_reasons() {
  json::array out;
  for (int i = 0;; ++i) {
    const auto r = static_cast<reason>(i);
    reason back{};
    if (!from_string(to_string(r), back) || back != r) {
      break;
    }
    if (r != reason::allowed) {
      out.push_back(json::string(to_string(r)));
    }
  }
  return out;
}

json::object problem_schema() {
  json::object props;
  props["type"] = json::object{
      {"type", "string"},
      {"format", "uri"},
      {"description", "Identifies the reason: https://dsa-gateway.example/problems/<reason>."}};
  props["title"] = json::object{{"type", "string"}, {"description", "The reason in words."}};
  props["status"] = json::object{{"type", "integer"}, {"description", "The HTTP status."}};
  props["detail"] = json::object{{"type", "string"},
                                 {"description",
                                  "What was wrong with this request (it never names another "
                                  "party's agreements)."}};
  props["reason"] = json::object{{"type", "string"},
                                 {"enum", all_reasons()},
                                 {"description", "The reason code (docs/agreements.md §4)."}};
  props["request_id"] = json::object{
      {"type", "string"},
      {"description", "The gateway's id of the request, as in the DSA-Request-Id header."}};
  props["upstream_status"] =
      json::object{{"type", "integer"},
                   {"description",
                    "With reason upstream_status: the status the provider's system "
                    "answered (its body is never passed on)."}};
  return json::object{
      {"type", "object"},
      {"description", "An RFC 9457 problem body, as the gateway writes every refusal."},
      {"required", json::array{"type", "title", "status", "detail", "reason", "request_id"}},
      {"properties", std::move(props)}};
}

json::object problem_response(std::string description, json::object narrowing) {
  json::object schema{{"allOf", json::array{json::object{{"$ref", "#/components/schemas/Problem"}},
                                            std::move(narrowing)}}};
  return json::object{
      {"description", std::move(description)},
      {"headers", json::object{{"DSA-Request-Id",
                                json::object{{"$ref", "#/components/headers/DSA-Request-Id"}}}}},
      {"content", json::object{{"application/problem+json", json::object{{"schema", schema}}}}}};
}

json::object components(const std::map<int, std::vector<std::string>>& by_status,
                        const std::map<int, std::string>& names, bool with_operations) {
  json::object c;
  c["securitySchemes"] = json::object{
      {"partnerCertificate",
       json::object{{"type", "mutualTLS"},
                    {"description",
                     "The partner's client certificate, issued under a trust anchor the provider's "
                     "gateway trusts and naming an identity the agreement declares for the "
                     "requester."}}}};
  if (!with_operations) {
    return c;  // nothing refers to the rest: an unused component is a lint warning
  }
  c["schemas"] = json::object{{"Problem", problem_schema()}};
  c["headers"] = json::object{
      {"DSA-Request-Id",
       json::object{{"description",
                     "The gateway's id of this request (on every answer): quote it to the "
                     "provider."},
                    {"required", true},
                    {"schema", json::object{{"type", "string"}}}}}};
  json::object rs;
  for (const auto& [status, reasons] : by_status) {
    json::array names_json;
    for (const std::string& r : reasons) {
      names_json.push_back(json::string(r));
    }
    rs[names.at(status)] = problem_response(
        "Refused (" + std::to_string(status) + "); `reason` says why.",
        json::object{{"properties", json::object{{"status", json::object{{"const", status}}},
                                                 {"reason", json::object{{"enum", names_json}}}}}});
  }
  rs["UpstreamStatus"] = problem_response(
      "The provider's system answered with this error status; the gateway passes the status on "
      "with a problem body instead of the provider's.",
      json::object{
          {"required", json::array{"upstream_status"}},
          {"properties", json::object{{"reason", json::object{{"const", "upstream_status"}}}}}});
  c["responses"] = std::move(rs);
  return c;
}

// --- The document -----------------------------------------------------------------------------

std::string normalised_path(std::string_view path) {
  // Placeholders by position only: OpenAPI treats /a/{x} and /a/{y} as the same path.
  std::string out;
  bool in = false;
  for (char c : path) {
    if (c == '{') {
      in = true;
      out += "{}";
    } else if (c == '}') {
      in = false;
    } else if (!in) {
      out += c;
    }
  }
  return out;
}

const party* find_party_anywhere(const agreement_set& set, std::string_view id) {
  for (const auto& a : set.agreements) {
    if (const party* p = a->find_party(id)) {
      return p;
    }
  }
  return nullptr;
}

}  // namespace

openapi_result openapi_document(const agreement_set& set, const openapi_options& o) {
  openapi_result out;
  std::vector<operation_source> sources;
  for (const auto& ap : set.agreements) {
    const agreement& a = *ap;
    const bool names_requester =
        std::any_of(a.permissions.begin(), a.permissions.end(),
                    [&](const permission& p) { return p.assignee == o.requester; });
    if (!names_requester) {
      continue;
    }
    if (std::string why = not_in_force(a, o.now); !why.empty()) {
      out.notes.push_back("agreement " + a.id + " left out: " + why);
      continue;
    }
    for (const endpoint& e : a.endpoints) {
      if (o.provider && e.provider != *o.provider) {
        continue;
      }
      operation_source src{&a, &e, {}, operation_method(e.method)};
      for (const permission& p : a.permissions) {
        if (p.assignee != o.requester || !contains(p.endpoints, e.id)) {
          continue;
        }
        if (p.emergency) {
          // Used only in a declared emergency, with DSA-Emergency (docs/agreements.md §3.10): its
          // conditions are not the operation's, and a partner's client is not built around it.
          out.notes.push_back("emergency permission " + a.id + "/" + p.id + " on endpoint " + e.id +
                              " is not described: it applies only to a request that declares an "
                              "emergency with DSA-Emergency");
          continue;
        }
        grant g{&p, {}, {}};
        for (const std::string& purpose : p.purposes) {
          bool refused = false;
          for (const prohibition& pr : a.prohibitions) {
            const bool applies = (pr.assignee == "any" || pr.assignee == o.requester) &&
                                 contains(pr.endpoints, e.id) &&
                                 (pr.purposes.empty() || contains(pr.purposes, purpose));
            if (applies) {
              refused = true;
              if (std::find(g.narrowed_by.begin(), g.narrowed_by.end(), &pr) ==
                  g.narrowed_by.end()) {
                g.narrowed_by.push_back(&pr);
              }
            }
          }
          if (!refused) {
            g.purposes.push_back(purpose);
          }
        }
        if (g.purposes.empty()) {
          out.notes.push_back("permission " + a.id + "/" + p.id + " left out on endpoint " + e.id +
                              ": a prohibition refuses every one of its purposes there");
          continue;
        }
        src.grants.push_back(std::move(g));
      }
      if (src.grants.empty()) {
        continue;
      }
      if (src.method.empty()) {
        out.notes.push_back("endpoint " + a.id + "/" + e.id + " left out: OpenAPI 3.1 has no " +
                            "operation for the method " + e.method);
        continue;
      }
      sources.push_back(std::move(src));
    }
  }

  // One OpenAPI operation per (method, path): two endpoints there cannot both be described.
  std::map<std::string, const operation_source*> by_path;       // normalised path → first source
  std::map<std::string, const operation_source*> by_operation;  // method + normalised path
  std::map<std::string, int> endpoint_ids;
  for (const operation_source& s : sources) {
    const std::string norm = normalised_path(s.e->path);
    auto [it, fresh] = by_path.emplace(norm, &s);
    if (!fresh && it->second->e->path != s.e->path) {
      out.error = "endpoints " + it->second->a->id + "/" + it->second->e->id + " (" +
                  it->second->e->path + ") and " + s.a->id + "/" + s.e->id + " (" + s.e->path +
                  ") name one path with different placeholders, which OpenAPI cannot describe";
      return out;
    }
    auto [op, op_fresh] = by_operation.emplace(s.method + " " + norm, &s);
    if (!op_fresh) {
      out.error = "endpoints " + op->second->a->id + "/" + op->second->e->id + " and " + s.a->id +
                  "/" + s.e->id + " are both " + s.e->method + " " + s.e->path +
                  ": one OpenAPI operation cannot describe two endpoints' rules";
      return out;
    }
    ++endpoint_ids[s.e->id];
  }

  const auto by_status = reasons_by_status();
  std::map<int, std::string> refusal_names;
  for (const auto& [status, reasons] : by_status) {
    refusal_names[status] = "Refused" + std::to_string(status);
  }

  json::object paths;
  std::vector<std::string> providers;
  std::vector<const agreement*> used;
  for (const operation_source& s : sources) {
    json::object op;
    op["operationId"] = endpoint_ids[s.e->id] > 1 ? s.a->id + "." + s.e->id : s.e->id;
    op["summary"] = method_words(s.e->method) + " " + join_words(s.e->data_categories, " and ") +
                    " at " + party_name(*s.a, s.e->provider);
    op["description"] = operation_description(s);
    op["tags"] = json::array{json::string(s.e->provider)};
    op["parameters"] = parameters(s);
    if (s.method == "post" || s.method == "put" || s.method == "patch") {
      // docs/agreements.md §3.5, "Request bodies": a streamed endpoint streams the body too.
      std::string about =
          "Passed to the provider's system as it is; the agreement does not "
          "describe it.";
      const std::optional<std::uint64_t>& most = s.e->request.max_bytes;
      if (s.e->response.streamed()) {
        about += " Streamed to the provider as it arrives";
        about += most ? ", at most " + number(*most) + " bytes"
                      : std::string(", within the gateway's body limit");
        about += " (a larger one is refused, 413 `body_too_large`).";
      } else if (most) {
        about += " At most " + number(*most) +
                 " bytes, or the gateway's body limit if lower (a larger one is refused, 413 "
                 "`body_too_large`).";
      }
      op["requestBody"] = json::object{
          {"description", about},
          {"required", false},
          {"content", json::object{{"*/*", json::object{{"schema", json::object{}}}}}}};
    }
    op["responses"] = responses(s, refusal_names);
    op["x-dsa-agreement"] = s.a->id + "@" + s.a->version;
    op["x-dsa-endpoint"] = s.e->id;
    json::array perms;
    for (const grant& g : s.grants) {
      perms.push_back(json::string(g.perm->id));
    }
    op["x-dsa-permission"] = std::move(perms);
    json::array cats;
    for (const std::string& c : s.e->data_categories) {
      cats.push_back(json::string(c));
    }
    op["x-dsa-data-categories"] = std::move(cats);
    slot(paths, s.e->path).as_object()[s.method] = std::move(op);
    if (!contains(providers, s.e->provider)) {
      providers.push_back(s.e->provider);
    }
    if (std::find(used.begin(), used.end(), s.a) == used.end()) {
      used.push_back(s.a);
    }
    ++out.operations;
  }

  const party* requester = find_party_anywhere(set, o.requester);
  const std::string requester_name = requester != nullptr ? requester->name : o.requester;
  json::object info;
  info["title"] = "What " + requester_name + " may call through the DSA gateways";
  std::string version;
  json::array agreements;
  for (const agreement* a : used) {
    version += (version.empty() ? "" : ", ") + a->id + "@" + a->version;
    agreements.push_back(json::object{
        {"id", a->id}, {"version", a->version}, {"title", a->title}, {"sha256", a->sha256}});
  }
  info["version"] = version.empty() ? "none" : version;
  std::string d = "The requests **" + md_escape(requester_name) + "** (" + code_span(o.requester) +
                  ") may send to the other agencies' DSA gateways, and what each answers, as the "
                  "data sharing agreements in force at " +
                  format_instant(o.now) + " permit them";
  if (o.provider) {
    const party* p = find_party_anywhere(set, *o.provider);
    d += ", at " + md_escape(p != nullptr ? p->name : *o.provider) + " (" + code_span(*o.provider) +
         ") only";
  }
  d += ". Generated by `dsa openapi` from the agreements; anything not described here is "
       "refused.\n\n"
       "Every request is made over mutual TLS with the partner's client certificate and carries "
       "`DSA-Purpose` (and `DSA-Case-Ref`, `DSA-Acting-User` where an operation requires them). "
       "A refusal is an `application/problem+json` body whose `reason` says why.";
  if (!o.server) {
    d += "\n\nNo server is listed: each provider's gateway address is given to the partner by "
         "that provider.";
  }
  info["description"] = d;
  info["x-dsa-requester"] = o.requester;
  info["x-dsa-agreements"] = std::move(agreements);

  json::object doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = std::move(info);
  if (o.server) {
    doc["servers"] = json::array{json::object{
        {"url", *o.server}, {"description", "The provider's DSA gateway (mutual TLS)."}}};
  }
  doc["security"] = json::array{json::object{{"partnerCertificate", json::array{}}}};
  json::array tags;
  for (const std::string& p : providers) {
    const party* pp = find_party_anywhere(set, p);
    tags.push_back(json::object{
        {"name", p}, {"description", "Served by " + (pp != nullptr ? pp->name : p) + "."}});
  }
  if (!tags.empty()) {
    doc["tags"] = std::move(tags);
  }
  doc["paths"] = std::move(paths);
  doc["components"] = components(by_status, refusal_names, out.operations > 0);
  out.document = std::move(doc);
  return out;
}

namespace {

void pretty(const json::value& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  const std::string close(static_cast<std::size_t>(indent), ' ');
  if (const auto* o = v.if_object()) {
    if (o->empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& m : *o) {
      out += first ? "" : ",\n";
      first = false;
      out += pad + json::serialize(json::string(m.key())) + ": ";
      pretty(m.value(), out, indent + 2);
    }
    out += "\n" + close + "}";
    return;
  }
  if (const auto* a = v.if_array()) {
    if (a->empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const auto& e : *a) {
      out += first ? "" : ",\n";
      first = false;
      out += pad;
      pretty(e, out, indent + 2);
    }
    out += "\n" + close + "]";
    return;
  }
  out += json::serialize(v);
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  pretty(v, out, 0);
  out += '\n';
  return out;
}

}  // namespace dsa::policy::doc
