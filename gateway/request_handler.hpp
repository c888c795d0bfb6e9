#pragma once

// What the gateway does with one request, without sockets: the decisions between reading a
// request and writing its response (docs/design.md §4, §5). The session (session.cpp) does the
// I/O — read the head and body, forward to the upstream, commit the audit entry, write — and
// asks the handler at each step what comes next:
//
//   begin          → request_state (id, time, the connection's party under the current set)
//   check_head     → a refusal, or go on to read the body
//   route_body     → for a request with a body: whether it is streamed to the upstream as it
//                    arrives (an upload to a streamed endpoint) or read whole first, and its limit
//   decide         → a refusal, or a forward_plan (the exact bytes for the upstream)
//   complete       → the outcome for the upstream's answer (filtered, withheld or refused)
//   start_stream   → for a streamed endpoint: a refusal or whole answer, or the head to write
//                    and the disclosure_started entry to commit before the first body byte
//   end_stream     → the disclosure_completed or disclosure_interrupted entry
//
// Every outcome carries the complete audit entry, the status, fields and body; nothing here
// writes, logs or commits. No Asio or Beast: tests drive it with parsed heads and upstream
// answers they build by hand (tests/gateway/request_handler_test.cpp).
//
// Thread safety: a handler holds only references to immutable configuration; one can serve
// every thread. The volume counter it is given must be thread-safe (policy::volume_counter is).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "audit/entry.hpp"
#include "audit/subject_key.hpp"
#include "gateway/config.hpp"
#include "gateway/http_message.hpp"
#include "gateway/tls.hpp"
#include "gateway/upstream_response.hpp"
#include "policy/canonical_path.hpp"
#include "policy/engine.hpp"
#include "policy/reason.hpp"
#include "policy/request_fields.hpp"

namespace dsa::gateway {

// One request as it goes through the stages.
struct request_state {
  std::string request_id;
  std::chrono::steady_clock::time_point started;
  std::int64_t time_us = 0;
  std::string client;  // the connection's remote address, "127.0.0.1:5555" or "[::1]:5555"
  request_head head;
  policy::canonical_target target;
  std::string body;
  audit::entry entry;        // filled as the request goes through the stages
  std::string agreement_id;  // metrics label
  // The agreement set current when the request arrived, and the party the connection's
  // certificate maps to under it: every entry, rejected requests included, names the party.
  std::shared_ptr<const policy::engine> engine;
  policy::identity_match who;
  // The client's DSA-* values, checked by check_head (policy/request_fields.hpp): the entry
  // records them, the policy decides on them and the upstream receives exactly them.
  policy::client_fields fields;
  // Set by decide() for a forwarded request.
  const policy::endpoint* endpoint = nullptr;
  std::string agreement_label;  // DSA-Agreement: id@version
  bool filtered = false;        // the endpoint has response rules
  bool streamed = false;        // the endpoint has none: its body is relayed as it arrives
  // Set by the session before decide(), to the body's limit, when the body is streamed to the
  // upstream as it arrives rather than read whole first (route_body): the upstream head then
  // carries the client's Content-Length, or is chunked, and `body` stays empty (docs/design.md
  // §6, "Streamed uploads").
  std::optional<std::uint64_t> upload;
  std::string range;  // the Range value forwarded (endpoints with response.ranges)
  // The response rules in force: the endpoint's, or an emergency permission's own `response`
  // (policy::response_rules_for). Set by decide() for a forwarded request.
  const policy::response_rules* response = nullptr;
  // An emergency disclosure (docs/operations.md, "Emergency disclosures"): the agreement's
  // review_within as written, for the DSA-Emergency-Review field. Empty otherwise.
  std::string review_within;
};

// A response to write, with the entry to commit first.
struct outcome {
  int status = 0;
  header_list fields;
  std::string body;
  bool close = false;
};

// The request to send upstream, and the entry to commit before it when the method changes
// state (docs/design.md §6).
struct forward_plan {
  std::string upstream;  // name in the config
  std::string head;      // the serialised canonical request head
  bool head_method = false;
  bool idempotent = false;  // GET or HEAD: may be retried once on a fresh connection
  std::optional<audit::entry> intent;
};

// How the body of a request is read (request_handler::route_body).
struct body_route {
  // True: streamed to the upstream as it arrives, after the decision and the durable intent;
  // false: read whole before the decision, as every body was before uploads streamed.
  bool streamed = false;
  // The most body bytes the request may carry: the endpoint's request.max_bytes (absent:
  // limits.max_body_bytes) when streamed, else the smaller of the two.
  std::uint64_t limit = 0;
};

// A streamed response about to be relayed (docs/design.md §6): the head to write (status and
// fields; `length` when the upstream declared one, else the body is sent chunked), the entry
// that must be durable before it, and the most body bytes that may leave.
struct stream_plan {
  outcome head;
  std::optional<std::uint64_t> length;
  audit::entry started;
  std::uint64_t max_bytes = 0;
};

// How a streamed relay ended, for end_stream.
enum class stream_end {
  completed,        // every body byte the upstream sent left
  client_closed,    // the client went away or stopped reading (write failed or timed out)
  upstream_failed,  // the upstream reset, timed out or broke its framing mid-body
  over_max_bytes,   // the body grew past response.max_bytes: cut there
};
[[nodiscard]] std::string_view to_string(stream_end e);

class request_handler {
 public:
  // `subjects` hashes the data subjects of each disclosure (audit/subject_key.hpp); without one,
  // a response whose endpoint declares response.subjects is withheld rather than released with
  // its subjects unrecorded.
  request_handler(const config& cfg, policy::volume_counter& counter,
                  const audit::subject_key* subjects = nullptr)
      : cfg_(cfg), counter_(counter), subjects_(subjects) {}

  // A new request on a connection from `peer` at address `client` (the socket's remote endpoint
  // as the session formats it; every entry of the request records it), decided under `eng`.
  [[nodiscard]] request_state begin(const peer_identity& peer,
                                    std::shared_ptr<const policy::engine> eng,
                                    std::string request_id, std::int64_t now_us,
                                    std::string client) const;

  // After the head is parsed: refuses a head that failed to parse (`parsed.error`), a body on a
  // method that takes none and client DSA-* fields that break the request rules shared with
  // `dsa explain` (policy::read_client_fields); records the request's method, target and
  // checked DSA-* values in the entry. nullopt: go on (read the body, then decide).
  [[nodiscard]] std::optional<outcome> check_head(request_state& r, head_result parsed) const;

  // For a request with a body, before any of it is read: where it would go. The policy never
  // reads bodies, so the decision the request would get is taken here without counting it
  // against a volume cap; an allowed request to a streamed endpoint (response_rules::streamed)
  // is an upload, streamed within its endpoint's request.max_bytes. Anything else — a refusal
  // to come, an endpoint with JSON rules — is read whole first, as before (docs/design.md §6).
  [[nodiscard]] body_route route_body(const request_state& r) const;

  // After the body is read (or, for an upload, before): canonical target, client fields, the
  // policy decision. Either the outcome of a refusal or the plan to forward.
  [[nodiscard]] std::variant<outcome, forward_plan> decide(request_state& r) const;

  // The canonical request head for the upstream of a request decide() allowed, framed for its
  // body: the Content-Length of `r.body` read whole, or for an upload the client's
  // Content-Length, else chunked.
  [[nodiscard]] std::string upstream_head(const request_state& r) const;

  // Records a streamed upload on the entries that close the exchange (docs/auditing.md,
  // "Uploads"): `bytes` forwarded to the upstream, the SHA-256 of exactly those bytes, and
  // whether the body was cut before its end.
  static void record_upload(request_state& r, std::uint64_t bytes, std::string sha256,
                            bool interrupted);

  // The upstream's answer (or failure) for a forwarded request: filtered, withheld or refused.
  [[nodiscard]] outcome complete(request_state& r, upstream_response res) const;

  // For a streamed endpoint, the upstream's head (upstream_pool::open): a refusal, a whole
  // answer without a body, or the plan to relay the body.
  [[nodiscard]] std::variant<outcome, stream_plan> start_stream(request_state& r,
                                                                const upstream_response& res) const;

  // The entry that closes a streamed disclosure: `bytes` left and `sha256` is the digest of
  // exactly those bytes; `detail` says what cut an interrupted one (logs and audit only).
  [[nodiscard]] audit::entry end_stream(const request_state& r, stream_end how, std::uint64_t bytes,
                                        std::string sha256, std::string detail) const;

  // A refusal: the entry's decision, reason and status, and an RFC 9457 problem body.
  // `upstream_status` (non-zero) is relayed as the status instead of the reason's own.
  [[nodiscard]] outcome refuse(request_state& r, audit::entry_decision decision, policy::reason why,
                               std::string detail, bool close, int upstream_status = 0) const;

  // The outcome for a request whose audit entry could not be committed: 503, nothing else.
  [[nodiscard]] static outcome audit_unavailable(const request_state& r, bool close);

 private:
  const config& cfg_;
  policy::volume_counter& counter_;
  const audit::subject_key* subjects_ = nullptr;
};

}  // namespace dsa::gateway
