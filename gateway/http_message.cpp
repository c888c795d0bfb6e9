#include "gateway/http_message.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>

#include "policy/http_token.hpp"

namespace dsa::gateway {
namespace {

using policy::http::is_token;
using policy::http::trim_ows;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool valid_reg_name_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '%' || c == '!' || c == '$' || c == '&' ||
         c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' ||
         c == '=';
}

// RFC 9110 §7.2: Host = uri-host [ ":" port ], port = *DIGIT. A reg-name or IPv4 address, or an
// IP literal in brackets; no userinfo, no path. The port, when present, is decimal and at most
// 65535 (an empty port after ':' is allowed by the grammar).
bool valid_host(std::string_view h) {
  if (h.empty()) {
    return false;
  }
  std::string_view host = h;
  std::string_view port;
  if (h.front() == '[') {
    const auto close = h.find(']');
    if (close == std::string_view::npos || close < 3) {
      return false;
    }
    for (unsigned char c : h.substr(1, close - 1)) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.';
      if (!ok) {
        return false;
      }
    }
    const std::string_view rest = h.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return false;
    }
    port = rest.empty() ? rest : rest.substr(1);
    host = h.substr(0, close + 1);
  } else {
    const auto colon = h.find(':');
    if (colon != std::string_view::npos) {
      host = h.substr(0, colon);
      port = h.substr(colon + 1);
    }
    if (host.empty()) {
      return false;
    }
    for (unsigned char c : host) {
      if (!valid_reg_name_char(c)) {
        return false;
      }
    }
  }
  if (port.size() > 5) {
    return false;
  }
  unsigned value = 0;
  for (unsigned char c : port) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  return value <= 65535;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

head_scan find_head_end(std::string_view r) {
  head_scan s;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i] == '\r') {
      if (i + 1 < r.size() && r[i + 1] != '\n') {
        s.error = "bare CR in the request head";
        return s;
      }
    } else if (r[i] == '\n') {
      if (i == 0 || r[i - 1] != '\r') {
        s.error = "bare LF in the request head";
        return s;
      }
      if (i >= 3 && r[i - 2] == '\n' && r[i - 3] == '\r') {
        s.end = i + 1;
        return s;
      }
    }
  }
  return s;
}

std::optional<std::string_view> request_head::field(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

head_result parse_request_head(std::string_view block) {
  head_result r;
  request_head& h = r.head;
  auto fail = [&](std::string message) {
    r.error = std::move(message);
    return r;
  };

  const auto line_end = block.find("\r\n");
  if (line_end == std::string_view::npos || line_end == 0) {
    return fail("missing request-line");
  }
  const std::string_view line = block.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail("malformed request-line");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) {
    return fail("invalid method");
  }
  if (version == "HTTP/1.1") {
    h.version = 11;
  } else if (version == "HTTP/1.0") {
    h.version = 10;
    h.keep_alive = false;
  } else {
    return fail("unsupported HTTP version");
  }
  if (target.empty()) {
    return fail("empty request target");
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return fail("control, space or non-ASCII byte in the request target");
    }
  }
  if (target.front() != '/') {
    return fail(
        "request target is not in origin-form (absolute-form, authority-form and '*' "
        "are refused)");
  }
  h.method = method;
  h.target = target;

  int host_count = 0;
  int cl_count = 0;
  int te_count = 0;
  std::size_t pos = line_end + 2;
  while (pos < block.size()) {
    const auto end = block.find("\r\n", pos);
    if (end == std::string_view::npos) {
      return fail("unterminated header line");
    }
    if (end == pos) {
      break;  // the empty line that ends the head
    }
    const std::string_view fl = block.substr(pos, end - pos);
    pos = end + 2;
    if (fl.front() == ' ' || fl.front() == '\t') {
      return fail("obsolete line folding (obs-fold)");
    }
    const auto colon = fl.find(':');
    if (colon == std::string_view::npos || !is_token(fl.substr(0, colon))) {
      return fail("invalid header field name");
    }
    const std::string_view name = fl.substr(0, colon);
    const std::string_view value = trim_ows(fl.substr(colon + 1));
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return fail("control byte in the value of " + std::string(name));
      }
    }
    if (iequals(name, "host")) {
      ++host_count;
      if (!valid_host(value)) {
        return fail("invalid Host");
      }
      h.host = value;
    } else if (iequals(name, "content-length")) {
      ++cl_count;
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || value.size() > 18 || ec != std::errc{} ||
          p != value.data() + value.size()) {
        return fail("malformed Content-Length");
      }
      h.content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      ++te_count;
      if (!iequals(value, "chunked")) {
        return fail("Transfer-Encoding other than exactly 'chunked'");
      }
      h.chunked = true;
    } else if (iequals(name, "upgrade") || iequals(name, "http2-settings")) {
      return fail("protocol upgrades (Upgrade, h2c) are not supported");
    } else if (iequals(name, "connection")) {
      std::string_view rest = value;
      while (true) {
        const auto comma = rest.find(',');
        const std::string_view tok = trim_ows(rest.substr(0, comma));
        if (!tok.empty()) {
          if (!is_token(tok)) {
            return fail("malformed Connection");
          }
          std::string t = lower(tok);
          if (t == "close") {
            h.keep_alive = false;
          } else if (t == "keep-alive" && h.version == 10) {
            h.keep_alive = true;
          } else if (t == "upgrade") {
            return fail("protocol upgrades (Upgrade, h2c) are not supported");
          }
          h.connection_tokens.push_back(std::move(t));
        }
        if (comma == std::string_view::npos) {
          break;
        }
        rest.remove_prefix(comma + 1);
      }
    } else if (iequals(name, "expect")) {
      if (!iequals(value, "100-continue")) {
        return fail("unsupported expectation");
      }
      h.expect_continue = true;
    }
    h.fields.emplace_back(std::string(name), std::string(value));
  }
  if (host_count != 1) {
    return fail(host_count == 0 ? "missing Host" : "duplicate Host");
  }
  if (cl_count > 1) {
    return fail("duplicate Content-Length");
  }
  if (te_count > 0 && h.version == 10) {
    return fail("Transfer-Encoding in an HTTP/1.0 request");
  }
  if (te_count > 1) {
    return fail("duplicate Transfer-Encoding");
  }
  if (te_count > 0 && cl_count > 0) {
    return fail("both Content-Length and Transfer-Encoding");
  }
  return r;
}

bool method_takes_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

bool is_stripped_field(std::string_view name) {
  // Exact names (folded). Hop-by-hop and framing first, then what proxies set for upstreams.
  static constexpr std::array<std::string_view, 37> exact = {"connection",
                                                             "keep-alive",
                                                             "proxy-connection",
                                                             "te",
                                                             "trailer",
                                                             "transfer-encoding",
                                                             "upgrade",
                                                             "proxy-authorization",
                                                             "proxy-authenticate",
                                                             "host",
                                                             "content-length",
                                                             "expect",
                                                             "http2-settings",
                                                             "forwarded",
                                                             "via",
                                                             "x-real-ip",
                                                             "x-client-ip",
                                                             "client-ip",
                                                             "true-client-ip",
                                                             "x-cluster-client-ip",
                                                             "cf-connecting-ip",
                                                             "fastly-client-ip",
                                                             "x-forwarded-client-cert",
                                                             "x-client-cert",
                                                             "x-client-certificate",
                                                             "x-client-verify",
                                                             "x-client-dn",
                                                             "ssl-client-cert",
                                                             "ssl-client-verify",
                                                             "x-original-url",
                                                             "x-rewrite-url",
                                                             "x-original-uri",
                                                             "x-original-method",
                                                             "x-http-method-override",
                                                             "x-http-method",
                                                             "x-method-override",
                                                             "x-arr-clientcert"};
  // Prefixes (folded): every DSA-* field, every X-Forwarded-* (For, Host, Proto, Port, Prefix,
  // Server, Uri, Ssl…), every X-SSL-* (X-SSL-Client-Cert, -Verify, -S-DN…) and the headers
  // Envoy and Istio trust from their own proxies.
  static constexpr std::array<std::string_view, 6> prefixes = {
      "dsa-", "x-forwarded-", "x-ssl-", "x-client-cert-", "x-envoy-", "x-amzn-mtls-"};
  // Compared folded without building a folded copy: this runs for every field of every
  // forwarded request.
  for (auto e : exact) {
    if (policy::http::folded_equals(name, e)) {
      return true;
    }
  }
  for (auto p : prefixes) {
    if (policy::http::folded_starts_with(name, p)) {
      return true;
    }
  }
  return false;
}

bool is_conditional_field(std::string_view name) {
  static constexpr std::array<std::string_view, 6> names = {
      "range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"};
  for (auto n : names) {
    if (policy::http::folded_equals(name, n)) {
      return true;
    }
  }
  return false;
}

bool is_range_field(std::string_view name) {
  return policy::http::folded_equals(name, "range") ||
         policy::http::folded_equals(name, "if-range");
}

std::string serialize_upstream_request(const request_head& head, std::string_view target,
                                       std::string_view authority,
                                       std::optional<std::uint64_t> body_size,
                                       const dsa_headers& dsa, conditional_fields cond) {
  std::string out;
  out.reserve(256 + target.size());
  out.append(head.method).append(" ").append(target).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(authority).append("\r\n");
  for (const auto& [name, value] : head.fields) {
    if (is_stripped_field(name)) {
      continue;
    }
    if (cond != conditional_fields::forward_all && is_conditional_field(name) &&
        (cond == conditional_fields::strip_all || is_range_field(name))) {
      continue;
    }
    bool listed = false;
    for (const auto& tok : head.connection_tokens) {
      listed = listed || iequals(tok, name);
    }
    if (listed) {
      continue;
    }
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (method_takes_body(head.method)) {
    if (body_size) {
      out.append("Content-Length: ").append(std::to_string(*body_size)).append("\r\n");
    } else {
      out.append("Transfer-Encoding: chunked\r\n");
    }
  }
  auto add = [&](std::string_view name, const std::string& value) {
    if (!value.empty()) {
      out.append(name).append(": ").append(value).append("\r\n");
    }
  };
  add("DSA-Requester", dsa.requester);
  add("DSA-Agreement", dsa.agreement);
  add("DSA-Permission", dsa.permission);
  add("DSA-Purpose", dsa.purpose);
  add("DSA-Case-Ref", dsa.case_ref);
  add("DSA-Acting-User", dsa.acting_user);
  add("DSA-Request-Id", dsa.request_id);
  out.append("\r\n");
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string serialize_response_head(int status, const header_list& fields,
                                    std::optional<std::size_t> body_size, bool close) {
  std::string out;
  out.reserve(256);
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reason_phrase(status)).append("\r\n");
  for (const auto& [name, value] : fields) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (body_size) {
    out.append("Content-Length: ").append(std::to_string(*body_size)).append("\r\n");
  }
  if (close) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n");
  return out;
}

std::string problem_body(int status, std::string_view reason_code, std::string_view title,
                         std::string_view detail, std::string_view request_id,
                         int upstream_status) {
  boost::json::object o;
  o["type"] = "https://dsa-gateway.example/problems/" + std::string(reason_code);
  o["title"] = title;
  o["status"] = status;
  o["detail"] = detail;
  o["reason"] = reason_code;
  o["request_id"] = request_id;
  if (upstream_status != 0) {
    o["upstream_status"] = upstream_status;
  }
  return boost::json::serialize(o);
}

}  // namespace dsa::gateway
