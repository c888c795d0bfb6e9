#pragma once

// The in-memory form of `dsa/v1` agreements (docs/design.md §3, docs/agreements.md §3). Built once
// by the loader, immutable afterwards and shared read-only between threads through
// std::shared_ptr<const agreement_set>: every regex, path template, time zone and pointer is
// compiled at load so that deciding a request compiles and parses nothing.

#include <date/date.h>

#include <array>
#include <boost/regex.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace date {
class time_zone;
}

namespace dsa::policy {

using time_point = std::chrono::sys_time<std::chrono::microseconds>;

// A regular expression kept with its source text (for traces, render and error messages).
// Built only by compile_pattern (pattern.hpp), which fixes the dialect; matching is always a
// full match of the whole value.
struct pattern {
  std::string text;
  boost::regex re;
  bool matches(std::string_view s) const;
};

enum class identity_kind : std::uint8_t { uri_san, dns_san, subject };

struct identity_rule {
  std::string trust_anchor;
  identity_kind kind = identity_kind::uri_san;
  std::string value;        // the SAN or the RFC 4514 subject, as written
  std::string match_value;  // what is compared (identity_name.hpp): the canonical
                            // subject with case folded, the canonical DNS name, or
                            // the URI SAN as written
  std::string spki_sha256;  // lowercase hex pin; empty = no pin
  // Inclusive, like X.509 notAfter: the identity is accepted while the current time, truncated
  // to the second, is not after this instant (docs/agreements.md, "Identities").
  std::optional<time_point> not_after;
};

enum class party_role : std::uint8_t { controller, joint_controller, processor };

struct party {
  std::string id, name;
  party_role role = party_role::controller;
  std::vector<identity_rule> identities;
};

struct citation {  // a legal gateway or lawful basis
  std::string id, cite;
};

struct purpose {
  std::string id, description;
};

struct data_category {
  std::string id, description, retention;
  bool personal_data = false, special_category = false, criminal_offence_data = false;
};

// A JSON Pointer (RFC 6901) split into unescaped segments; a segment "*" matches any one
// object key or array index.
struct json_pointer {
  std::string text;
  std::vector<std::string> segments;
};

struct max_items_rule {
  json_pointer pointer;
  std::uint64_t max = 0;
};

struct withhold_rule {
  json_pointer pointer;
  std::string equals_json;  // the value to compare, serialised as compact JSON
};

struct response_rules {
  bool has_allow_fields = false;  // allow_fields given (possibly empty: nothing leaves)
  std::vector<json_pointer> allow_fields;
  std::optional<max_items_rule> max_items;
  std::vector<withhold_rule> withhold_if;
  std::vector<std::pair<std::string, std::string>> add_headers;
  // The most body bytes one response of this endpoint may disclose; absent: the gateway's
  // limits.max_body_bytes (docs/agreements.md, "Streamed endpoints").
  std::optional<std::uint64_t> max_bytes;
  // Range requests are forwarded and 206 responses released (streamed endpoints only).
  bool ranges = false;
  // Where the people a response is about are identified (docs/agreements.md, "Data subjects"):
  // the gateway records a keyed hash of each string or number these pointers reach in the
  // released body, so that a subject access request can find every disclosure about a person.
  std::vector<json_pointer> subjects;

  // True when the body must be JSON and pass through the filter (docs/design.md §4.5).
  bool filters() const { return has_allow_fields || max_items || !withhold_if.empty(); }
  // True when the body is relayed as it arrives rather than held whole (docs/design.md §6).
  bool streamed() const { return !filters(); }
};

// What a partner may send to an endpoint (docs/agreements.md §3.5, "Request bodies").
struct request_rules {
  // The most body bytes one request may carry; absent: the gateway's limits.max_body_bytes. On an
  // endpoint whose response is streamed the body is streamed to the upstream too, within this
  // limit; elsewhere the body is held whole and the smaller of the two limits applies
  // (docs/design.md §6, "Streamed uploads").
  std::optional<std::uint64_t> max_bytes;
};

struct path_segment {
  std::string literal;  // matched byte for byte when param < 0
  int param = -1;       // index into endpoint::path_params when this segment is {name}
};

struct path_param {
  std::string name;
  std::optional<pattern> re;  // absent: any non-empty segment
};

struct query_param {
  std::string name;
  pattern re;
  bool required = false;
};

struct endpoint {
  std::string id, provider, upstream, method, path;
  std::vector<path_segment> segments;
  std::vector<path_param> path_params;
  bool query_allowed = false;  // false: `query_params` absent, no query string allowed
  std::vector<query_param> query_params;
  std::vector<std::string> data_categories;
  bool has_response = false;  // a `response` mapping was given
  response_rules response;
  request_rules request;
};

struct time_window {
  std::uint8_t days = 0;  // bit 0 Monday … bit 6 Sunday
  int from_minute = 0;    // local minutes since midnight, inclusive
  int to_minute = 0;      // exclusive
};

struct time_windows {
  std::string timezone;
  const date::time_zone* zone = nullptr;
  std::vector<time_window> allow;
};

// incident: per DSA-Emergency value, so one emergency cannot use up another's allowance
// (docs/agreements.md, "Emergency disclosures").
enum class cap_scope : std::uint8_t { assignee, case_ref, acting_user, incident };

struct volume_cap {
  cap_scope scope = cap_scope::assignee;
  std::string window_text;  // as written, e.g. "P1D"
  std::chrono::microseconds window{0};
  std::uint64_t max = 0;
};

struct requirements {
  std::optional<pattern> case_ref;
  std::string case_ref_param;  // path param the case ref must equal; empty = none
  std::optional<pattern> acting_user;
  bool case_ref_required() const { return case_ref.has_value() || !case_ref_param.empty(); }
};

// The terms of an emergency permission (docs/agreements.md, "Emergency disclosures"): it is a
// candidate only for a request that declares an emergency with DSA-Emergency, and every
// disclosure it allows is to be reviewed within `review_within`.
struct emergency_terms {
  pattern incident_ref;               // what DSA-Emergency must match
  std::size_t min_justification = 0;  // characters DSA-Emergency-Justification must have (trimmed)
  std::string review_within_text;     // as written, ISO 8601 duration e.g. "P3D"
  std::chrono::microseconds review_within{0};
  std::optional<response_rules> response;  // fields released; absent: the endpoint's own rules
};

struct permission {
  std::string id, assignee;
  std::vector<std::string> endpoints, purposes, lawful_basis, legal_gateway;
  requirements require;
  std::optional<time_windows> windows;
  std::vector<volume_cap> volume_caps;
  std::string counter_key;  // "<agreement id>\x1f<permission id>": names its volume counts
  std::optional<emergency_terms> emergency;  // present: an emergency permission
};

// The response rules that apply when `p` allowed a request for `e`: the emergency block's own
// `response` when it has one, otherwise the endpoint's.
inline const response_rules& response_rules_for(const permission& p, const endpoint& e) {
  return p.emergency && p.emergency->response ? *p.emergency->response : e.response;
}

struct prohibition {
  std::string id, assignee;                      // party id or "any"
  std::vector<std::string> endpoints, purposes;  // purposes empty = every purpose
  std::string reason;
};

// A free-form value as the file wrote it: the `governance` mapping (docs/agreements.md §3.9),
// which the gateway does not interpret and `dsa render` shows by its shape. Mirrors the node kinds
// of YAML so that nothing outside the loader needs a YAML library.
struct free_value {
  enum class kind : std::uint8_t { null, scalar, sequence, mapping };
  struct entry;

  kind k = kind::null;
  std::string scalar;             // kind::scalar: the text, without quotes
  std::vector<free_value> items;  // kind::sequence
  std::vector<entry> entries;     // kind::mapping, in file order; duplicate keys are kept
  // The compact YAML flow form ("{a: b, c: [d, e]}"), set only on values `flow_depth` levels
  // below the top, where the rendered document stops nesting and shows the YAML instead. Values
  // there keep their own entries and items one level further (enough to tell their shape) and
  // nothing deeper, so the tree stays bounded however deeply a file nests.
  std::string flow;
  static constexpr int flow_depth = 13;

  // The value of the first entry whose key is the plain text `key`; null when there is none or
  // this is not a mapping.
  const free_value* find(std::string_view key) const;
};

struct free_value::entry {
  std::optional<std::string> key;  // absent when the key is not plain text (null, a list, …)
  free_value value;
};

inline const free_value* free_value::find(std::string_view key) const {
  for (const entry& e : entries) {
    if (e.key && *e.key == key) {
      return &e.value;
    }
  }
  return nullptr;
}

enum class agreement_status : std::uint8_t { draft, active, suspended, expired, terminated };

struct agreement {
  std::string file;    // path as given to the loader
  std::string sha256;  // hex SHA-256 of the file bytes
  std::string id, version, title;
  agreement_status status = agreement_status::draft;
  std::string status_reason;
  time_point valid_from{}, valid_until{};
  std::string valid_from_text, valid_until_text;
  std::optional<date::year_month_day> review_due;
  bool review_overdue_denies = false;
  std::vector<party> parties;
  std::vector<citation> legal_gateways, lawful_bases;
  std::vector<purpose> purposes;
  std::vector<data_category> data_categories;
  std::vector<endpoint> endpoints;
  std::vector<permission> permissions;  // sorted by id
  std::vector<prohibition> prohibitions;
  std::optional<free_value> governance;  // a mapping when the file has one; kept for render

  const party* find_party(std::string_view party_id) const;
  const endpoint* find_endpoint(std::string_view endpoint_id) const;
  const purpose* find_purpose(std::string_view purpose_id) const;
};

// One (agreement, permission, endpoint) triple a request may match, precomputed at load.
struct candidate {
  const ::dsa::policy::agreement* agreement = nullptr;
  const ::dsa::policy::permission* permission = nullptr;
  const ::dsa::policy::endpoint* endpoint = nullptr;
  int case_ref_param_index = -1;  // index into endpoint->path_params for require.case_ref_param
  // A prefilter kept inline so that the many candidates of a busy party that cannot match a path
  // are rejected without following pointers into their endpoints: the template's segment count
  // and the std::hash of its first literal segment (first_literal < 0: all placeholders).
  std::uint16_t segment_count = 0;
  std::int16_t first_literal = -1;
  std::size_t first_literal_hash = 0;
};

// Every agreement loaded from a directory, with the lookup indexes the engine uses.
struct agreement_set {
  std::vector<std::unique_ptr<agreement>> agreements;  // sorted by id; pointers stay valid

  // Identity lookup: (trust anchor, kind, value) → the rules that name it, with their party id.
  struct identity_ref {
    const identity_rule* rule = nullptr;
    std::string party;
  };
  std::unordered_map<std::string, std::vector<identity_ref>> identities;
  static std::string identity_key(std::string_view trust_anchor, identity_kind kind,
                                  std::string_view value);
  // The same key written into `out` (reused by the engine so lookups do not allocate).
  static void identity_key_into(std::string& out, std::string_view trust_anchor, identity_kind kind,
                                std::string_view value);

  // Candidates by (assignee party, method), each list in (agreement id, permission id) order.
  std::unordered_map<std::string, std::vector<candidate>> candidates;
  static std::string candidate_key(std::string_view party, std::string_view method);
  static void candidate_key_into(std::string& out, std::string_view party, std::string_view method);

  const agreement* find(std::string_view id) const;
};

std::string_view to_string(agreement_status s) noexcept;
std::string_view to_string(party_role r) noexcept;
std::string_view to_string(cap_scope s) noexcept;

}  // namespace dsa::policy
