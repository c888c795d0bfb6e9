// libFuzzer target: the strict request-head checks (gateway/http_message.hpp) and, for heads they
// accept, the canonical target and the re-serialised upstream request — the path every client
// byte takes before Beast or the policy sees it.
//
// Beyond "no crash, no sanitizer report", it checks properties the gateway relies on:
// - find_head_end reports a block that really ends in CRLFCRLF and lies inside the input;
// - an accepted head is self-consistent (version 10 or 11, never both chunked and a length,
//   a Host present);
// - the request the gateway would send upstream is itself accepted by the same strict parser,
//   with the same method and target and Host = the upstream authority (README "Fuzzing").
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/http_message.hpp"
#include "policy/canonical_path.hpp"

namespace {

using namespace dsa::gateway;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_request_head: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check_upstream_request(const request_head& head) {
  auto canonical = dsa::policy::canonicalize_target(head.target);
  if (!canonical.ok()) {
    return;  // the session answers 400 bad_request; nothing is forwarded
  }
  const std::string target = canonical.value.target();
  const std::size_t body_size = head.chunked ? 5 : head.content_length.value_or(0);
  const dsa_headers dsa{"police",          "asb@1.0.0",  "read-case", "asb-casework",
                        "ASB-2026-000001", "officer-17", "req-1"};
  if (head.has_body() && !method_takes_body(head.method)) {
    return;  // the handler answers 400 before anything is forwarded
  }
  // Every form: for an endpoint with response rules (range and conditional fields dropped), a
  // streamed one without ranges (Range and If-Range dropped) and one with ranges (all kept).
  for (const conditional_fields cond :
       {conditional_fields::forward_all, conditional_fields::strip_range,
        conditional_fields::strip_all}) {
    const std::string upstream =
        serialize_upstream_request(head, target, "upstream.test:9001", body_size, dsa, cond);
    auto again = parse_request_head(upstream);
    if (!again.ok()) {
      fail("the upstream request is refused by the gateway's own parser",
           again.error + "\n" + upstream);
    }
    if (again.head.method != head.method || again.head.target != target ||
        again.head.host != "upstream.test:9001") {
      fail("the upstream request changed method, target or Host", upstream);
    }
    for (const auto& [name, value] : again.head.fields) {
      const bool gateway_dsa = name == "DSA-Requester" || name == "DSA-Agreement" ||
                               name == "DSA-Permission" || name == "DSA-Purpose" ||
                               name == "DSA-Case-Ref" || name == "DSA-Acting-User" ||
                               name == "DSA-Request-Id";
      if ((is_stripped_field(name) && !gateway_dsa && name != "Host" && name != "Content-Length") ||
          (cond == conditional_fields::strip_all && is_conditional_field(name)) ||
          (cond == conditional_fields::strip_range && is_range_field(name))) {
        fail("a field the gateway never forwards reached the upstream", upstream);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // As the session does: scan what was received, then parse the delimited block.
  const head_scan scan = find_head_end(input);
  if (scan.end != 0) {
    if (scan.end > input.size() || scan.end < 4 || !scan.error.empty() ||
        input.substr(scan.end - 4, 4) != "\r\n\r\n") {
      fail("find_head_end returned a block that does not end in CRLFCRLF", input);
    }
    const head_result r = parse_request_head(input.substr(0, scan.end));
    if (r.ok()) {
      const request_head& h = r.head;
      if ((h.version != 10 && h.version != 11) || (h.chunked && h.content_length) ||
          h.host.empty() || h.method.empty() || h.target.empty()) {
        fail("accepted head is inconsistent", input);
      }
      (void)h.has_body();
      (void)h.field("host");
      (void)h.field("dsa-purpose");
      for (const auto& [name, value] : h.fields) {
        (void)is_stripped_field(name);
      }
      check_upstream_request(h);
    }
  }
  // parse_request_head must also be safe on any bytes, whether or not they form a block.
  (void)parse_request_head(input);
  return 0;
}
