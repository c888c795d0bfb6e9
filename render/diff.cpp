// `dsa diff`: what an amendment changes, and whether it widens access (docs/agreements.md §2.4).

#include "render/diff.hpp"

#include <algorithm>
#include <bitset>
#include <set>

#include "render/words.hpp"

namespace dsa::policy::doc {

namespace {

constexpr auto widens = change_effect::widens;
constexpr auto narrows = change_effect::narrows;
constexpr auto neutral = change_effect::neutral;

std::string quoted(std::string_view s) { return "\u201c" + std::string(s) + "\u201d"; }

// The items of `b` not in `a`, in `b`'s order.
std::vector<std::string> missing_from(const std::vector<std::string>& a,
                                      const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (const std::string& s : b) {
    if (std::find(a.begin(), a.end(), s) == a.end()) {
      out.push_back(s);
    }
  }
  return out;
}

template <class T, class F>
std::vector<std::string> texts(const std::vector<T>& items, F f) {
  std::vector<std::string> out;
  for (const T& i : items) {
    out.push_back(f(i));
  }
  return out;
}

std::string identity_text(const identity_rule& r) {
  std::string_view kind = r.kind == identity_kind::uri_san   ? "URI SAN "
                          : r.kind == identity_kind::dns_san ? "DNS SAN "
                                                             : "subject ";
  return std::string(kind) + quoted(r.value) + " from trust anchor " + r.trust_anchor;
}

// Every minute of the week a permission may be used, in its own time zone.
using week_minutes = std::bitset<7 * 24 * 60>;
week_minutes minutes_of(const time_windows& w) {
  week_minutes out;
  for (const time_window& win : w.allow) {
    for (int day = 0; day < 7; ++day) {
      if ((win.days & (1u << day)) != 0) {
        for (int m = win.from_minute; m < win.to_minute; ++m) {
          out.set(static_cast<std::size_t>(day * 24 * 60 + m));
        }
      }
    }
  }
  return out;
}

std::string windows_words(const time_windows& w) {
  std::vector<std::string> parts;
  for (const time_window& win : w.allow) {
    parts.push_back(days_words(win.days) + " " + hhmm(win.from_minute) + "\u2013" +
                    hhmm(win.to_minute));
  }
  return join_words(parts, " and ") + " (" + w.timezone + ")";
}

std::string cap_words(const volume_cap& c) {
  return number(c.max) + " per " + window_words(c) + " per " + std::string(to_string(c.scope));
}

class differ {
 public:
  differ(std::vector<change>& out, std::string agreement)
      : out_(out), agreement_(std::move(agreement)) {}

  void add(std::string subject, std::string what, change_effect e, std::string words) {
    out_.push_back({agreement_, std::move(subject), std::move(what), e, std::move(words)});
  }

  // Items added to or removed from a list: adding has effect `on_add`, removing the opposite.
  void lists(const std::string& subject, const std::string& noun, const std::vector<std::string>& a,
             const std::vector<std::string>& b, change_effect on_add, const std::string& tail) {
    change_effect on_remove = on_add == widens ? narrows : on_add == narrows ? widens : neutral;
    for (const std::string& s : missing_from(a, b)) {
      add(subject, noun + "_added", on_add, noun_words(noun) + " " + s + " added" + tail);
    }
    for (const std::string& s : missing_from(b, a)) {
      add(subject, noun + "_removed", on_remove, noun_words(noun) + " " + s + " removed" + tail);
    }
  }

  void agreement_header(const agreement& a, const agreement& b);
  void parties(const agreement& a, const agreement& b);
  void purposes(const agreement& a, const agreement& b);
  void endpoints(const agreement& a, const agreement& b);
  void response(const std::string& subject, const response_rules& a, const response_rules& b);
  void permissions(const agreement& a, const agreement& b);
  void permission(const std::string& subject, const policy::permission& a,
                  const policy::permission& b);
  void windows(const std::string& subject, const policy::permission& a,
               const policy::permission& b);
  void caps(const std::string& subject, const policy::permission& a, const policy::permission& b);
  void emergency(const std::string& subject, const policy::permission& a,
                 const policy::permission& b);
  void prohibitions(const agreement& a, const agreement& b);

 private:
  static std::string noun_words(const std::string& noun) {
    std::string s = noun;
    std::replace(s.begin(), s.end(), '_', ' ');
    return s;
  }
  std::vector<change>& out_;
  std::string agreement_;
};

void differ::agreement_header(const agreement& a, const agreement& b) {
  if (a.version != b.version) {
    add("agreement", "version_changed", neutral, "version " + a.version + " → " + b.version);
  }
  if (a.title != b.title) {
    add("agreement", "title_changed", neutral,
        "title changed from " + quoted(a.title) + " to " + quoted(b.title));
  }
  if (a.status != b.status) {
    change_effect e = b.status == agreement_status::active   ? widens
                      : a.status == agreement_status::active ? narrows
                                                             : neutral;
    add("agreement", "status_changed", e,
        "status " + std::string(to_string(a.status)) + " → " + std::string(to_string(b.status)) +
            (e == widens    ? ": now in force during its validity"
             : e == narrows ? ": no longer in force, every request under it is refused"
                            : ""));
  }
  if (a.valid_from != b.valid_from) {
    add("agreement", "valid_from_changed", b.valid_from < a.valid_from ? widens : narrows,
        "takes effect from " + uk_time(b.valid_from) + " instead of " + uk_time(a.valid_from));
  }
  if (a.valid_until != b.valid_until) {
    add("agreement", "valid_until_changed", b.valid_until > a.valid_until ? widens : narrows,
        "ends at " + uk_time(b.valid_until) + " instead of " + uk_time(a.valid_until));
  }
}

void differ::parties(const agreement& a, const agreement& b) {
  for (const party& p : b.parties) {
    const party* old = a.find_party(p.id);
    std::string subject = "party " + p.id;
    if (old == nullptr) {
      // Its identities are accepted from now on, as far as its permissions reach.
      add(subject, "party_added", widens,
          p.name + " (" + p.id + ") joins as " + role_words(p.role) + " with " +
              plural(p.identities.size(), "identity", "identities"));
      continue;
    }
    if (old->role != p.role) {
      add(subject, "role_changed", neutral,
          "role " + role_words(old->role) + " → " + role_words(p.role));
    }
    auto ids_a = texts(old->identities, identity_text);
    auto ids_b = texts(p.identities, identity_text);
    for (const std::string& s : missing_from(ids_a, ids_b)) {
      add(subject, "identity_added", widens, "certificates with " + s + " now act as " + p.id);
    }
    for (const std::string& s : missing_from(ids_b, ids_a)) {
      add(subject, "identity_removed", narrows,
          "certificates with " + s + " no longer act as " + p.id);
    }
    for (const identity_rule& r : p.identities) {
      auto o = std::find_if(
          old->identities.begin(), old->identities.end(),
          [&](const identity_rule& x) { return identity_text(x) == identity_text(r); });
      if (o == old->identities.end()) {
        continue;
      }
      if (o->spki_sha256 != r.spki_sha256) {
        add(subject, "identity_pin_changed", r.spki_sha256.empty() ? widens : narrows,
            identity_text(r) + (r.spki_sha256.empty() ? ": key pin removed"
                                                      : ": key pin set to " + r.spki_sha256));
      }
      if (o->not_after != r.not_after) {
        bool later = !r.not_after || (o->not_after && *r.not_after > *o->not_after);
        add(subject, "identity_not_after_changed", later ? widens : narrows,
            identity_text(r) + (r.not_after ? ": accepted until " + uk_time(*r.not_after)
                                            : ": accepted with no end date"));
      }
    }
  }
  for (const party& p : a.parties) {
    if (b.find_party(p.id) == nullptr) {
      add("party " + p.id, "party_removed", narrows,
          p.name + " (" + p.id + ") leaves the agreement");
    }
  }
}

void differ::purposes(const agreement& a, const agreement& b) {
  // A purpose declared grants nothing by itself: what counts is a permission naming it.
  auto id = [](const purpose& p) { return p.id; };
  lists("agreement", "purpose", texts(a.purposes, id), texts(b.purposes, id), neutral, "");
  for (const purpose& p : b.purposes) {
    const purpose* old = a.find_purpose(p.id);
    if (old != nullptr && old->description != p.description) {
      add("purpose " + p.id, "purpose_described", neutral,
          "described as " + quoted(p.description) + " instead of " + quoted(old->description));
    }
  }
}

void differ::endpoints(const agreement& a, const agreement& b) {
  for (const endpoint& e : b.endpoints) {
    const endpoint* old = a.find_endpoint(e.id);
    std::string subject = "endpoint " + e.id;
    if (old == nullptr) {
      bool granted = std::any_of(b.permissions.begin(), b.permissions.end(), [&](const auto& p) {
        return std::find(p.endpoints.begin(), p.endpoints.end(), e.id) != p.endpoints.end();
      });
      add(subject, "endpoint_added", granted ? widens : neutral,
          e.method + " " + e.upstream + " " + e.path + " added" +
              (granted ? "" : " (no permission names it)"));
      continue;
    }
    for (auto [field, x, y] :
         {std::tuple{"method", &old->method, &e.method}, std::tuple{"path", &old->path, &e.path},
          std::tuple{"upstream", &old->upstream, &e.upstream}}) {
      if (*x != *y) {
        // Another resource is reached under the same permissions.
        add(subject, std::string(field) + "_changed", widens,
            std::string(field) + " " + *x + " → " + *y);
      }
    }
    for (const path_param& p : e.path_params) {
      auto o = std::find_if(old->path_params.begin(), old->path_params.end(),
                            [&](const path_param& x) { return x.name == p.name; });
      std::string was = o == old->path_params.end() || !o->re ? "any value" : o->re->text;
      std::string now = p.re ? p.re->text : "any value";
      if (was != now) {
        add(subject, "path_param_changed", widens,
            "path parameter " + p.name + " pattern " + was + " → " + now);
      }
    }
    if (!old->query_allowed && e.query_allowed) {
      add(subject, "query_allowed", widens, "a query string is now allowed");
    } else if (old->query_allowed && !e.query_allowed) {
      add(subject, "query_refused", narrows, "a query string is no longer allowed");
    }
    auto q = [](const query_param& p) { return p.name + " matching " + p.re.text; };
    lists(subject, "query_parameter", texts(old->query_params, q), texts(e.query_params, q), widens,
          "");
    lists(subject, "data_category", old->data_categories, e.data_categories, widens, "");
    response(subject, old->response, e.response);
    if (old->request.max_bytes != e.request.max_bytes) {
      // A larger request body lets a partner submit more (docs/agreements.md §3.5).
      auto text = [](const std::optional<std::uint64_t>& m) {
        return m ? number(*m) + " bytes" : std::string("the gateway's limit");
      };
      const bool raised = !e.request.max_bytes || (old->request.max_bytes &&
                                                   *e.request.max_bytes > *old->request.max_bytes);
      add(subject, "request_max_bytes_changed", raised ? widens : narrows,
          "request.max_bytes " + text(old->request.max_bytes) + " → " + text(e.request.max_bytes));
    }
  }
  for (const endpoint& e : a.endpoints) {
    if (b.find_endpoint(e.id) == nullptr) {
      add("endpoint " + e.id, "endpoint_removed", narrows,
          e.method + " " + e.upstream + " " + e.path + " removed");
    }
  }
}

void differ::response(const std::string& subject, const response_rules& a,
                      const response_rules& b) {
  if (a.has_allow_fields && !b.has_allow_fields) {
    add(subject, "allow_fields_removed", widens, "allow_fields removed: every field is released");
  } else if (!a.has_allow_fields && b.has_allow_fields) {
    add(subject, "allow_fields_set", narrows,
        "allow_fields set: only the listed fields are released");
  } else if (a.has_allow_fields) {
    auto p = [](const json_pointer& j) { return j.text; };
    lists(subject, "released_field", texts(a.allow_fields, p), texts(b.allow_fields, p), widens,
          "");
  }
  if (a.max_items && !b.max_items) {
    add(subject, "max_items_removed", widens,
        "max_items at " + a.max_items->pointer.text + " removed: any number of items is released");
  } else if (!a.max_items && b.max_items) {
    add(subject, "max_items_set", narrows,
        "at most " + number(b.max_items->max) + " items at " + b.max_items->pointer.text);
  } else if (a.max_items && (a.max_items->max != b.max_items->max ||
                             a.max_items->pointer.text != b.max_items->pointer.text)) {
    bool same_place = a.max_items->pointer.text == b.max_items->pointer.text;
    add(subject, "max_items_changed",
        !same_place || b.max_items->max > a.max_items->max ? widens : narrows,
        "max_items " + number(a.max_items->max) + " at " + a.max_items->pointer.text + " → " +
            number(b.max_items->max) + " at " + b.max_items->pointer.text);
  }
  auto w = [](const withhold_rule& r) { return r.pointer.text + " = " + r.equals_json; };
  lists(subject, "withhold_if", texts(a.withhold_if, w), texts(b.withhold_if, w), narrows,
        " (records matching it are withheld)");
  if (a.max_bytes != b.max_bytes) {
    auto text = [](const std::optional<std::uint64_t>& m) {
      return m ? number(*m) + " bytes" : std::string("the gateway's limit");
    };
    bool raised = !b.max_bytes || (a.max_bytes && *b.max_bytes > *a.max_bytes);
    add(subject, "max_bytes_changed", raised ? widens : narrows,
        "response.max_bytes " + text(a.max_bytes) + " → " + text(b.max_bytes));
  }
  if (a.ranges != b.ranges) {
    add(subject, b.ranges ? "ranges_on" : "ranges_off", b.ranges ? widens : narrows,
        b.ranges ? "range requests are now forwarded and partial responses released"
                 : "range requests are no longer forwarded");
  }
}

void differ::permissions(const agreement& a, const agreement& b) {
  auto find = [](const agreement& x, const std::string& id) -> const policy::permission* {
    for (const policy::permission& p : x.permissions) {
      if (p.id == id) {
        return &p;
      }
    }
    return nullptr;
  };
  for (const policy::permission& p : b.permissions) {
    const policy::permission* old = find(a, p.id);
    std::string subject = "permission " + p.id;
    if (old == nullptr && p.emergency) {
      // docs/agreements.md §3.10: a new route to the data, used on a declaration.
      add(subject, "emergency_permission_added", widens,
          p.assignee + " may now call " + join_words(p.endpoints, " and ") + " for " +
              join_words(p.purposes, " and ") + " in a declared emergency (reviewed within " +
              duration_words(p.emergency->review_within, p.emergency->review_within_text) + ")");
    } else if (old == nullptr) {
      add(subject, "permission_added", widens,
          p.assignee + " may now call " + join_words(p.endpoints, " and ") + " for " +
              join_words(p.purposes, " and "));
    } else {
      permission(subject, *old, p);
    }
  }
  for (const policy::permission& p : a.permissions) {
    if (find(b, p.id) == nullptr) {
      add("permission " + p.id, "permission_removed", narrows,
          p.assignee + " may no longer call " + join_words(p.endpoints, " and ") + " under it");
    }
  }
}

void differ::permission(const std::string& subject, const policy::permission& a,
                        const policy::permission& b) {
  if (a.assignee != b.assignee) {
    add(subject, "assignee_changed", widens,
        "granted to " + b.assignee + " instead of " + a.assignee);
  }
  std::string tail = " for " + b.assignee;
  lists(subject, "endpoint", a.endpoints, b.endpoints, widens, tail);
  lists(subject, "purpose", a.purposes, b.purposes, widens, tail);
  lists(subject, "lawful_basis", a.lawful_basis, b.lawful_basis, neutral, "");
  lists(subject, "legal_gateway", a.legal_gateway, b.legal_gateway, neutral, "");
  auto pat = [](const std::optional<pattern>& p) { return p ? p->text : std::string(); };
  for (auto [name, x, y] :
       {std::tuple{"case reference pattern", pat(a.require.case_ref), pat(b.require.case_ref)},
        std::tuple{"case reference path parameter", a.require.case_ref_param,
                   b.require.case_ref_param},
        std::tuple{"acting user pattern", pat(a.require.acting_user),
                   pat(b.require.acting_user)}}) {
    if (x == y) {
      continue;
    }
    std::string what = std::string(name);
    std::replace(what.begin(), what.end(), ' ', '_');
    add(subject,
        what + (y.empty()   ? "_removed"
                : x.empty() ? "_required"
                            : "_changed"),
        x.empty() ? narrows : widens,
        std::string(name) + " " + (x.empty() ? "none" : x) + " → " + (y.empty() ? "none" : y));
  }
  windows(subject, a, b);
  caps(subject, a, b);
  emergency(subject, a, b);
}

// docs/agreements.md §3.10. Becoming an emergency permission answers declared emergencies it did
// not answer before, and ceasing to be one lets it answer without a declaration or a review:
// both widen. Within the block, a rewritten incident pattern widens (patterns are not compared),
// a shorter justification or a longer review period widens, and the block's own response rules
// compare as an endpoint's do (replacing the endpoint's rules, or going back to them, widens:
// the tool does not compare the two sets).
void differ::emergency(const std::string& subject, const policy::permission& a,
                       const policy::permission& b) {
  if (!a.emergency && b.emergency) {
    add(subject, "emergency_added", widens,
        "now an emergency permission: it answers only declared emergencies, reviewed within " +
            duration_words(b.emergency->review_within, b.emergency->review_within_text));
    return;
  }
  if (a.emergency && !b.emergency) {
    add(subject, "emergency_removed", widens,
        "no longer an emergency permission: it answers requests without a declared emergency and "
        "without a review");
    return;
  }
  if (!a.emergency) {
    return;
  }
  const policy::emergency_terms& x = *a.emergency;
  const policy::emergency_terms& y = *b.emergency;
  if (x.incident_ref.text != y.incident_ref.text) {
    add(subject, "incident_ref_changed", widens,
        "incident reference pattern " + x.incident_ref.text + " → " + y.incident_ref.text);
  }
  if (x.min_justification != y.min_justification) {
    add(subject, "justification_min_length_changed",
        y.min_justification < x.min_justification ? widens : narrows,
        "emergency justification at least " + number(x.min_justification) + " → " +
            number(y.min_justification) + " characters");
  }
  if (x.review_within != y.review_within) {
    add(subject, "review_within_changed", y.review_within > x.review_within ? widens : narrows,
        "emergency disclosures reviewed within " +
            duration_words(x.review_within, x.review_within_text) + " → " +
            duration_words(y.review_within, y.review_within_text));
  }
  if (x.response && y.response) {
    response(subject, *x.response, *y.response);
  } else if (x.response || y.response) {
    add(subject, y.response ? "emergency_response_set" : "emergency_response_removed", widens,
        y.response ? "the emergency block's own response rules replace the endpoints' rules"
                   : "the endpoints' own response rules apply again in an emergency");
  }
}

void differ::windows(const std::string& subject, const policy::permission& a,
                     const policy::permission& b) {
  if (!a.windows && !b.windows) {
    return;
  }
  if (a.windows && !b.windows) {
    add(subject, "time_windows_removed", widens, "time windows removed: usable at any time");
    return;
  }
  if (!a.windows) {
    add(subject, "time_windows_set", narrows, "usable only " + windows_words(*b.windows));
    return;
  }
  week_minutes x = minutes_of(*a.windows), y = minutes_of(*b.windows);
  bool zone = a.windows->timezone != b.windows->timezone;
  std::string words =
      "time windows " + windows_words(*a.windows) + " → " + windows_words(*b.windows);
  if (zone || (y & ~x).any()) {
    add(subject, "time_windows_widened", widens, words);
  } else if ((x & ~y).any()) {
    add(subject, "time_windows_narrowed", narrows, words);
  }
}

void differ::caps(const std::string& subject, const policy::permission& a,
                  const policy::permission& b) {
  auto same = [](const volume_cap& x, const volume_cap& y) {
    return x.scope == y.scope && x.window == y.window;
  };
  for (const volume_cap& c : b.volume_caps) {
    auto o = std::find_if(a.volume_caps.begin(), a.volume_caps.end(),
                          [&](const volume_cap& x) { return same(x, c); });
    if (o == a.volume_caps.end()) {
      add(subject, "volume_cap_added", narrows, "volume cap " + cap_words(c) + " added");
    } else if (o->max != c.max) {
      add(subject, c.max > o->max ? "volume_cap_raised" : "volume_cap_lowered",
          c.max > o->max ? widens : narrows, "volume cap " + cap_words(*o) + " → " + number(c.max));
    }
  }
  for (const volume_cap& c : a.volume_caps) {
    if (std::none_of(b.volume_caps.begin(), b.volume_caps.end(),
                     [&](const volume_cap& x) { return same(x, c); })) {
      add(subject, "volume_cap_removed", widens, "volume cap " + cap_words(c) + " removed");
    }
  }
}

void differ::prohibitions(const agreement& a, const agreement& b) {
  auto find = [](const agreement& x, const std::string& id) -> const prohibition* {
    for (const prohibition& p : x.prohibitions) {
      if (p.id == id) {
        return &p;
      }
    }
    return nullptr;
  };
  for (const prohibition& p : b.prohibitions) {
    const prohibition* old = find(a, p.id);
    std::string subject = "prohibition " + p.id;
    if (old == nullptr) {
      add(subject, "prohibition_added", narrows, "added: " + p.reason);
      continue;
    }
    if (old->assignee != p.assignee) {
      add(subject, "prohibition_assignee_changed", widens,
          "applies to " + p.assignee + " instead of " + old->assignee);
    }
    lists(subject, "prohibited_endpoint", old->endpoints, p.endpoints, narrows, "");
    // No purposes means every purpose.
    if (old->purposes.empty() != p.purposes.empty()) {
      add(subject, "prohibited_purposes_changed", p.purposes.empty() ? narrows : widens,
          p.purposes.empty() ? "now applies to every purpose"
                             : "now applies only to " + join_words(p.purposes, " and "));
    } else {
      lists(subject, "prohibited_purpose", old->purposes, p.purposes, narrows, "");
    }
  }
  for (const prohibition& p : a.prohibitions) {
    if (find(b, p.id) == nullptr) {
      add("prohibition " + p.id, "prohibition_removed", widens, "removed: " + p.reason);
    }
  }
}

}  // namespace

std::vector<change> diff_agreements(const agreement_set& before, const agreement_set& after) {
  std::vector<change> out;
  std::set<std::string> ids;
  for (const auto& a : before.agreements) {
    ids.insert(a->id);
  }
  for (const auto& a : after.agreements) {
    ids.insert(a->id);
  }
  for (const std::string& id : ids) {
    const agreement* a = before.find(id);
    const agreement* b = after.find(id);
    differ d(out, id);
    if (a == nullptr) {
      d.add("agreement", "agreement_added", widens,
            "new agreement " + quoted(b->title) + " (" + std::string(to_string(b->status)) + ", " +
                plural(b->permissions.size(), "permission", "permissions") + ")");
    } else if (b == nullptr) {
      d.add("agreement", "agreement_removed", narrows,
            "agreement " + quoted(a->title) + " removed: every permission under it ends");
    } else {
      d.agreement_header(*a, *b);
      d.parties(*a, *b);
      d.purposes(*a, *b);
      d.endpoints(*a, *b);
      d.permissions(*a, *b);
      d.prohibitions(*a, *b);
    }
  }
  return out;
}

std::string_view to_string(change_effect e) noexcept {
  switch (e) {
    case change_effect::widens:
      return "widens";
    case change_effect::narrows:
      return "narrows";
    case change_effect::neutral:
      break;
  }
  return "neutral";
}

}  // namespace dsa::policy::doc
