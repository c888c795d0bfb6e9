#include "gateway/request_handler.hpp"

#include "common/clock.hpp"
#include "common/hex.hpp"
#include "gateway/emergency.hpp"
#include "policy/http_token.hpp"
#include "policy/response_filter.hpp"

namespace dsa::gateway {

using policy::reason;

namespace {

std::string withheld_detail(reason why) {
  switch (why) {
    case reason::too_many_items:
      return "the response holds more items than the agreement lets leave at once";
    case reason::response_not_filterable:
      return "the upstream response cannot be filtered as the agreement requires";
    default:
      return "the response is withheld under the agreement";
  }
}

std::string upstream_detail(reason why) {
  switch (why) {
    case reason::upstream_timeout:
      return "the upstream did not answer in time";
    case reason::response_too_large:
      return "the upstream response exceeds the gateway's body limit";
    default:
      return "the upstream could not be reached";
  }
}

header_list problem_fields() {
  return {{"Content-Type", "application/problem+json"}, {"Cache-Control", "no-store"}};
}

// An emergency disclosure tells its caller that it will be reviewed, and by when
// (docs/gateway.md, "Response fields").
void add_emergency_field(const request_state& r, header_list& fields) {
  if (r.entry.review_due_us != 0) {
    fields.emplace_back("DSA-Emergency-Review",
                        emergency_review_field(r.entry.review_due_us, r.review_within));
  }
}

// The request as the policy sees it; the views point into `r` and `target`.
policy::request_view view_of(const request_state& r, const policy::canonical_target& target) {
  policy::request_view view;
  view.method = r.head.method;
  view.path = target.path;
  view.query = target.query;
  auto as_view = [](const std::optional<std::string>& v) -> std::optional<std::string_view> {
    if (v) {
      return std::string_view(*v);
    }
    return std::nullopt;
  };
  view.purpose = as_view(r.fields.purpose);
  view.case_ref = as_view(r.fields.case_ref);
  view.acting_user = as_view(r.fields.acting_user);
  view.agreement = as_view(r.fields.agreement);
  view.emergency = as_view(r.fields.emergency);
  view.justification = as_view(r.fields.emergency_justification);
  view.now = policy::time_point(std::chrono::microseconds(r.time_us));
  return view;
}

// Grants every request and records none: route_body asks where a request would go without
// counting it. Only decide() counts, once, as for every other request.
class uncounted final : public policy::volume_counter {
 public:
  bool try_acquire(const policy::agreement&, const policy::permission&, const policy::cap_keys&,
                   policy::time_point, std::size_t&) override {
    return true;
  }
  std::optional<std::chrono::microseconds> until_free(const policy::agreement&,
                                                      const policy::permission&,
                                                      const policy::cap_keys&,
                                                      policy::time_point) override {
    return std::chrono::microseconds(0);
  }
  void record(const policy::agreement&, const policy::permission&, const policy::cap_keys&,
              policy::time_point) override {}
};

}  // namespace

request_state request_handler::begin(const peer_identity& peer,
                                     std::shared_ptr<const policy::engine> eng,
                                     std::string request_id, std::int64_t now_us,
                                     std::string client) const {
  request_state r;
  r.request_id = std::move(request_id);
  r.client = std::move(client);
  r.entry.client = r.client;
  r.started = std::chrono::steady_clock::now();
  r.time_us = now_us;
  r.entry.time_us = now_us;
  r.entry.request_id = r.request_id;
  r.entry.requester.subject = peer.id.subject;
  r.entry.requester.cert_sha256 = peer.cert_sha256;
  r.entry.requester.trust_anchor = peer.id.trust_anchor;
  r.engine = std::move(eng);
  r.who = r.engine->identify(peer.id, policy::time_point(std::chrono::microseconds(now_us)));
  if (r.who.why == reason::allowed) {
    r.entry.requester.party = r.who.party;
  }
  return r;
}

std::optional<outcome> request_handler::check_head(request_state& r, head_result parsed) const {
  if (!parsed.ok()) {
    return refuse(r, audit::entry_decision::reject, reason::bad_request, std::move(parsed.error),
                  true);
  }
  r.head = std::move(parsed.head);
  r.entry.method = r.head.method;
  r.entry.path = r.head.target.substr(0, 2048);
  if (r.head.has_body() && !method_takes_body(r.head.method)) {
    // Refused before the body is read or anything is forwarded: an upstream that ignores a GET
    // body would read it as the next request (docs/threat-model.md). The body is unread, so the
    // connection cannot continue.
    return refuse(r, audit::entry_decision::reject, reason::bad_request,
                  "a " + r.head.method +
                      " request must not carry a body; only POST, PUT and PATCH requests may",
                  true);
  }
  policy::result<policy::client_fields> checked = policy::read_client_fields(r.head.fields);
  if (!checked) {
    // The unchecked values are not recorded: the entry holds only what passed the rules. A body,
    // if any, is unread, so then the connection cannot continue.
    return refuse(r, audit::entry_decision::reject, reason::bad_request, checked.error(),
                  r.head.has_body() || !r.head.keep_alive);
  }
  r.fields = std::move(checked.value());
  r.entry.purpose = r.fields.purpose.value_or("");
  r.entry.case_ref = r.fields.case_ref.value_or("");
  r.entry.acting_user = r.fields.acting_user.value_or("");
  // A declared emergency is on the record whatever the decision: a refused one too.
  r.entry.incident_ref = r.fields.emergency.value_or("");
  r.entry.justification = r.fields.emergency_justification.value_or("");
  return std::nullopt;
}

std::variant<outcome, forward_plan> request_handler::decide(request_state& r) const {
  const bool close = !r.head.keep_alive;

  // Canonical target (docs/design.md §5): what the policy matches is what the upstream receives.
  policy::target_result t = policy::canonicalize_target(r.head.target);
  if (!t.ok()) {
    return refuse(r, audit::entry_decision::reject, reason::bad_request, t.error, close);
  }
  r.target = std::move(t.value);
  r.entry.path = r.target.path;
  r.entry.query = r.target.query;
  // Decide (docs/design.md §4) with the agreement set current at this request.
  const policy::request_view view = view_of(r, r.target);
  const policy::time_point now = view.now;
  policy::decision d;
  if (r.who.why != reason::allowed) {
    d.why = r.who.why;
    d.detail = r.who.detail;
  } else {
    d = r.engine->decide_for(r.who.party, view, counter_);
  }
  if (d.agreement != nullptr) {
    r.entry.agreement = d.agreement->id;
    r.entry.agreement_version = d.agreement->version;
    r.entry.agreement_sha256 = d.agreement->sha256;
    r.agreement_id = d.agreement->id;
  }
  if (d.permission != nullptr) {
    r.entry.permission = d.permission->id;
  }
  if (d.endpoint != nullptr) {
    r.entry.endpoint = d.endpoint->id;
  }
  if (!d.allowed) {
    outcome o = refuse(r, audit::entry_decision::deny, d.why, d.detail, close);
    if (d.why == reason::volume_cap_exceeded && d.permission != nullptr) {
      // Whole seconds until the counter would grant this request again, rounded up so that a
      // client waiting exactly that long is not refused; none when a cap of max 0 is full
      // (docs/operations.md, section 10).
      const policy::cap_keys keys{r.who.party, r.entry.case_ref, r.entry.acting_user,
                                  r.entry.incident_ref};
      if (const auto wait = counter_.until_free(*d.agreement, *d.permission, keys, now)) {
        const auto seconds = std::chrono::ceil<std::chrono::seconds>(*wait).count();
        o.fields.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(1, seconds)));
      }
    }
    return o;
  }

  // Forward (docs/design.md §4): the canonical request; client DSA-*, hop-by-hop and proxy-set
  // fields removed; the gateway's own DSA-* set, each value exactly the one the entry records.
  const policy::endpoint& ep = *d.endpoint;
  const auto configured = cfg_.upstreams.find(ep.upstream);
  if (configured == cfg_.upstreams.end()) {
    // Decided under a set a reload installed a moment after this request took its config.
    return refuse(r, audit::entry_decision::error, reason::upstream_unavailable,
                  "the upstream is not configured at this gateway", close);
  }
  const upstream_config& up = configured->second;
  r.endpoint = &ep;
  r.response = &policy::response_rules_for(*d.permission, ep);
  if (d.emergency) {
    // Released now, answered for later: the review is due review_within after the decision.
    const policy::emergency_terms& terms = *d.permission->emergency;
    r.entry.review_due_us = r.time_us + terms.review_within.count();
    r.review_within = terms.review_within_text;
  }
  r.filtered = r.response->filters();
  r.streamed = r.response->streamed();
  if (!r.upload.has_value() && ep.request.max_bytes && r.body.size() > *ep.request.max_bytes) {
    // A body read whole under another endpoint's limit (route_body decided without the volume
    // counter, which may have sent this request to a later candidate): this endpoint's own
    // limit still holds.
    return refuse(r, audit::entry_decision::reject, reason::body_too_large,
                  "the request body exceeds the endpoint's request.max_bytes of " +
                      std::to_string(*ep.request.max_bytes) + " bytes",
                  close);
  }
  const bool forward_ranges = r.streamed && r.response->ranges;
  if (forward_ranges) {
    for (const auto& [name, value] : r.head.fields) {
      if (policy::http::folded_equals(name, "range")) {
        r.range += r.range.empty() ? value : ", " + value;
      }
    }
  }
  r.agreement_label = policy::agreement_label(d);
  // Why it may leave: on every entry of this request whose decision stays allow; refuse()
  // removes them again (docs/auditing.md, "What each entry records").
  r.entry.lawful_basis = d.permission->lawful_basis;
  r.entry.legal_gateway = d.permission->legal_gateway;
  r.entry.counted = true;
  r.entry.upstream = up.name;
  forward_plan plan;
  plan.upstream = ep.upstream;
  plan.head = upstream_head(r);
  plan.head_method = r.head.method == "HEAD";
  plan.idempotent = r.head.method == "GET" || plan.head_method;
  if (!plan.idempotent || r.upload.has_value()) {
    // For a method that changes state, and for any upload, the intent is durable before the
    // upstream sees the request. Not counted: the final entry of this request counts it.
    audit::entry intent = r.entry;
    intent.kind = audit::entry_kind::forwarding;
    intent.decision = audit::entry_decision::allow;
    intent.status = 0;
    intent.counted = false;
    plan.intent = std::move(intent);
  }
  return plan;
}

body_route request_handler::route_body(const request_state& r) const {
  body_route out;
  out.limit = cfg_.limits.max_body_bytes;
  if (r.who.why != reason::allowed || !r.engine) {
    return out;
  }
  const policy::target_result t = policy::canonicalize_target(r.head.target);
  if (!t.ok()) {
    return out;  // refused by decide(), after the body is read as before
  }
  uncounted probe;
  const policy::decision d = r.engine->decide_for(r.who.party, view_of(r, t.value), probe);
  if (!d.allowed || d.endpoint == nullptr || d.permission == nullptr ||
      cfg_.upstreams.find(d.endpoint->upstream) == cfg_.upstreams.end()) {
    return out;
  }
  const std::optional<std::uint64_t>& declared = d.endpoint->request.max_bytes;
  if (policy::response_rules_for(*d.permission, *d.endpoint).streamed()) {
    out.streamed = true;
    out.limit = declared.value_or(cfg_.limits.max_body_bytes);
  } else if (declared) {
    out.limit = std::min<std::uint64_t>(*declared, cfg_.limits.max_body_bytes);
  }
  return out;
}

std::string request_handler::upstream_head(const request_state& r) const {
  // Range and conditional fields never reach an endpoint whose response is filtered: a 206
  // slice or a 304 would pass the response rules untouched. Range reaches a streamed endpoint
  // only when its agreement allows ranges.
  conditional_fields cond = conditional_fields::strip_all;
  if (r.streamed) {
    cond = r.response->ranges ? conditional_fields::forward_all : conditional_fields::strip_range;
  }
  dsa_headers dsa;
  dsa.requester = r.who.party;
  dsa.agreement = r.agreement_label;
  dsa.permission = r.entry.permission;
  dsa.purpose = r.entry.purpose;
  dsa.case_ref = r.entry.case_ref;
  dsa.acting_user = r.entry.acting_user;
  dsa.request_id = r.request_id;
  // An upload keeps the client's framing: its Content-Length, or chunked when it sent none.
  std::optional<std::uint64_t> size = r.body.size();
  if (r.upload.has_value()) {
    size = r.head.content_length;
  }
  const upstream_config& up = cfg_.upstreams.at(r.endpoint->upstream);  // decide() checked it
  return serialize_upstream_request(r.head, r.target.target(), up.authority, size, dsa, cond);
}

void request_handler::record_upload(request_state& r, std::uint64_t bytes, std::string sha256,
                                    bool interrupted) {
  r.entry.details["request_bytes"] = static_cast<std::int64_t>(bytes);
  r.entry.details["request_sha256"] = std::move(sha256);
  if (interrupted) {
    r.entry.details["upload_interrupted"] = true;
  }
}

outcome request_handler::complete(request_state& r, upstream_response res) const {
  const bool close = !r.head.keep_alive;
  r.entry.upstream_latency_us = res.latency_us;
  if (res.why != reason::allowed) {
    r.entry.details["error"] = res.error;
    const audit::entry_decision decision = res.why == reason::response_too_large
                                               ? audit::entry_decision::withheld
                                               : audit::entry_decision::error;
    return refuse(r, decision, res.why, upstream_detail(res.why), close);
  }
  r.entry.upstream_status = res.status;
  if (res.status < 200 || res.status > 299) {
    return refuse(r, audit::entry_decision::error, reason::upstream_status,
                  "the upstream answered " + std::to_string(res.status), close, res.status);
  }
  if (res.status == 206 && !r.response->ranges) {
    // Never asked for (Range is not forwarded here), and a slice cannot be checked against
    // withhold_if or allow_fields: withheld.
    r.entry.details["filter"] = "the upstream answered 206 Partial Content";
    return refuse(r, audit::entry_decision::withheld, reason::response_not_filterable,
                  withheld_detail(reason::response_not_filterable), close);
  }
  outcome o;
  o.close = close;
  if (res.status == 204) {
    // No content: nothing to filter and nothing leaves but the status.
    r.entry.decision = audit::entry_decision::allow;
    r.entry.status = 204;
    r.entry.bytes = 0;
    r.entry.body_sha256 = common::sha256_hex("");
    o.status = 204;
    o.fields = {{"Cache-Control", "no-store"}, {"DSA-Agreement", r.agreement_label}};
    add_emergency_field(r, o.fields);
    return o;
  }

  // Filter (docs/design.md §4, response stage), by the rules in force (r.response).
  const policy::response_rules& rules = *r.response;
  if (rules.max_bytes && res.body.size() > *rules.max_bytes) {
    r.entry.details["error"] = "the upstream body has " + std::to_string(res.body.size()) +
                               " bytes, over the endpoint's response.max_bytes of " +
                               std::to_string(*rules.max_bytes);
    return refuse(r, audit::entry_decision::withheld, reason::response_too_large,
                  "the upstream response exceeds the agreement's limit for this endpoint", close);
  }
  policy::filter_result f = policy::filter_response(rules, res.body);
  if (!f.allowed()) {
    // The rule that withheld the response is for the audit only: telling the caller that a
    // record is, say, restricted or carries a safeguarding marker would itself disclose it.
    r.entry.items = static_cast<std::int64_t>(f.items);
    r.entry.details["filter"] = f.detail;
    return refuse(r, audit::entry_decision::withheld, f.why, withheld_detail(f.why), close);
  }
  if (!rules.subjects.empty()) {
    // Who the released body is about, as keyed hashes only (docs/auditing.md, "A subject access
    // request"). A disclosure whose subjects cannot be recorded is not made: subject access must
    // find it.
    std::optional<std::vector<std::string>> hashed;
    if (subjects_ != nullptr) {
      hashed = subjects_->hash_all(f.subjects);
    }
    if (!hashed) {
      r.entry.details["filter"] = "the response's data subjects could not be recorded";
      return refuse(r, audit::entry_decision::withheld, reason::response_not_filterable,
                    withheld_detail(reason::response_not_filterable), close);
    }
    r.entry.subjects = std::move(*hashed);
  }
  o.body = f.changed ? std::move(f.body) : std::move(res.body);
  r.entry.decision = audit::entry_decision::allow;
  r.entry.status = res.status;
  r.entry.bytes = static_cast<std::int64_t>(o.body.size());
  r.entry.items = static_cast<std::int64_t>(f.items);
  r.entry.fields_removed = static_cast<std::int64_t>(f.fields_removed);
  r.entry.released_fields = std::move(f.released_fields);
  r.entry.body_sha256 = common::sha256_hex(o.body);
  o.status = res.status;
  if (!res.content_type.empty()) {
    o.fields.emplace_back("Content-Type", res.content_type);
  }
  if (!res.content_disposition.empty()) {
    o.fields.emplace_back("Content-Disposition", res.content_disposition);
  }
  o.fields.emplace_back("Cache-Control", "no-store");
  o.fields.emplace_back("DSA-Agreement", r.agreement_label);
  add_emergency_field(r, o.fields);
  for (const auto& [name, value] : rules.add_headers) {
    o.fields.emplace_back(name, value);
  }
  return o;
}

std::string_view to_string(stream_end e) {
  switch (e) {
    case stream_end::completed:
      return "completed";
    case stream_end::client_closed:
      return "client_closed";
    case stream_end::upstream_failed:
      return "upstream_failed";
    case stream_end::over_max_bytes:
      return "over_max_bytes";
  }
  return "completed";
}

std::variant<outcome, stream_plan> request_handler::start_stream(
    request_state& r, const upstream_response& res) const {
  const bool close = !r.head.keep_alive;
  const policy::response_rules& rules = *r.response;
  r.entry.upstream_latency_us = res.latency_us;
  if (res.why != reason::allowed) {
    r.entry.details["error"] = res.error;
    return refuse(r, audit::entry_decision::error, res.why, upstream_detail(res.why), close);
  }
  r.entry.upstream_status = res.status;
  if (res.status < 200 || res.status > 299) {
    return refuse(r, audit::entry_decision::error, reason::upstream_status,
                  "the upstream answered " + std::to_string(res.status), close, res.status);
  }
  if (res.status == 206 && !rules.ranges) {
    // A slice nobody asked for (Range is not forwarded here): withheld, as on filtered endpoints.
    r.entry.details["filter"] = "the upstream answered 206 Partial Content";
    return refuse(r, audit::entry_decision::withheld, reason::response_not_filterable,
                  withheld_detail(reason::response_not_filterable), close);
  }
  const std::uint64_t limit = rules.max_bytes.value_or(cfg_.limits.max_body_bytes);
  if (res.content_length && *res.content_length > limit) {
    // Declared over the endpoint's limit: refused before a byte of it is read.
    r.entry.details["error"] = "the upstream declared " + std::to_string(*res.content_length) +
                               " bytes, over the endpoint's limit of " + std::to_string(limit);
    return refuse(r, audit::entry_decision::withheld, reason::response_too_large,
                  "the upstream response exceeds the agreement's limit for this endpoint", close);
  }
  outcome head;
  head.close = close;
  head.status = res.status;
  if (!res.content_type.empty()) {
    head.fields.emplace_back("Content-Type", res.content_type);
  }
  if (!res.content_disposition.empty()) {
    head.fields.emplace_back("Content-Disposition", res.content_disposition);
  }
  if (res.status == 206 && !res.content_range.empty()) {
    head.fields.emplace_back("Content-Range", res.content_range);
  }
  if (rules.ranges) {
    head.fields.emplace_back("Accept-Ranges", "bytes");
  }
  head.fields.emplace_back("Cache-Control", "no-store");
  head.fields.emplace_back("DSA-Agreement", r.agreement_label);
  add_emergency_field(r, head.fields);
  for (const auto& [name, value] : rules.add_headers) {
    head.fields.emplace_back(name, value);
  }
  if (!res.body_follows) {
    // Nothing to relay (204, a HEAD answer, an empty body): one entry, as for a buffered answer.
    r.entry.decision = audit::entry_decision::allow;
    r.entry.status = res.status;
    r.entry.bytes = 0;
    r.entry.body_sha256 = common::sha256_hex("");
    if (res.status == 204) {
      head.fields = {{"Cache-Control", "no-store"}, {"DSA-Agreement", r.agreement_label}};
      add_emergency_field(r, head.fields);
    }
    return head;
  }
  stream_plan plan;
  plan.head = std::move(head);
  plan.length = res.content_length;
  plan.max_bytes = limit;
  // The started entry counts toward volume caps (the disclosure has begun); the entry that ends
  // it repeats the request's fields so a filter on either finds both, and does not count again.
  r.entry.decision = audit::entry_decision::allow;
  r.entry.status = res.status;
  plan.started = r.entry;
  plan.started.kind = audit::entry_kind::disclosure_started;
  if (!res.content_type.empty()) {
    plan.started.details["content_type"] = res.content_type;
  }
  if (res.content_length) {
    plan.started.details["declared_length"] = static_cast<std::int64_t>(*res.content_length);
  }
  if (!r.range.empty()) {
    plan.started.details["range"] = r.range;
  }
  if (!res.content_range.empty()) {
    plan.started.details["content_range"] = res.content_range;
  }
  plan.started.details["max_bytes"] = static_cast<std::int64_t>(limit);
  r.entry.counted = false;
  return plan;
}

audit::entry request_handler::end_stream(const request_state& r, stream_end how,
                                         std::uint64_t bytes, std::string sha256,
                                         std::string detail) const {
  audit::entry e = r.entry;
  e.time_us = common::now_us();
  e.kind = how == stream_end::completed ? audit::entry_kind::disclosure_completed
                                        : audit::entry_kind::disclosure_interrupted;
  e.counted = false;
  e.bytes = static_cast<std::int64_t>(bytes);
  e.body_sha256 = std::move(sha256);
  if (how != stream_end::completed) {
    e.details["cause"] = std::string(to_string(how));
    if (!detail.empty()) {
      e.details["error"] = std::move(detail);
    }
  }
  return e;
}

outcome request_handler::refuse(request_state& r, audit::entry_decision decision, reason why,
                                std::string detail, bool close, int upstream_status) const {
  outcome o;
  o.status = upstream_status != 0 ? upstream_status : policy::http_status(why);
  o.close = close;
  r.entry.decision = decision;
  r.entry.reason = policy::to_string(why);
  r.entry.status = o.status;
  if (decision == audit::entry_decision::deny || decision == audit::entry_decision::reject) {
    r.entry.counted = false;
  }
  // Nothing left under the permission: a refused entry names no lawful basis for a disclosure.
  r.entry.lawful_basis.clear();
  r.entry.legal_gateway.clear();
  r.entry.released_fields.clear();
  if (!detail.empty()) {
    r.entry.details["detail"] = detail;
  }
  o.body = problem_body(o.status, policy::to_string(why), policy::title(why), detail, r.request_id,
                        upstream_status);
  o.fields = problem_fields();
  return o;
}

outcome request_handler::audit_unavailable(const request_state& r, bool close) {
  outcome o;
  o.status = 503;
  o.close = close;
  o.body = problem_body(503, "audit_unavailable", policy::title(reason::audit_unavailable),
                        "the audit store cannot record this request", r.request_id);
  o.fields = problem_fields();
  return o;
}

}  // namespace dsa::gateway
