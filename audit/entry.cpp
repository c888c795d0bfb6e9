#include "audit/entry.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

namespace dsa::audit {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid (overlong forms,
// surrogates and code points above U+10FFFF are invalid, as RFC 3629 says).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) {
      return 0;
    }
    cp = cp << 6 | (byte(i + k) & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
    return 0;
  }
  return n;
}

void put_string(std::string& out, std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  auto plain = [](unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; };
  out.push_back('"');
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Printable ASCII other than '"' and '\\' is copied as is: append whole runs of it at once.
    std::size_t run = i;
    while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) {
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) {
        break;
      }
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          out += "\\u00";
          out.push_back(digits[c >> 4]);
          out.push_back(digits[c & 0xf]);
      }
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      std::size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\xef\xbf\xbd";  // U+FFFD
      } else {
        out.append(s.substr(i, n));
        i += n - 1;
      }
    }
  }
  out.push_back('"');
}

void put_key(std::string& out, std::string_view key) {
  out.push_back(',');
  out.push_back('"');
  out.append(key);
  out += "\":";
}

void put_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void put_str_member(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) {
    put_key(out, key);
    put_string(out, value);
  }
}

void put_int_member(std::string& out, std::string_view key, std::int64_t value,
                    std::int64_t omitted) {
  if (value != omitted) {
    put_key(out, key);
    put_int(out, value);
  }
}

std::string str_of(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) {
    return {};
  }
  return std::string(it->value().get_string());
}

std::int64_t int_of(const boost::json::object& o, std::string_view key, std::int64_t dflt) {
  auto it = o.find(key);
  if (it == o.end()) {
    return dflt;
  }
  if (it->value().is_int64()) {
    return it->value().get_int64();
  }
  if (it->value().is_uint64()) {
    return static_cast<std::int64_t>(it->value().get_uint64());
  }
  return dflt;
}

}  // namespace

std::string json_after_seq(const entry& e) {
  std::string out;
  out.reserve(768);
  put_key(out, "time_us");
  put_int(out, e.time_us);
  put_key(out, "kind");
  put_string(out, e.kind);
  put_str_member(out, "request_id", e.request_id);
  put_str_member(out, "decision", e.decision);
  put_str_member(out, "reason", e.reason);
  put_int_member(out, "status", e.status, 0);
  const requester_info& r = e.requester;
  if (!r.party.empty() || !r.subject.empty() || !r.cert_sha256.empty() || !r.trust_anchor.empty()) {
    put_key(out, "requester");
    // The object's first member must not start with a comma: write it by hand.
    out.push_back('{');
    std::size_t mark = out.size();
    put_str_member(out, "party", r.party);
    put_str_member(out, "subject", r.subject);
    put_str_member(out, "cert_sha256", r.cert_sha256);
    put_str_member(out, "trust_anchor", r.trust_anchor);
    out.erase(mark, 1);
    out.push_back('}');
  }
  put_str_member(out, "agreement", e.agreement);
  put_str_member(out, "agreement_version", e.agreement_version);
  put_str_member(out, "agreement_sha256", e.agreement_sha256);
  put_str_member(out, "permission", e.permission);
  put_str_member(out, "endpoint", e.endpoint);
  put_str_member(out, "purpose", e.purpose);
  put_str_member(out, "case_ref", e.case_ref);
  put_str_member(out, "acting_user", e.acting_user);
  put_str_member(out, "method", e.method);
  put_str_member(out, "path", e.path);
  put_str_member(out, "query", e.query);
  put_str_member(out, "upstream", e.upstream);
  put_int_member(out, "upstream_status", e.upstream_status, 0);
  put_int_member(out, "upstream_latency_us", e.upstream_latency_us, -1);
  put_int_member(out, "bytes", e.bytes, 0);
  put_int_member(out, "items", e.items, 0);
  put_int_member(out, "fields_removed", e.fields_removed, 0);
  put_str_member(out, "body_sha256", e.body_sha256);
  if (e.counted) {
    put_key(out, "counted");
    out += "true";
  }
  if (!e.details.empty()) {
    put_key(out, "details");
    // Boost.JSON's serializer is compact and deterministic for a given object, and it escapes
    // strings; object member order is the insertion order the gateway chose.
    out += boost::json::serialize(e.details);
  }
  out.push_back('}');
  return out;
}

std::string json_with_seq(std::uint64_t seq, std::string_view after_seq) {
  std::string out;
  out.reserve(after_seq.size() + 32);
  out += "{\"seq\":";
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, seq);
  out.append(buf, end);
  out.append(after_seq);
  return out;
}

std::string to_json(const entry& e) { return json_with_seq(e.seq, json_after_seq(e)); }

std::optional<std::uint64_t> claimed_seq(std::string_view text) {
  static constexpr std::string_view prefix = "{\"seq\":";
  if (text.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  const char* begin = text.data() + prefix.size();
  const char* end = text.data() + text.size();
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || p == begin || p == end || (*p != ',' && *p != '}') ||
      (*begin == '0' && p - begin > 1)) {
    return std::nullopt;
  }
  return v;
}

std::optional<entry> entry_from_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const boost::json::object& o = v.get_object();
  auto seq = o.find("seq");
  auto time = o.find("time_us");
  if (seq == o.end() || time == o.end() || !seq->value().is_number() ||
      !time->value().is_number()) {
    return std::nullopt;
  }
  entry e;
  e.seq = static_cast<std::uint64_t>(int_of(o, "seq", 0));
  e.time_us = int_of(o, "time_us", 0);
  e.kind = str_of(o, "kind");
  e.request_id = str_of(o, "request_id");
  e.decision = str_of(o, "decision");
  e.reason = str_of(o, "reason");
  e.status = static_cast<int>(int_of(o, "status", 0));
  if (auto it = o.find("requester"); it != o.end() && it->value().is_object()) {
    const auto& r = it->value().get_object();
    e.requester = {str_of(r, "party"), str_of(r, "subject"), str_of(r, "cert_sha256"),
                   str_of(r, "trust_anchor")};
  }
  e.agreement = str_of(o, "agreement");
  e.agreement_version = str_of(o, "agreement_version");
  e.agreement_sha256 = str_of(o, "agreement_sha256");
  e.permission = str_of(o, "permission");
  e.endpoint = str_of(o, "endpoint");
  e.purpose = str_of(o, "purpose");
  e.case_ref = str_of(o, "case_ref");
  e.acting_user = str_of(o, "acting_user");
  e.method = str_of(o, "method");
  e.path = str_of(o, "path");
  e.query = str_of(o, "query");
  e.upstream = str_of(o, "upstream");
  e.upstream_status = static_cast<int>(int_of(o, "upstream_status", 0));
  e.upstream_latency_us = int_of(o, "upstream_latency_us", -1);
  e.bytes = int_of(o, "bytes", 0);
  e.items = int_of(o, "items", 0);
  e.fields_removed = int_of(o, "fields_removed", 0);
  e.body_sha256 = str_of(o, "body_sha256");
  if (auto it = o.find("counted"); it != o.end() && it->value().is_bool()) {
    e.counted = it->value().get_bool();
  }
  if (auto it = o.find("details"); it != o.end() && it->value().is_object()) {
    e.details = it->value().get_object();
  }
  return e;
}

}  // namespace dsa::audit
