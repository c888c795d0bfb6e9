#pragma once

// The decision engine (docs/design.md §4): a pure function of the loaded agreements, the verified
// identity, the canonical request and the clock — plus the volume counter, which it consults last.
// A deny is an ordinary return value; a default-constructed decision is a deny.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "policy/model.hpp"
#include "policy/reason.hpp"
#include "policy/volume.hpp"

namespace dsa::policy {

// What a verified client certificate says (or what `dsa explain` is told it says).
struct request_identity {
  std::string trust_anchor;  // name of the trust anchor that verified the chain
  std::string subject;       // RFC 4514
  std::vector<std::string> uri_sans, dns_sans;
  std::string spki_sha256;  // lowercase hex
  // What identify() compares, computed once per connection by prepare_identity (the gateway
  // does so after the handshake); when `prepared` is false identify() computes them itself.
  bool prepared = false;
  std::optional<std::string> subject_canonical;  // absent: the subject does not parse as a DN
  std::vector<std::string> dns_canonical;        // canonical_dns_name of each of dns_sans
};

// Fills the prepared members of `id` from its subject and DNS names.
void prepare_identity(request_identity& id);

// The request as the policy sees it. `path` and `query` come from canonicalize_target.
struct request_view {
  std::string_view method;
  std::string_view path;
  std::string_view query;  // without '?'; empty when there is none
  std::optional<std::string_view> purpose, case_ref, acting_user, agreement;  // DSA-* headers
  // A declared emergency: DSA-Emergency (the incident reference) and DSA-Emergency-Justification.
  // With `emergency` set only emergency permissions are candidates; without it they are never
  // tried (docs/design.md §4.2).
  std::optional<std::string_view> emergency, justification;
  time_point now{};
};

// One candidate's outcome, for `dsa explain` and tests.
struct trace_step {
  std::string agreement, permission, endpoint;
  reason result = reason::allowed;  // allowed, or the first check it failed
  std::string detail;
};

struct decision {
  bool allowed = false;
  reason why = reason::no_agreement;
  std::string requester;  // party id; empty when unknown or ambiguous
  // The deciding candidate (allowed), or the one that got furthest (deny); null when none matched.
  const policy::agreement* agreement = nullptr;
  const policy::permission* permission = nullptr;
  const policy::endpoint* endpoint = nullptr;
  std::string detail;             // for the problem body: names only the requester's own agreements
  std::vector<trace_step> trace;  // filled when asked for
  // Allowed by an emergency permission (permission->emergency is set): the disclosure is to be
  // reviewed within permission->emergency->review_within, and its response rules are
  // response_rules_for(*permission, *endpoint). False for every refusal, even one whose furthest
  // candidate was an emergency permission: nothing was disclosed, so there is nothing to review.
  bool emergency = false;

  int status() const noexcept { return http_status(why); }
};

// Result of mapping a certificate to a party.
struct identity_match {
  reason why = reason::unknown_requester;  // allowed, unknown_requester or ambiguous_requester
  std::string party;
  std::string detail;
};

// Thread-safe: every member is const; the set is shared and immutable.
class engine {
 public:
  explicit engine(std::shared_ptr<const agreement_set> set);

  // A gateway serves only the endpoints whose upstream is in its own config (docs/design.md §3):
  // the other endpoints are served at their provider's gateway, so here they are not candidates at
  // all (a request for them is no_agreement, and a later candidate served here is still tried).
  engine(std::shared_ptr<const agreement_set> set, const std::set<std::string>& served_upstreams);

  const agreement_set& agreements() const noexcept { return *set_; }

  // docs/design.md §4.1: the verified certificate maps to party ids through `identities` across
  // every loaded agreement, whatever its status.
  identity_match identify(const request_identity& id, time_point now) const;

  // docs/design.md §4.1–4.4 for a certificate.
  decision decide(const request_identity& id, const request_view& req, volume_counter& counter,
                  bool want_trace = false) const;

  // docs/design.md §4.2–4.4 for a known party (the gateway identifies once per connection; `dsa
  // explain` accepts "requester": PARTY).
  decision decide_for(std::string_view party, const request_view& req, volume_counter& counter,
                      bool want_trace = false) const;

 private:
  std::shared_ptr<const agreement_set> set_;
  std::unordered_set<const policy::endpoint*> not_served_;  // empty: every endpoint is served
};

// Fills set.identities and set.candidates, the lookups decide() and identify() use, from the
// agreements (already in id order, permissions in id order within each). The loader calls it
// once, before the set is shared; the index shape belongs with the code that reads it.
void build_engine_indexes(agreement_set& set);

// The decision's agreement as "id@version" for the DSA-Agreement header; empty when none.
std::string agreement_label(const decision& d);

}  // namespace dsa::policy
