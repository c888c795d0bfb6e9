#include "audit/entry.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstring>

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

// An array of strings, written like every other string (escaped, U+FFFD for bytes that are not
// UTF-8); omitted when empty.
void put_str_array_member(std::string& out, std::string_view key,
                          const std::vector<std::string>& values) {
  if (values.empty()) {
    return;
  }
  put_key(out, key);
  out.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) {
      out.push_back(',');
    }
    put_string(out, values[i]);
  }
  out.push_back(']');
}

// The strings of an array member; elements of another type are skipped (a newer writer's).
std::vector<std::string> str_array_of(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_array()) {
    return out;
  }
  for (const auto& v : it->value().get_array()) {
    if (v.is_string()) {
      out.emplace_back(v.get_string());
    }
  }
  return out;
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

#define DSA_AUDIT_CASE(name) \
  case name:                 \
    return #name;
#define DSA_AUDIT_PARSE(name) \
  if (text == #name) {        \
    out = name;               \
    return true;              \
  }

std::string_view to_string(entry_kind k) noexcept {
  using enum entry_kind;
  switch (k) {
    DSA_AUDIT_ENTRY_KINDS(DSA_AUDIT_CASE)
    case unknown:
      break;
  }
  return "";
}

std::string_view to_string(entry_decision d) noexcept {
  using enum entry_decision;
  switch (d) {
    DSA_AUDIT_ENTRY_DECISIONS(DSA_AUDIT_CASE)
    case none:
    case unknown:
      break;
  }
  return "";
}

bool from_string(std::string_view text, entry_kind& out) noexcept {
  using enum entry_kind;
  DSA_AUDIT_ENTRY_KINDS(DSA_AUDIT_PARSE)
  return false;
}

bool from_string(std::string_view text, entry_decision& out) noexcept {
  using enum entry_decision;
  if (text.empty()) {
    out = none;
    return true;
  }
  DSA_AUDIT_ENTRY_DECISIONS(DSA_AUDIT_PARSE)
  return false;
}

#undef DSA_AUDIT_CASE
#undef DSA_AUDIT_PARSE

std::string_view kind_text(const entry& e) noexcept {
  return e.kind == entry_kind::unknown ? std::string_view(e.unknown_kind) : to_string(e.kind);
}

std::string_view decision_text(const entry& e) noexcept {
  return e.decision == entry_decision::unknown ? std::string_view(e.unknown_decision)
                                               : to_string(e.decision);
}

std::string json_after_seq(const entry& e) {
  std::string out;
  out.reserve(768);
  put_key(out, "time_us");
  put_int(out, e.time_us);
  put_key(out, "kind");
  put_string(out, kind_text(e));
  put_str_member(out, "request_id", e.request_id);
  put_str_member(out, "decision", decision_text(e));
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
  put_str_member(out, "client", e.client);
  put_str_array_member(out, "lawful_basis", e.lawful_basis);
  put_str_array_member(out, "legal_gateway", e.legal_gateway);
  put_str_array_member(out, "released_fields", e.released_fields);
  put_str_array_member(out, "subjects", e.subjects);
  put_str_member(out, "incident_ref", e.incident_ref);
  put_str_member(out, "justification", e.justification);
  put_int_member(out, "review_due_us", e.review_due_us, 0);
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
  if (std::string kind = str_of(o, "kind"); !from_string(kind, e.kind)) {
    e.kind = entry_kind::unknown;
    e.unknown_kind = std::move(kind);
  }
  e.request_id = str_of(o, "request_id");
  if (std::string decision = str_of(o, "decision"); !from_string(decision, e.decision)) {
    e.decision = entry_decision::unknown;
    e.unknown_decision = std::move(decision);
  }
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
  e.client = str_of(o, "client");
  e.lawful_basis = str_array_of(o, "lawful_basis");
  e.legal_gateway = str_array_of(o, "legal_gateway");
  e.released_fields = str_array_of(o, "released_fields");
  e.subjects = str_array_of(o, "subjects");
  e.incident_ref = str_of(o, "incident_ref");
  e.justification = str_of(o, "justification");
  e.review_due_us = int_of(o, "review_due_us", 0);
  return e;
}

bool is_emergency_disclosure(const entry& e) noexcept {
  return (e.kind == entry_kind::request || e.kind == entry_kind::disclosure_started) &&
         e.decision == entry_decision::allow && !e.incident_ref.empty();
}

}  // namespace dsa::audit

namespace dsa::audit {
namespace {

// A minimal JSON scanner for derive_columns: it walks one object, hands back the members the
// columns need and skips everything else (nested objects and arrays included) without building
// a DOM, which keeps verification at the speed of hashing.
class scanner {
 public:
  explicit scanner(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
  }
  bool eat(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  bool at_end() {
    ws();
    return p_ == end_;
  }

  // A string token, returned without its quotes and still escaped; `escaped` tells whether it
  // holds a backslash.
  bool token(std::string_view& raw, bool& escaped) {
    ws();
    if (p_ >= end_ || *p_ != '"') {
      return false;
    }
    const char* start = ++p_;
    // Strings are not checked for raw control characters: every text this derives from has been
    // hashed and matched first (or was just written by the store), so it is the writer's valid
    // JSON; what matters here is only where each string ends, found the fast way when it holds
    // no backslash.
    const auto* quote = static_cast<const char*>(std::memchr(start, '"', end_ - start));
    if (quote == nullptr) {
      return false;
    }
    escaped = std::memchr(start, '\\', quote - start) != nullptr;
    if (escaped) {
      // A quote after a backslash is part of the string.
      for (quote = start; quote < end_ && *quote != '"'; ++quote) {
        if (*quote == '\\') {
          ++quote;
        }
      }
      if (quote >= end_) {
        return false;
      }
    }
    raw = std::string_view(start, static_cast<std::size_t>(quote - start));
    p_ = quote + 1;
    return true;
  }

  // A string value: a view of the text when it holds no escape, else decoded into `storage`.
  bool string(std::string_view& out, std::string& storage) {
    std::string_view raw;
    bool escaped = false;
    if (!token(raw, escaped)) {
      return false;
    }
    if (!escaped) {
      out = raw;
      return true;
    }
    boost::system::error_code ec;
    std::string quoted;
    quoted.reserve(raw.size() + 2);
    quoted.push_back('"');
    quoted.append(raw);
    quoted.push_back('"');
    boost::json::value v = boost::json::parse(quoted, ec);
    if (ec || !v.is_string()) {
      return false;
    }
    storage.assign(v.get_string().data(), v.get_string().size());
    out = storage;
    return true;
  }
  bool integer(std::int64_t& out) {
    ws();
    auto [q, ec] = std::from_chars(p_, end_, out);
    if (ec != std::errc() || q == p_) {
      return false;
    }
    p_ = q;
    // A fraction or exponent makes it another number than the writer's integers.
    return p_ == end_ || (*p_ != '.' && *p_ != 'e' && *p_ != 'E');
  }
  bool literal(std::string_view word) {
    ws();
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  // Skips one value of any type.
  bool skip() {
    ws();
    if (p_ >= end_) {
      return false;
    }
    const char c = *p_;
    if (c == '"') {
      std::string_view raw;
      bool escaped = false;
      return token(raw, escaped);
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++p_;
      if (eat(close)) {
        return true;
      }
      do {
        if (c == '{') {
          std::string_view k;
          bool escaped = false;
          if (!token(k, escaped) || !eat(':')) {
            return false;
          }
        }
        if (!skip()) {
          return false;
        }
      } while (eat(','));
      return eat(close);
    }
    if (c == 't') {
      return literal("true");
    }
    if (c == 'f') {
      return literal("false");
    }
    if (c == 'n') {
      return literal("null");
    }
    const char* start = p_;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '-' || *p_ == '+' || *p_ == '.' ||
                         *p_ == 'e' || *p_ == 'E')) {
      ++p_;
    }
    return p_ > start;
  }

 private:
  const char* p_;
  const char* end_;
};

// The members derive_columns reads, by index into entry_columns::decoded for the strings.
enum class member {
  none,
  time_us,
  kind,
  decision,
  reason,
  agreement,
  permission,
  requester,
  purpose,
  case_ref,
  acting_user,
  counted,
  incident_ref
};

member member_of(std::string_view k) {
  switch (k.size()) {
    case 4:
      return k == "kind" ? member::kind : member::none;
    case 6:
      return k == "reason" ? member::reason : member::none;
    case 7:
      return k == "time_us"   ? member::time_us
             : k == "purpose" ? member::purpose
             : k == "counted" ? member::counted
                              : member::none;
    case 8:
      return k == "decision" ? member::decision : k == "case_ref" ? member::case_ref : member::none;
    case 9:
      return k == "agreement"   ? member::agreement
             : k == "requester" ? member::requester
                                : member::none;
    case 10:
      return k == "permission" ? member::permission : member::none;
    case 11:
      return k == "acting_user" ? member::acting_user : member::none;
    case 12:
      return k == "incident_ref" ? member::incident_ref : member::none;
    default:
      return member::none;
  }
}

}  // namespace

bool derive_columns(std::string_view text, entry_columns& out) {
  scanner sc(text);
  unsigned seen = 0;
  out.time_us = 0;
  out.counted = false;
  std::string_view* fields[] = {&out.kind,        &out.decision,    &out.reason,  &out.agreement,
                                &out.permission,  &out.requester,   &out.purpose, &out.case_ref,
                                &out.acting_user, &out.incident_ref};
  for (std::string_view* f : fields) {
    *f = {};
  }
  // A member named twice is refused (the writer never does that, and a parser keeping the first
  // and one keeping the last would derive different columns).
  auto first = [&seen](member m) {
    const unsigned bit = 1u << static_cast<unsigned>(m);
    if ((seen & bit) != 0) {
      return false;
    }
    seen |= bit;
    return true;
  };
  auto string_member = [&](member m, std::size_t field) {
    return first(m) && sc.string(*fields[field], out.decoded[field]);
  };
  if (!sc.eat('{')) {
    return false;
  }
  if (!sc.eat('}')) {
    do {
      std::string_view k;
      bool escaped = false;
      if (!sc.token(k, escaped) || !sc.eat(':')) {
        return false;
      }
      if (escaped) {
        // No member is spelled with an escape by the writer; an escaped key could still decode
        // to a column's name, so such a text is not an entry.
        return false;
      }
      bool ok = true;
      const member m = member_of(k);
      switch (m) {
        case member::none:
          ok = sc.skip();
          break;
        case member::time_us:
          ok = first(m) && sc.integer(out.time_us);
          break;
        case member::kind:
          ok = string_member(m, 0);
          break;
        case member::decision:
          ok = string_member(m, 1);
          break;
        case member::reason:
          ok = string_member(m, 2);
          break;
        case member::agreement:
          ok = string_member(m, 3);
          break;
        case member::permission:
          ok = string_member(m, 4);
          break;
        case member::purpose:
          ok = string_member(m, 6);
          break;
        case member::case_ref:
          ok = string_member(m, 7);
          break;
        case member::acting_user:
          ok = string_member(m, 8);
          break;
        case member::incident_ref:
          ok = string_member(m, 9);
          break;
        case member::counted:
          ok = first(m);
          if (ok && sc.peek('t')) {
            ok = sc.literal("true");
            out.counted = true;
          } else if (ok) {
            ok = sc.literal("false");
          }
          break;
        case member::requester: {
          ok = first(m) && sc.eat('{');
          bool party = false;
          if (ok && !sc.eat('}')) {
            do {
              std::string_view rk;
              bool r_escaped = false;
              ok = sc.token(rk, r_escaped) && !r_escaped && sc.eat(':');
              if (ok && rk == "party") {
                ok = !party && sc.string(out.requester, out.decoded[5]);
                party = true;
              } else if (ok) {
                ok = sc.skip();
              }
            } while (ok && sc.eat(','));
            ok = ok && sc.eat('}');
          }
          break;
        }
      }
      if (!ok) {
        return false;
      }
    } while (sc.eat(','));
    if (!sc.eat('}')) {
      return false;
    }
  }
  const unsigned required =
      (1u << static_cast<unsigned>(member::time_us)) | (1u << static_cast<unsigned>(member::kind));
  return sc.at_end() && (seen & required) == required;
}

std::string utf8_sanitised(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";
    } else {
      out.append(s.substr(i, n));
      i += n - 1;
    }
  }
  return out;
}

}  // namespace dsa::audit
