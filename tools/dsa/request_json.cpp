// The `dsa explain` request JSON (docs/design.md §8): read strictly, every key known and typed,
// and every header member seen as written; see read_request_json in policy_cli.hpp.

#include <algorithm>
#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <set>

#include "policy/text.hpp"
#include "tools/dsa/policy_cli.hpp"

namespace dsa::cli {

namespace json = boost::json;

namespace {

// Parses the explain request JSON; an error names what is invalid.
result<described_request> parse_request_json(const json::value& v) {
  described_request out;
  if (!v.is_object()) {
    return fail("the request must be a JSON object");
  }
  const json::object& o = v.as_object();
  for (const auto& kv : o) {
    static const std::array<std::string_view, 5> known{"identity", "requester", "method", "target",
                                                       "headers"};
    if (std::find(known.begin(), known.end(), kv.key()) == known.end()) {
      return fail("unknown key '" + std::string(kv.key()) +
                  "' (expected identity or requester, method, target, headers)");
    }
  }
  auto str = [&](const json::object& obj, std::string_view key, std::string& dst,
                 bool required) -> result<void> {
    const json::value* x = obj.if_contains(key);
    if (x == nullptr) {
      if (required) {
        return fail("'" + std::string(key) + "' is required");
      }
      return {};
    }
    if (!x->is_string()) {
      return fail("'" + std::string(key) + "' must be a string");
    }
    dst = std::string(x->as_string());
    return {};
  };
  if (auto r = str(o, "method", out.method, true); !r) {
    return fail(r.error());
  }
  if (auto r = str(o, "target", out.target, true); !r) {
    return fail(r.error());
  }
  const json::value* id = o.if_contains("identity");
  const json::value* who = o.if_contains("requester");
  if ((id == nullptr) == (who == nullptr)) {
    return fail("exactly one of 'identity' or 'requester' is required");
  }
  if (who != nullptr) {
    if (auto r = str(o, "requester", out.requester, true); !r) {
      return fail(r.error());
    }
  } else {
    if (!id->is_object()) {
      return fail("'identity' must be an object");
    }
    out.has_identity = true;
    const json::object& io = id->as_object();
    for (const auto& kv : io) {
      std::string_view k = kv.key();
      if (k == "uri_san" || k == "dns_san") {
        if (!kv.value().is_array()) {
          return fail("identity." + std::string(k) + " must be a list of strings");
        }
        for (const json::value& s : kv.value().as_array()) {
          if (!s.is_string()) {
            return fail("identity." + std::string(k) + " must be a list of strings");
          }
          (k == "uri_san" ? out.identity.uri_sans : out.identity.dns_sans)
              .emplace_back(s.as_string());
        }
      } else if (k == "trust_anchor" || k == "subject" || k == "spki_sha256") {
        if (!kv.value().is_string()) {
          return fail("identity." + std::string(k) + " must be a string");
        }
        std::string value(kv.value().as_string());
        if (k == "trust_anchor") {
          out.identity.trust_anchor = value;
        } else if (k == "subject") {
          out.identity.subject = value;
        } else {
          out.identity.spki_sha256 = lower(value);
        }
      } else {
        return fail("unknown identity key '" + std::string(k) +
                    "' (expected trust_anchor, subject, uri_san, dns_san, spki_sha256)");
      }
    }
  }
  if (const json::value* h = o.if_contains("headers")) {
    if (!h->is_object()) {
      return fail("'headers' must be an object of name to string");
    }
    for (const auto& kv : h->as_object()) {
      if (!kv.value().is_string()) {
        return fail("header '" + std::string(kv.key()) + "' must be a string");
      }
      out.headers.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
  return out;
}

// Boost.JSON keeps only the last of two equal keys, so a request JSON with "DSA-Purpose" twice
// would be explained as if one value had been sent, while the gateway refuses the duplicate.
// This second, DOM-less pass over the same text sees every key as written: it returns the
// top-level "headers" members in order (string values only; the DOM pass reports other types)
// and refuses a duplicate key anywhere else.
struct written_headers {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string duplicate;  // a duplicate key outside "headers", for the error message
};

class written_keys_handler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit written_keys_handler(written_headers& out) : out_(out) {}

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    frames_.push_back({true, in_headers_value(), {}, {}});
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_array_begin(json::error_code&) {
    frames_.push_back({false, false, {}, {}});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    frames_.pop_back();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    frame& f = frames_.back();
    if (!f.keys.insert(text_).second && !f.is_headers && out_.duplicate.empty()) {
      out_.duplicate = text_;
    }
    f.key = std::move(text_);
    text_.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    if (frames_.back().is_headers) {
      out_.headers.emplace_back(frames_.back().key, std::move(text_));
    }
    text_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct frame {
    bool is_object = false;
    bool is_headers = false;  // the object under the top-level "headers" key
    std::set<std::string> keys;
    std::string key;  // the current member's key
  };
  // True when the value being opened is the top-level "headers" member.
  bool in_headers_value() const {
    return frames_.size() == 1 && frames_[0].is_object && frames_[0].key == "headers";
  }

  written_headers& out_;
  std::vector<frame> frames_;
  std::string text_;
};

// The headers as written in the request text (already known to parse); an error on a
// duplicate key outside "headers".
result<written_headers> read_written_headers(std::string_view text) {
  written_headers out;
  json::basic_parser<written_keys_handler> p(json::parse_options{}, out);
  json::error_code ec;
  p.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    return fail("not valid JSON: " + ec.message());
  }
  if (!out.duplicate.empty()) {
    return fail("duplicate key '" + policy::escape_text(out.duplicate) + "'");
  }
  return out;
}

}  // namespace

result<described_request> read_request_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return fail("not valid JSON: " + ec.message());
  }
  result<described_request> out = parse_request_json(v);
  if (!out) {
    return out;
  }
  result<written_headers> written = read_written_headers(text);
  if (!written) {
    return fail(written.error());
  }
  // every member as written, duplicates included
  out.value().headers = std::move(written.value().headers);
  return out;
}

}  // namespace dsa::cli
