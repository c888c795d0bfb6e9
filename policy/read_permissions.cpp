// The rules: permissions with their references, require, emergency terms, time windows and volume
// caps (docs/agreements.md §3.7 and "Emergency disclosures"), and prohibitions (§3.8).

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "policy/sections.hpp"
#include "policy/time.hpp"

namespace dsa::policy::sections {

void read_permissions(reader& r, const field& top, agreement& a, const declared_ids& ids) {
  std::set<std::string> permission_ids;
  r.sequence(r.child(top, "permissions"), true, [&](const field& f) {
    if (!r.mapping(f, {"id", "assignee", "endpoints", "purposes", "lawful_basis", "legal_gateway"},
                   {"require", "emergency", "time_windows", "volume_caps"})) {
      return;
    }
    permission p;
    p.id = r.id(r.child(f, "id")).value_or("");
    if (!p.id.empty() && !permission_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": permission '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    p.assignee = r.id(r.child(f, "assignee")).value_or("");
    check_ref(r, f.node["assignee"], r.join(f.path, "assignee"), p.assignee, ids.parties, "party");
    p.endpoints = r.id_list(r.child(f, "endpoints"), true);
    check_refs(r, r.child(f, "endpoints"), p.endpoints, ids.endpoints, "endpoint");
    p.purposes = r.id_list(r.child(f, "purposes"), true);
    check_refs(r, r.child(f, "purposes"), p.purposes, ids.purposes, "purpose");
    p.lawful_basis = r.id_list(r.child(f, "lawful_basis"), true);
    check_refs(r, r.child(f, "lawful_basis"), p.lawful_basis, ids.bases, "lawful basis");
    p.legal_gateway = r.id_list(r.child(f, "legal_gateway"), true);
    check_refs(r, r.child(f, "legal_gateway"), p.legal_gateway, ids.gateways, "legal gateway");

    field req = r.child(f, "require");
    if (r.present(req) && r.mapping(req, {}, {"case_ref", "case_ref_param", "acting_user"})) {
      if (r.present(r.child(req, "case_ref"))) {
        p.require.case_ref = r.regex(r.child(req, "case_ref"));
      }
      if (r.present(r.child(req, "acting_user"))) {
        p.require.acting_user = r.regex(r.child(req, "acting_user"));
      }
      if (auto param = r.string(r.child(req, "case_ref_param"))) {
        p.require.case_ref_param = *param;
        for (const std::string& eid : p.endpoints) {
          const endpoint* e = a.find_endpoint(eid);
          if (e != nullptr && std::none_of(e->path_params.begin(), e->path_params.end(),
                                           [&](const path_param& x) { return x.name == *param; })) {
            r.error(req.node["case_ref_param"],
                    r.join(req.path, "case_ref_param") + ": '" + *param +
                        "' is not a {placeholder} in the path of endpoint '" + eid + "' (" +
                        e->path + ")",
                    "dangling-reference");
          }
        }
      }
    }

    field em = r.child(f, "emergency");
    // `emergency:` written with no value is an error too (the mapping check says so): read as
    // absent it would make the permission an ordinary one, tried without any declaration.
    if (em.node.IsDefined() &&
        r.mapping(em, {"incident_ref", "justification", "review_within"}, {"response"})) {
      // Whatever part cannot be read is reported and left empty: the file then has errors and is
      // not loaded, but the permission stays an emergency one for the checks that follow.
      emergency_terms terms;
      if (auto re = r.regex(r.child(em, "incident_ref"))) {
        terms.incident_ref = std::move(*re);
      }
      field jf = r.child(em, "justification");
      if (jf.node.IsDefined() && r.mapping(jf, {"min_length"}, {})) {
        field ml = r.child(jf, "min_length");
        if (auto n = r.count(ml); n && *n == 0) {
          r.error(ml.node,
                  ml.path + ": expected at least 1 (an emergency disclosure must say why; e.g. 40)",
                  "bad-value");
        } else if (n) {
          terms.min_justification = static_cast<std::size_t>(*n);
        }
      }
      field rw = r.child(em, "review_within");
      if (auto w = r.string(rw)) {
        terms.review_within_text = *w;
        if (auto d = parse_duration(*w); d && d->count() > 0) {
          terms.review_within = *d;
        } else {
          r.error(rw.node,
                  rw.path + ": '" + *w +
                      "' is not a duration greater than zero (expected ISO 8601 weeks, days, "
                      "hours, minutes or seconds, e.g. P3D or PT72H)",
                  "bad-duration");
        }
      }
      response_rules rules;
      if (read_response(r, r.child(em, "response"), rules)) {
        terms.response = std::move(rules);
      }
      p.emergency = std::move(terms);
    } else if (em.node.IsDefined()) {
      p.emergency.emplace();
    }

    field tw = r.child(f, "time_windows");
    if (r.present(tw) && r.mapping(tw, {"timezone", "allow"}, {})) {
      time_windows w;
      if (auto tz = r.string(r.child(tw, "timezone"))) {
        w.timezone = *tz;
        try {
          w.zone = date::locate_zone(*tz);
        } catch (const std::exception&) {
          r.error(tw.node["timezone"],
                  r.join(tw.path, "timezone") + ": '" + *tz +
                      "' is not a time zone of the tz database (expected e.g. Europe/London)",
                  "bad-timezone");
        }
      }
      r.sequence(r.child(tw, "allow"), true, [&](const field& wf) {
        if (!r.mapping(wf, {"days", "from", "to"}, {})) {
          return;
        }
        time_window win;
        static constexpr std::array<std::string_view, 7> names{"mon", "tue", "wed", "thu",
                                                               "fri", "sat", "sun"};
        r.sequence(r.child(wf, "days"), true, [&](const field& df) {
          auto d = r.string(df);
          if (!d) {
            return;
          }
          auto it = std::find(names.begin(), names.end(), *d);
          if (it == names.end()) {
            r.error(df.node,
                    df.path + ": '" + *d +
                        "' is not a day (expected mon, tue, wed, thu, "
                        "fri, sat or sun)",
                    "bad-value");
          } else {
            win.days |= static_cast<std::uint8_t>(1u << (it - names.begin()));
          }
        });
        bool ok = true;
        for (auto [key, out] :
             {std::pair{"from", &win.from_minute}, std::pair{"to", &win.to_minute}}) {
          if (auto t = r.string(r.child(wf, key)); t && !parse_hhmm(*t, *out)) {
            r.error(wf.node[key],
                    r.join(wf.path, key) + ": '" + *t +
                        "' is not a local time (expected HH:MM, e.g. 08:00)",
                    "bad-time");
            ok = false;
          }
        }
        if (ok && wf.node["from"].IsDefined() && wf.node["to"].IsDefined() &&
            win.from_minute >= win.to_minute) {
          r.error(wf.node["to"],
                  r.join(wf.path, "to") +
                      ": must be later than 'from' (use two windows for an overnight span)",
                  "bad-time");
        }
        w.allow.push_back(win);
      });
      p.windows = std::move(w);
    }

    r.sequence(r.child(f, "volume_caps"), false, [&](const field& cf) {
      if (!r.mapping(cf, {"scope", "window", "max"}, {})) {
        return;
      }
      volume_cap cap;
      if (auto s = r.string(r.child(cf, "scope"))) {
        if (*s == "assignee") {
          cap.scope = cap_scope::assignee;
        } else if (*s == "case_ref") {
          cap.scope = cap_scope::case_ref;
          if (!p.require.case_ref_required()) {
            r.error(cf.node["scope"],
                    r.join(cf.path, "scope") +
                        ": a case_ref cap needs require.case_ref or require.case_ref_param in "
                        "this permission",
                    "bad-cap");
          }
        } else if (*s == "acting_user") {
          cap.scope = cap_scope::acting_user;
          if (!p.require.acting_user) {
            r.error(cf.node["scope"],
                    r.join(cf.path, "scope") +
                        ": an acting_user cap needs require.acting_user in this permission",
                    "bad-cap");
          }
        } else if (*s == "incident") {
          cap.scope = cap_scope::incident;
          if (!p.emergency) {
            r.error(cf.node["scope"],
                    r.join(cf.path, "scope") +
                        ": an incident cap needs an emergency block in this permission (the "
                        "incident is the DSA-Emergency reference)",
                    "bad-cap");
          }
        } else {
          r.error(cf.node["scope"],
                  r.join(cf.path, "scope") + ": '" + *s +
                      "' (expected assignee, case_ref, acting_user or incident)",
                  "bad-value");
        }
      }
      if (auto w = r.string(r.child(cf, "window"))) {
        cap.window_text = *w;
        if (auto d = parse_duration(*w)) {
          cap.window = *d;
        } else {
          r.error(cf.node["window"],
                  r.join(cf.path, "window") + ": '" + *w +
                      "' is not a duration (expected ISO 8601 weeks, days, hours, minutes or "
                      "seconds, e.g. PT1H, P1D, P7D; years and months are not fixed lengths)",
                  "bad-duration");
        }
      }
      cap.max = r.count(r.child(cf, "max")).value_or(0);
      p.volume_caps.push_back(std::move(cap));
    });
    a.permissions.push_back(std::move(p));
  });
}

void read_prohibitions(reader& r, const field& top, agreement& a, const declared_ids& ids) {
  std::set<std::string> prohibition_ids;
  r.sequence(r.child(top, "prohibitions"), false, [&](const field& f) {
    if (!r.mapping(f, {"id", "assignee", "endpoints", "reason"}, {"purposes"})) {
      return;
    }
    prohibition p;
    p.id = r.id(r.child(f, "id")).value_or("");
    if (!p.id.empty() && !prohibition_ids.insert(p.id).second) {
      r.error(f.node["id"], r.join(f.path, "id") + ": prohibition '" + p.id + "' is declared twice",
              "duplicate-id");
    }
    p.assignee = r.id(r.child(f, "assignee")).value_or("");
    if (p.assignee != "any") {
      check_ref(r, f.node["assignee"], r.join(f.path, "assignee"), p.assignee, ids.parties,
                "party (or 'any')");
    }
    p.endpoints = r.id_list(r.child(f, "endpoints"), true);
    check_refs(r, r.child(f, "endpoints"), p.endpoints, ids.endpoints, "endpoint");
    p.purposes = r.id_list(r.child(f, "purposes"), false);
    check_refs(r, r.child(f, "purposes"), p.purposes, ids.purposes, "purpose");
    p.reason = r.nonempty(r.child(f, "reason")).value_or("");
    a.prohibitions.push_back(std::move(p));
  });
}

}  // namespace dsa::policy::sections
