// The decision engine (docs/design.md §4).
//
// Per request it does, in order: look up the candidates for (requester, method) in the index
// built once per set by build_engine_indexes (at the end of this file); match each candidate's path
// template against the canonical path segments; run the per-candidate checks in the fixed order of
// docs/design.md §4.3; return the first candidate that passes, else the reason of the candidate
// that got furthest. Nothing is compiled here: regexes, templates, zones and indexes were all built
// at load.

#include "policy/engine.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <functional>

#include "policy/canonical_path.hpp"
#include "policy/identity_name.hpp"
#include "policy/text.hpp"
#include "policy/time.hpp"

namespace dsa::policy {

using namespace std::chrono;

namespace {

constexpr std::size_t max_segments = 32;

struct segments {
  std::array<std::string_view, max_segments> items;
  std::array<std::size_t, max_segments> hashes;  // std::hash of each item, for the prefilter
  std::size_t count = 0;
  bool overflow = false;
};

segments split_path(std::string_view path) {
  segments out;
  if (path.empty() || path == "/") {
    return out;
  }
  std::size_t start = 1;
  while (true) {
    std::size_t end = path.find('/', start);
    if (out.count == max_segments) {
      out.overflow = true;
      return out;
    }
    out.items[out.count] =
        path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    out.hashes[out.count] = std::hash<std::string_view>{}(out.items[out.count]);
    ++out.count;
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return out;
}

bool template_matches(const endpoint& e, const segments& segs) {
  if (segs.overflow || segs.count != e.segments.size()) {
    return false;
  }
  for (std::size_t i = 0; i < segs.count; ++i) {
    const path_segment& t = e.segments[i];
    if (t.param < 0) {
      if (segs.items[i] != t.literal) {
        return false;
      }
    } else if (segs.items[i].empty()) {
      return false;
    }
  }
  return true;
}

struct check_result {
  reason why = reason::allowed;
  std::string detail;
};

// A failed check. The detail text is built only when it will be shown (`want`): the engine
// decides first without any text, then describes only the candidate whose reason is returned.
template <typename Describe>
check_result fail(bool want, reason why, Describe&& describe) {
  return want ? check_result{why, describe()} : check_result{why, {}};
}

// The value of the path parameter at template index `param`, percent-decoded.
bool decoded_param(const endpoint& e, const segments& segs, int param, std::string& out) {
  for (std::size_t i = 0; i < e.segments.size(); ++i) {
    if (e.segments[i].param == param) {
      out.clear();
      return percent_decode(segs.items[i], out);
    }
  }
  return false;
}

check_result check_query(const endpoint& e, std::string_view query, bool want) {
  if (query.empty()) {
    for (const query_param& q : e.query_params) {
      if (q.required) {
        return fail(want, reason::query_not_allowed,
                    [&] { return std::string("query parameter '" + q.name + "' is required"); });
      }
    }
    return {};
  }
  if (!e.query_allowed) {
    return fail(want, reason::query_not_allowed,
                [&] { return std::string("endpoint '" + e.id + "' takes no query string"); });
  }
  // One flag per declared parameter: inline for the usual handful, on the heap beyond that, so
  // an endpoint may declare any number of parameters.
  constexpr std::size_t inline_params = 64;
  std::array<bool, inline_params> seen_inline{};
  std::vector<bool> seen_heap;
  if (e.query_params.size() > inline_params) {
    seen_heap.assign(e.query_params.size(), false);
  }
  auto seen = [&](std::size_t i) -> bool {
    return seen_heap.empty() ? seen_inline[i] : static_cast<bool>(seen_heap[i]);
  };
  auto mark_seen = [&](std::size_t i) {
    if (seen_heap.empty()) {
      seen_inline[i] = true;
    } else {
      seen_heap[i] = true;
    }
  };
  std::string name, value;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    std::string_view pair =
        query.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t eq = pair.find('=');
    if (pair.empty() || eq == std::string_view::npos || eq == 0) {
      return fail(want, reason::query_not_allowed, [&] {
        return std::string(
            "malformed query parameter (expected name=value pairs separated by '&')");
      });
    }
    name.clear();
    value.clear();
    if (!percent_decode(pair.substr(0, eq), name) || !percent_decode(pair.substr(eq + 1), value)) {
      return fail(want, reason::query_not_allowed,
                  [&] { return std::string("malformed percent-escape in the query"); });
    }
    auto it = std::find_if(e.query_params.begin(), e.query_params.end(),
                           [&](const query_param& q) { return q.name == name; });
    if (it == e.query_params.end()) {
      return fail(want, reason::query_not_allowed, [&] {
        return std::string("query parameter '" + escape_text(name) + "' is not allowed");
      });
    }
    std::size_t index = static_cast<std::size_t>(it - e.query_params.begin());
    if (seen(index)) {
      return fail(want, reason::query_not_allowed, [&] {
        return std::string("query parameter '" + escape_text(name) + "' is repeated");
      });
    }
    mark_seen(index);
    if (!it->re.matches(value)) {
      return fail(want, reason::query_not_allowed, [&] {
        return std::string("query parameter '" + escape_text(name) + "' does not match " +
                           it->re.text);
      });
    }
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  for (std::size_t i = 0; i < e.query_params.size(); ++i) {
    if (e.query_params[i].required && !seen(i)) {
      return fail(want, reason::query_not_allowed, [&] {
        return std::string("query parameter '" + e.query_params[i].name + "' is required");
      });
    }
  }
  return {};
}

bool in_time_window(const time_windows& w, time_point now) {
  if (w.zone == nullptr) {
    return false;
  }
  auto local = w.zone->to_local(floor<seconds>(now));
  auto day = floor<date::days>(local);
  // date::weekday: Sunday = 0 … Saturday = 6; our mask: Monday = bit 0 … Sunday = bit 6.
  unsigned wd = date::weekday{day}.c_encoding();
  unsigned bit = (wd + 6) % 7;
  int minute = static_cast<int>(duration_cast<minutes>(local - day).count());
  for (const time_window& win : w.allow) {
    if ((win.days & (1u << bit)) != 0 && minute >= win.from_minute && minute < win.to_minute) {
      return true;
    }
  }
  return false;
}

// Characters of the justification after trimming spaces and tabs: UTF-8 code points, so a
// multi-byte character counts once (the header rules admit only ASCII, but `dsa explain` and
// other callers of the engine need not have applied them).
std::size_t justification_length(std::optional<std::string_view> text) {
  if (!text) {
    return 0;
  }
  std::string_view t = *text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
    t.remove_prefix(1);
  }
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
    t.remove_suffix(1);
  }
  return static_cast<std::size_t>(
      std::count_if(t.begin(), t.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// docs/design.md §4.3: the checks of one candidate, in order. The volume cap comes last because
// passing it records the request. `counter` null: describe a candidate already refused at its
// volume cap `cap` without touching the counter again.
check_result check_candidate(const candidate& c, std::string_view party, const segments& segs,
                             const request_view& req, volume_counter* counter, bool want,
                             std::size_t& cap) {
  const agreement& a = *c.agreement;
  const permission& p = *c.permission;
  const endpoint& e = *c.endpoint;

  if (a.status != agreement_status::active) {
    std::string detail = "agreement '" + a.id + "' is " + std::string(to_string(a.status));
    if (!a.status_reason.empty()) {
      detail += ": " + a.status_reason;
    }
    return fail(want, reason::agreement_inactive, [&] { return std::string(std::move(detail)); });
  }
  if (req.now < a.valid_from) {
    return fail(want, reason::agreement_not_yet_valid, [&] {
      return std::string("agreement '" + a.id + "' takes effect at " +
                         format_instant(a.valid_from));
    });
  }
  if (req.now >= a.valid_until) {
    return fail(want, reason::agreement_expired, [&] {
      return std::string("agreement '" + a.id + "' ended at " + format_instant(a.valid_until));
    });
  }
  if (a.review_overdue_denies && a.review_due && london_zone() != nullptr) {
    auto local = london_zone()->to_local(floor<seconds>(req.now));
    date::year_month_day today{floor<date::days>(local)};
    if (today > *a.review_due) {
      return fail(want, reason::review_overdue, [&] {
        return std::string("agreement '" + a.id + "' was due for review on " +
                           date::format("%F", *a.review_due));
      });
    }
  }
  std::string decoded;
  for (std::size_t i = 0; i < e.path_params.size(); ++i) {
    const path_param& param = e.path_params[i];
    if (!decoded_param(e, segs, static_cast<int>(i), decoded)) {
      return fail(want, reason::path_param_invalid, [&] {
        return std::string("path parameter '" + param.name + "' has a malformed percent-escape");
      });
    }
    if (param.re && !param.re->matches(decoded)) {
      return fail(want, reason::path_param_invalid, [&] {
        return std::string("path parameter '" + param.name + "' does not match " + param.re->text);
      });
    }
  }
  if (check_result q = check_query(e, req.query, want); q.why != reason::allowed) {
    return q;
  }
  if (!req.purpose || req.purpose->empty()) {
    return fail(want, reason::purpose_missing,
                [&] { return std::string("the DSA-Purpose header is required"); });
  }
  if (!contains(p.purposes, *req.purpose)) {
    return fail(want, reason::purpose_not_permitted, [&] {
      return std::string("purpose '" + escape_text(*req.purpose) +
                         "' is not permitted for this request under '" + a.id + "'");
    });
  }
  if (p.emergency) {
    if (!req.emergency || !p.emergency->incident_ref.matches(*req.emergency)) {
      return fail(want, reason::incident_ref_invalid, [&] {
        return std::string("the incident reference (DSA-Emergency) does not match " +
                           p.emergency->incident_ref.text);
      });
    }
    const std::size_t length = justification_length(req.justification);
    if (length < p.emergency->min_justification) {
      return fail(want, reason::justification_too_short, [&] {
        return std::string("the emergency justification (DSA-Emergency-Justification) has " +
                           std::to_string(length) + " characters; permission '" + p.id +
                           "' needs at least " + std::to_string(p.emergency->min_justification));
      });
    }
  }
  if (p.require.case_ref_required()) {
    if (!req.case_ref || req.case_ref->empty()) {
      return fail(want, reason::case_ref_missing,
                  [&] { return std::string("the DSA-Case-Ref header is required"); });
    }
    if (p.require.case_ref && !p.require.case_ref->matches(*req.case_ref)) {
      return fail(want, reason::case_ref_invalid, [&] {
        return std::string("the case reference does not match " + p.require.case_ref->text);
      });
    }
    if (c.case_ref_param_index >= 0) {
      if (!decoded_param(e, segs, c.case_ref_param_index, decoded) || decoded != *req.case_ref) {
        return fail(want, reason::case_ref_mismatch, [&] {
          return std::string("the case reference does not equal path parameter '" +
                             p.require.case_ref_param + "'");
        });
      }
    }
  }
  if (p.require.acting_user) {
    if (!req.acting_user || req.acting_user->empty()) {
      return fail(want, reason::acting_user_missing,
                  [&] { return std::string("the DSA-Acting-User header is required"); });
    }
    if (!p.require.acting_user->matches(*req.acting_user)) {
      return fail(want, reason::acting_user_invalid, [&] {
        return std::string("the acting user does not match " + p.require.acting_user->text);
      });
    }
  }
  if (p.windows && !in_time_window(*p.windows, req.now)) {
    return fail(want, reason::outside_time_window, [&] {
      return std::string("permission '" + p.id + "' allows requests only in its time windows (" +
                         p.windows->timezone + ")");
    });
  }
  for (const prohibition& pr : a.prohibitions) {
    if ((pr.assignee == "any" || pr.assignee == party) && contains(pr.endpoints, e.id) &&
        (pr.purposes.empty() || contains(pr.purposes, *req.purpose))) {
      return fail(want, reason::prohibited,
                  [&] { return std::string("prohibition '" + pr.id + "': " + pr.reason); });
    }
  }
  cap_keys keys{party, req.case_ref.value_or(std::string_view{}),
                req.acting_user.value_or(std::string_view{}),
                req.emergency.value_or(std::string_view{})};
  if (counter == nullptr || !counter->try_acquire(a, p, keys, req.now, cap)) {
    const volume_cap& limit = p.volume_caps[cap];
    return fail(want, reason::volume_cap_exceeded, [&] {
      return std::string("volume cap reached: at most " + std::to_string(limit.max) +
                         " requests per " + limit.window_text + " per " +
                         std::string(to_string(limit.scope)));
    });
  }
  return {};
}

}  // namespace

engine::engine(std::shared_ptr<const agreement_set> set) : set_(std::move(set)) {}

engine::engine(std::shared_ptr<const agreement_set> set,
               const std::set<std::string>& served_upstreams)
    : set_(std::move(set)) {
  for (const auto& a : set_->agreements) {
    for (const endpoint& e : a->endpoints) {
      if (served_upstreams.count(e.upstream) == 0) {
        not_served_.insert(&e);
      }
    }
  }
}

void prepare_identity(request_identity& id) {
  id.dns_canonical.clear();
  for (const std::string& dns : id.dns_sans) {
    id.dns_canonical.push_back(canonical_dns_name(dns));
  }
  id.subject_canonical.reset();
  if (!id.subject.empty()) {
    if (result<std::string> subject = canonical_subject(id.subject, true)) {
      id.subject_canonical = std::move(subject).value();
    }
  }
  id.prepared = true;
}

identity_match engine::identify(const request_identity& id, time_point now) const {
  identity_match out;
  auto consider = [&](identity_kind kind, std::string_view value) {
    thread_local std::string key;
    agreement_set::identity_key_into(key, id.trust_anchor, kind, value);
    auto it = set_->identities.find(key);
    if (it == set_->identities.end()) {
      return;
    }
    for (const auto& ref : it->second) {
      const identity_rule& rule = *ref.rule;
      if (!rule.spki_sha256.empty() && rule.spki_sha256 != id.spki_sha256) {
        continue;
      }
      // Inclusive, to the second, as X.509 compares notAfter (docs/agreements.md, "Identities").
      if (rule.not_after && floor<seconds>(now) > *rule.not_after) {
        continue;
      }
      if (out.party.empty()) {
        out.party = ref.party;
        out.why = reason::allowed;
      } else if (out.party != ref.party) {
        out.why = reason::ambiguous_requester;
      }
    }
  };
  for (const std::string& uri : id.uri_sans) {
    consider(identity_kind::uri_san, uri);
  }
  if (id.prepared) {
    for (const std::string& dns : id.dns_canonical) {
      consider(identity_kind::dns_san, dns);
    }
    if (id.subject_canonical) {
      consider(identity_kind::subject, *id.subject_canonical);
    }
  } else {
    for (const std::string& dns : id.dns_sans) {
      consider(identity_kind::dns_san, canonical_dns_name(dns));
    }
    if (!id.subject.empty()) {
      // A subject that does not parse as a DN names nobody (the other selectors still count).
      if (result<std::string> subject = canonical_subject(id.subject, true)) {
        consider(identity_kind::subject, subject.value());
      }
    }
  }
  if (out.why == reason::unknown_requester) {
    out.detail = "the client certificate is not named by any loaded agreement";
  } else if (out.why == reason::ambiguous_requester) {
    out.party.clear();
    out.detail = "the client certificate is named by more than one party";
  }
  return out;
}

decision engine::decide(const request_identity& id, const request_view& req,
                        volume_counter& counter, bool want_trace) const {
  identity_match who = identify(id, req.now);
  if (who.why != reason::allowed) {
    decision d;
    d.why = who.why;
    d.detail = who.detail;
    return d;
  }
  return decide_for(who.party, req, counter, want_trace);
}

decision engine::decide_for(std::string_view party, const request_view& req,
                            volume_counter& counter, bool want_trace) const {
  decision d;
  d.requester = std::string(party);
  d.why = reason::no_agreement;
  auto none = [&]() -> decision& {
    // Only the requester's own position is described: never another party's agreements.
    d.detail = "no agreement lets this requester call " + escape_text(req.method) + " " +
               escape_text(req.path);
    return d;
  };

  thread_local std::string key;
  agreement_set::candidate_key_into(key, party, req.method);
  auto it = set_->candidates.find(key);
  if (it == set_->candidates.end()) {
    return none();
  }
  const segments segs = split_path(req.path);
  int best = -1;
  const candidate* best_candidate = nullptr;
  const candidate* elsewhere = nullptr;  // a match whose endpoint another gateway serves
  std::size_t best_cap = 0;
  for (const candidate& c : it->second) {
    if (req.agreement && c.agreement->id != *req.agreement) {
      continue;
    }
    if (c.segment_count != segs.count ||
        (c.first_literal >= 0 && segs.hashes[c.first_literal] != c.first_literal_hash)) {
      continue;
    }
    if (!template_matches(*c.endpoint, segs)) {
      continue;
    }
    if (!not_served_.empty() && not_served_.count(c.endpoint) != 0) {
      // The requester's own agreement names it, so saying where it is served discloses nothing
      // of another party's agreements (docs/operations.md, section 10).
      if (elsewhere == nullptr) {
        elsewhere = &c;
      }
      continue;
    }
    // docs/design.md §4.2: an emergency permission is a candidate only for a declared emergency,
    // and a declared emergency is decided only by emergency permissions (the caller asked for
    // the emergency route, whose disclosures are reviewed; an ordinary permission must not
    // answer it unreviewed).
    const bool emergency_permission = c.permission->emergency.has_value();
    if (emergency_permission && !req.emergency) {
      if (want_trace) {
        d.trace.push_back({c.agreement->id, c.permission->id, c.endpoint->id, reason::no_agreement,
                           "not tried: an emergency permission is tried only when the request "
                           "declares an emergency (DSA-Emergency)"});
      }
      continue;
    }
    std::size_t cap = 0;
    check_result r;
    if (req.emergency && !emergency_permission) {
      r.why = reason::emergency_not_permitted;
      if (want_trace) {
        r.detail = "permission '" + c.permission->id +
                   "' is not an emergency permission, and the request declares an emergency";
      }
    } else {
      r = check_candidate(c, party, segs, req, &counter, want_trace, cap);
    }
    if (want_trace) {
      d.trace.push_back({c.agreement->id, c.permission->id, c.endpoint->id, r.why, r.detail});
    }
    if (r.why == reason::allowed) {
      d.allowed = true;
      d.emergency = emergency_permission;
      d.why = reason::allowed;
      d.agreement = c.agreement;
      d.permission = c.permission;
      d.endpoint = c.endpoint;
      return d;
    }
    // Reasons are declared in check order, so a larger value got further (ties: first wins).
    if (static_cast<int>(r.why) > best) {
      best = static_cast<int>(r.why);
      best_candidate = &c;
      best_cap = cap;
      d.why = r.why;
      d.agreement = c.agreement;
      d.permission = c.permission;
      d.endpoint = c.endpoint;
    }
  }
  if (best < 0 && elsewhere != nullptr) {
    d.detail = "endpoint " + elsewhere->endpoint->id + " of agreement " + elsewhere->agreement->id +
               " is served at the gateway of its provider (" + elsewhere->endpoint->provider +
               "), not here";
    return d;
  }
  if (best < 0) {
    return none();
  }
  if (d.why == reason::emergency_not_permitted) {
    d.detail = "no emergency permission lets this requester call " + escape_text(req.method) + " " +
               escape_text(req.path) +
               " (the request declares an emergency with DSA-Emergency; without it the ordinary "
               "permissions are tried)";
    return d;
  }
  // Describe only the candidate whose reason is returned (no counter: nothing is recorded).
  d.detail = check_candidate(*best_candidate, party, segs, req, nullptr, true, best_cap).detail;
  return d;
}

void build_engine_indexes(agreement_set& set) {
  for (const auto& a : set.agreements) {
    for (const party& p : a->parties) {
      for (const identity_rule& rule : p.identities) {
        set.identities[agreement_set::identity_key(rule.trust_anchor, rule.kind, rule.match_value)]
            .push_back({&rule, p.id});
      }
    }
    for (const permission& perm : a->permissions) {
      for (const std::string& eid : perm.endpoints) {
        const endpoint* e = a->find_endpoint(eid);
        if (e == nullptr) {
          continue;
        }
        candidate c{a.get(), &perm, e, -1};
        c.segment_count = static_cast<std::uint16_t>(e->segments.size());
        for (std::size_t i = 0; i < e->segments.size(); ++i) {
          if (e->segments[i].param < 0) {
            c.first_literal = static_cast<std::int16_t>(i);
            c.first_literal_hash = std::hash<std::string_view>{}(e->segments[i].literal);
            break;
          }
        }
        if (!perm.require.case_ref_param.empty()) {
          for (std::size_t i = 0; i < e->path_params.size(); ++i) {
            if (e->path_params[i].name == perm.require.case_ref_param) {
              c.case_ref_param_index = static_cast<int>(i);
            }
          }
        }
        set.candidates[agreement_set::candidate_key(perm.assignee, e->method)].push_back(c);
      }
    }
  }
}

std::string agreement_label(const decision& d) {
  if (d.agreement == nullptr) {
    return {};
  }
  return d.agreement->id + "@" + d.agreement->version;
}

}  // namespace dsa::policy
