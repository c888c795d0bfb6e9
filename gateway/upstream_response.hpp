#pragma once

// The upstream's answer as the upstream pool hands it to the request handler: plain data, so
// the handler and its tests need no Asio.

#include <cstdint>
#include <optional>
#include <string>

#include "policy/reason.hpp"

namespace dsa::gateway {

// What the upstream answered (or why it could not), as upstream_pool reports it.
struct upstream_response {
  // allowed (a response arrived), upstream_unavailable, upstream_timeout or response_too_large.
  policy::reason why = policy::reason::upstream_unavailable;
  int status = 0;
  std::string content_type, content_disposition;  // the only upstream fields ever passed on
  std::string body;
  // Read by upstream_pool::open for a streamed endpoint: the declared length (Content-Length;
  // absent when the body is chunked or ends with the connection), a 206's Content-Range, and
  // whether a body follows to be read through an upstream_body.
  std::optional<std::uint64_t> content_length;
  std::string content_range;
  bool body_follows = false;
  std::int64_t latency_us = 0;  // from the first byte written to the response's end
  std::string error;            // for logs and the audit's details; never sent to the client
};

}  // namespace dsa::gateway
