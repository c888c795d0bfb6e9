#pragma once

// Strict HTTP/1.1 request heads and the bytes the gateway writes (docs/design.md §4, §5). No Asio
// or Beast here: the session reads raw bytes up to the end of the header block, checks them with
// find_head_end and parse_request_head, and only then lets Beast's parser read the body.
//
// Why not rely on Beast alone: Beast 1.81 accepts inputs a proxy must refuse (duplicate or
// missing Host, `Transfer-Encoding: chunked, cow`, `,chunked`, TE on HTTP/1.0, absolute-form
// targets, Upgrade). A refusal here is always 400 and the connection is closed, because after a
// framing error the gateway can no longer know where the next request would start.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsa::gateway {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct head_scan {
  std::size_t end = 0;  // length of the header block including the final CRLFCRLF; 0 = incomplete
  std::string error;    // a bare CR or LF: refuse without waiting for more
};

// Looks for the end of the header block in what has been received so far.
[[nodiscard]] head_scan find_head_end(std::string_view received);

struct request_head {
  std::string method, target;
  int version = 11;    // 10 or 11
  header_list fields;  // in received order, names as sent, values without surrounding OWS
  std::string host;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;
  std::vector<std::string> connection_tokens;  // lowercase names listed in Connection

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
  // The value of the single field `name` (case-insensitive); nullopt when absent.
  std::optional<std::string_view> field(std::string_view name) const;
};

struct head_result {
  request_head head;
  std::string error;  // why the head is refused (400); empty when accepted
  bool ok() const { return error.empty(); }
};

// Parses and checks a complete header block (as delimited by find_head_end) per RFC 9112 and
// docs/design.md §5: request-line form, version, field syntax, Host, Content-Length,
// Transfer-Encoding, Upgrade, Connection.
[[nodiscard]] head_result parse_request_head(std::string_view block);

// The gateway's own DSA-* headers for the upstream, in the order they are sent.
struct dsa_headers {
  std::string requester, agreement, permission, purpose, case_ref, acting_user, request_id;
};

// True for the methods whose requests may carry a body to the upstream (POST, PUT, PATCH). Any
// other method with a body is refused before anything is forwarded: an upstream that does not
// read, say, a GET body would take it as the next request on the connection, and its answer
// would go to the next caller (docs/threat-model.md).
[[nodiscard]] bool method_takes_body(std::string_view method);

// The canonical request to the upstream: request line with `target`, Host = `authority`, the
// client's fields in order minus every field is_stripped_field names, those named in Connection
// and the range and conditional fields `cond` drops; then, when the method takes a body,
// Content-Length = `body_size` or, when `body_size` is nullopt, `Transfer-Encoding: chunked` (a
// streamed upload whose length the client did not declare, docs/design.md §6); then the
// gateway's DSA-* set (empty values omitted), then CRLF. Body not included.
// Which range and conditional fields (is_conditional_field) reach the upstream: none for an
// endpoint whose response is filtered (a 206 slice or a 304 would pass the rules unread), all but
// Range and If-Range for a streamed endpoint whose agreement does not allow ranges, all for one
// that does (docs/design.md §4.7).
enum class conditional_fields { strip_all, strip_range, forward_all };

[[nodiscard]] std::string serialize_upstream_request(
    const request_head& head, std::string_view target, std::string_view authority,
    std::optional<std::uint64_t> body_size, const dsa_headers& dsa, conditional_fields cond);

// True for the fields never forwarded from a client: hop-by-hop fields (RFC 9110 §7.6.1), the
// framing fields the gateway writes itself, any DSA-* field, and the fields upstreams commonly
// trust as set by a proxy (X-Forwarded-*, Forwarded, X-Real-IP, X-Forwarded-Client-Cert,
// X-SSL-Client-*, X-Client-Cert, X-Original-URL, X-Rewrite-URL, X-HTTP-Method-Override and kin).
// Names are compared folded (policy::http::fold_field_name: any case, '_' read as '-'). The full
// list is in docs/threat-model.md.
[[nodiscard]] bool is_stripped_field(std::string_view name);

// True for Range and If-Range (any case, '_' read as '-').
[[nodiscard]] bool is_range_field(std::string_view name);

// True for Range, If-Range and the conditional fields (If-Match, If-None-Match,
// If-Modified-Since, If-Unmodified-Since): a 206 or 304 from the upstream would bypass the
// response rules, so they never reach an endpoint whose response is filtered.
[[nodiscard]] bool is_conditional_field(std::string_view name);

// A response head: status line, `fields`, Content-Length = body_size (none when nullopt), and
// `Connection: close` when `close`. The body is written separately (not for HEAD).
[[nodiscard]] std::string serialize_response_head(int status, const header_list& fields,
                                                  std::optional<std::size_t> body_size, bool close);

// An RFC 9457 problem body (compact JSON) for a refusal.
[[nodiscard]] std::string problem_body(int status, std::string_view reason_code,
                                       std::string_view title, std::string_view detail,
                                       std::string_view request_id, int upstream_status = 0);

// The standard reason phrase for `status` ("OK", "Forbidden"…).
[[nodiscard]] std::string_view reason_phrase(int status);

// ASCII case-insensitive comparison.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);

}  // namespace dsa::gateway
