// Endpoints: path templates, path and query parameters, data categories and response rules
// (docs/agreements.md §3.5, §3.6).

#include <algorithm>
#include <cctype>
#include <string>

#include "policy/sections.hpp"

namespace dsa::policy::sections {

namespace {

std::optional<json_pointer> parse_pointer(reader& r, const field& f) {
  auto s = r.string(f);
  if (!s) {
    return std::nullopt;
  }
  json_pointer p{*s, {}};
  if (s->empty()) {
    return p;  // the whole document
  }
  if ((*s)[0] != '/') {
    r.error(f.node, f.path + ": '" + *s + "' is not a JSON Pointer (expected it to start with '/')",
            "bad-pointer");
    return std::nullopt;
  }
  std::size_t start = 1;
  while (true) {
    std::size_t end = s->find('/', start);
    std::string raw = s->substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~') {
        if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
          seg.push_back(raw[i + 1] == '0' ? '~' : '/');
          ++i;
        } else {
          r.error(f.node,
                  f.path + ": '" + *s + "' has a '~' not followed by 0 or 1 (RFC 6901 escape)",
                  "bad-pointer");
          return std::nullopt;
        }
      } else {
        seg.push_back(raw[i]);
      }
    }
    p.segments.push_back(std::move(seg));
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return p;
}

bool is_token(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                 std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

// The methods whose requests the gateway forwards with a body (gateway/http_message.hpp,
// method_takes_body): any other method with a body is refused 400 before it is read.
bool method_takes_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

// A `request` mapping (docs/agreements.md §3.5, "Request bodies"): `max_bytes`, the most body
// bytes one request to the endpoint may carry.
void read_request(reader& r, const field& req, const load_options& options, endpoint& e) {
  if (!r.present(req) || !r.mapping(req, {"max_bytes"}, {})) {
    return;
  }
  field mb = r.child(req, "max_bytes");
  if (auto n = r.count(mb); n && *n == 0) {
    r.error(mb.node, mb.path + ": expected a number of bytes greater than 0", "bad-value");
  } else if (n) {
    e.request.max_bytes = *n;
  }
  if (e.request.max_bytes && options.lint_warnings && !e.method.empty() &&
      !method_takes_body(e.method)) {
    r.warning(mb.node,
              mb.path + ": a " + e.method +
                  " request never carries a body (the gateway refuses one; only POST, PUT and "
                  "PATCH requests may), so this limit never applies",
              "request-body-never-sent");
  }
}

}  // namespace

// A `response` mapping (docs/agreements.md §3.6) into `out`; false when `resp` is absent or not a
// mapping. Shared by endpoints and the `response` of an emergency block (read_permissions.cpp).
bool read_response(reader& r, const field& resp, response_rules& out) {
  if (!r.present(resp) || !r.mapping(resp, {},
                                     {"allow_fields", "max_items", "withhold_if", "add_headers",
                                      "max_bytes", "ranges", "subjects"})) {
    return false;
  }
  field mb = r.child(resp, "max_bytes");
  if (r.present(mb)) {
    if (auto n = r.count(mb); n && *n == 0) {
      r.error(mb.node, mb.path + ": expected a number of bytes greater than 0", "bad-value");
    } else if (n) {
      out.max_bytes = *n;
    }
  }
  field rg = r.child(resp, "ranges");
  if (r.present(rg)) {
    out.ranges = r.boolean(rg).value_or(false);
  }
  field af = r.child(resp, "allow_fields");
  if (af.node.IsDefined()) {
    out.has_allow_fields = true;
    r.sequence(af, false, [&](const field& pf) {
      if (auto p = parse_pointer(r, pf)) {
        out.allow_fields.push_back(std::move(*p));
      }
    });
  }
  field mi = r.child(resp, "max_items");
  if (r.present(mi) && r.mapping(mi, {"pointer", "max"}, {})) {
    auto p = parse_pointer(r, r.child(mi, "pointer"));
    auto m = r.count(r.child(mi, "max"));
    if (p && m) {
      out.max_items = max_items_rule{std::move(*p), *m};
    }
  }
  r.sequence(r.child(resp, "withhold_if"), false, [&](const field& wf) {
    if (!r.mapping(wf, {"pointer", "equals"}, {})) {
      return;
    }
    auto p = parse_pointer(r, r.child(wf, "pointer"));
    YAML::Node eq = wf.node["equals"];
    if (eq.IsDefined() && !eq.IsScalar() && !eq.IsNull()) {
      r.error(eq,
              r.join(wf.path, "equals") +
                  ": expected a single value (text, number, "
                  "true/false or null)",
              "wrong-type");
      return;
    }
    if (p && eq.IsDefined()) {
      out.withhold_if.push_back(
          {std::move(*p), eq.IsNull() ? std::string("null") : yaml::scalar_json(eq)});
    }
  });
  field ah = r.child(resp, "add_headers");
  if (r.present(ah)) {
    if (!ah.node.IsMap()) {
      r.error(ah.node, ah.path + ": expected a mapping of header name to value", "wrong-type");
    } else {
      for (auto it = ah.node.begin(); it != ah.node.end(); ++it) {
        std::string name = it->first.Scalar();
        auto value = r.string({it->second, r.join(ah.path, name)});
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (!is_token(name) || lower.rfind("dsa-", 0) == 0 || lower == "content-length" ||
            lower == "transfer-encoding" || lower == "connection") {
          r.error(it->first,
                  r.join(ah.path, name) + ": '" + name +
                      "' cannot be added (expected an HTTP header name that is not DSA-*, "
                      "Content-Length, Transfer-Encoding or Connection)",
                  "bad-header");
        } else if (value && value->find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
          r.error(it->second, r.join(ah.path, name) + ": header values cannot contain line breaks",
                  "bad-header");
        } else if (value) {
          out.add_headers.emplace_back(name, *value);
        }
      }
    }
  }
  // Data subjects: the pointers are read here; whether they can reach released data is a lint
  // warning (validate.cpp), but on a streamed endpoint nothing is parsed, so nothing could ever
  // be recorded: an error, not a silent gap in subject access.
  field sj = r.child(resp, "subjects");
  if (sj.node.IsDefined()) {
    r.sequence(sj, false, [&](const field& pf) {
      if (auto p = parse_pointer(r, pf)) {
        out.subjects.push_back(std::move(*p));
      }
    });
    if (!out.filters()) {
      r.error(sj.node,
              sj.path +
                  ": subjects are read from the JSON body, but this endpoint has no "
                  "allow_fields, max_items or withhold_if, so its body is streamed unparsed "
                  "and no subject could be recorded (add allow_fields, or remove subjects)",
              "subjects-on-streamed");
    }
  }
  if (out.ranges && out.filters()) {
    r.error(r.child(resp, "ranges").node,
            r.join(resp.path, "ranges") +
                ": range requests are allowed only on an endpoint without allow_fields, "
                "max_items or withhold_if (a slice of a document cannot be filtered)",
            "ranges-on-filtered");
  }
  return true;
}

void read_endpoints(reader& r, const field& top, const load_options& options, agreement& a,
                    declared_ids& ids) {
  r.sequence(r.child(top, "endpoints"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "provider", "upstream", "method", "path", "data_categories"},
                   {"path_params", "query_params", "response", "request"})) {
      return;
    }
    endpoint e;
    e.id = r.id(r.child(f, "id")).value_or("");
    if (!e.id.empty() && !ids.endpoints.insert(e.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": endpoint '" + e.id + "' is declared twice",
              "duplicate-id");
    }
    e.provider = r.id(r.child(f, "provider")).value_or("");
    check_ref(r, f.node["provider"], r.join(f.path, "provider"), e.provider, ids.parties, "party");
    e.upstream = r.nonempty(r.child(f, "upstream")).value_or("");
    if (auto m = r.string(r.child(f, "method"))) {
      if (!is_method_name(*m)) {
        r.error(f.node["method"],
                r.join(f.path, "method") + ": '" + *m +
                    "' is not an HTTP method (expected upper case, e.g. GET or POST)",
                "bad-value");
      }
      e.method = *m;
    }
    // Path template: literal segments and {name} placeholders, each exactly one segment.
    std::set<std::string> template_params;
    if (auto p = r.string(r.child(f, "path"))) {
      e.path = *p;
      bool ok = !p->empty() && (*p)[0] == '/';
      if (ok && p->size() > 1) {
        std::size_t start = 1;
        while (ok) {
          std::size_t end = p->find('/', start);
          std::string seg = p->substr(start, end == std::string::npos ? end : end - start);
          if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
            std::string name = seg.substr(1, seg.size() - 2);
            if (!is_id(name) || !template_params.insert(name).second) {
              ok = false;
              break;
            }
            e.path_params.push_back({name, std::nullopt});
            e.segments.push_back({"", static_cast<int>(e.path_params.size() - 1)});
          } else {
            if (seg.empty() || seg == "." || seg == ".." ||
                seg.find_first_of("{}?#%\\") != std::string::npos) {
              ok = false;
              break;
            }
            e.segments.push_back({seg, -1});
          }
          if (end == std::string::npos) {
            break;
          }
          start = end + 1;
        }
      }
      if (!ok) {
        r.error(f.node["path"],
                r.join(f.path, "path") + ": '" + *p +
                    "' is not a path template (expected '/' then literal segments or {name} "
                    "placeholders, each a whole segment, e.g. /asb/v1/cases/{case_id})",
                "bad-path");
      }
    }
    field pp = r.child(f, "path_params");
    if (r.present(pp)) {
      if (!pp.node.IsMap()) {
        r.error(pp.node, pp.path + ": expected a mapping of parameter name to regex", "wrong-type");
      } else {
        for (auto it = pp.node.begin(); it != pp.node.end(); ++it) {
          std::string name = it->first.Scalar();
          auto re = r.regex({it->second, r.join(pp.path, name)});
          auto pos = std::find_if(e.path_params.begin(), e.path_params.end(),
                                  [&](const path_param& x) { return x.name == name; });
          if (pos == e.path_params.end()) {
            r.error(
                it->first,
                r.join(pp.path, name) + ": '" + name + "' is not a {placeholder} of path " + e.path,
                "dangling-reference");
          } else if (re) {
            pos->re = std::move(*re);
          }
        }
      }
    }
    field qp = r.child(f, "query_params");
    if (qp.node.IsDefined()) {
      e.query_allowed = true;
      if (!qp.node.IsMap() && !qp.node.IsNull()) {
        r.error(qp.node, qp.path + ": expected a mapping of parameter name to {pattern, required}",
                "wrong-type");
      } else if (qp.node.IsMap()) {
        for (auto it = qp.node.begin(); it != qp.node.end(); ++it) {
          field q{it->second, r.join(qp.path, it->first.Scalar())};
          if (!r.mapping(q, {"pattern"}, {"required"})) {
            continue;
          }
          auto re = r.regex(r.child(q, "pattern"));
          bool required = false;
          if (r.present(r.child(q, "required"))) {
            required = r.boolean(r.child(q, "required")).value_or(false);
          }
          if (re) {
            e.query_params.push_back({it->first.Scalar(), std::move(*re), required});
          }
        }
      }
    }
    e.data_categories = r.id_list(r.child(f, "data_categories"), true);
    check_refs(r, r.child(f, "data_categories"), e.data_categories, ids.categories,
               "data category");

    if (read_response(r, r.child(f, "response"), e.response)) {
      e.has_response = true;
    }
    read_request(r, r.child(f, "request"), options, e);
    if (!e.response.filters() && options.lint_warnings && !e.id.empty()) {
      r.warning(f.node,
                f.path + ": endpoint '" + e.id +
                    "' has no response rules (allow_fields, max_items, withhold_if): the whole "
                    "upstream body is disclosed, streamed as it arrives",
                "unfiltered-endpoint");
    }
    a.endpoints.push_back(std::move(e));
  });
}

}  // namespace dsa::policy::sections
