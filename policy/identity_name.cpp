#include "policy/identity_name.hpp"

#include <algorithm>
#include <array>
#include <tuple>
#include <utility>
#include <vector>

#include "policy/text.hpp"

namespace dsa::policy {
namespace {

struct attribute_type {
  std::string_view canonical;
  std::array<std::string_view, 4> aliases;  // lower case; the OID first
};

// The attribute types of X.520, RFC 4519 and PKCS #9 that certificate subjects use, with the
// names OpenSSL prints (its short names) as the canonical spelling.
constexpr std::array<attribute_type, 22> k_types{{
    {"CN", {"2.5.4.3", "cn", "commonname", ""}},
    {"SN", {"2.5.4.4", "sn", "surname", ""}},
    {"SERIALNUMBER", {"2.5.4.5", "serialnumber", "", ""}},
    {"C", {"2.5.4.6", "c", "countryname", ""}},
    {"L", {"2.5.4.7", "l", "localityname", ""}},
    {"ST", {"2.5.4.8", "st", "stateorprovincename", "s"}},
    {"STREET", {"2.5.4.9", "street", "streetaddress", ""}},
    {"O", {"2.5.4.10", "o", "organizationname", ""}},
    {"OU", {"2.5.4.11", "ou", "organizationalunitname", ""}},
    {"TITLE", {"2.5.4.12", "title", "", ""}},
    {"BUSINESSCATEGORY", {"2.5.4.15", "businesscategory", "", ""}},
    {"POSTALCODE", {"2.5.4.17", "postalcode", "", ""}},
    {"NAME", {"2.5.4.41", "name", "", ""}},
    {"GN", {"2.5.4.42", "gn", "givenname", ""}},
    {"INITIALS", {"2.5.4.43", "initials", "", ""}},
    {"GENERATIONQUALIFIER", {"2.5.4.44", "generationqualifier", "", ""}},
    {"DNQUALIFIER", {"2.5.4.46", "dnqualifier", "", ""}},
    {"PSEUDONYM", {"2.5.4.65", "pseudonym", "", ""}},
    {"ORGANIZATIONIDENTIFIER", {"2.5.4.97", "organizationidentifier", "", ""}},
    {"DC", {"0.9.2342.19200300.100.1.25", "dc", "domaincomponent", ""}},
    {"UID", {"0.9.2342.19200300.100.1.1", "uid", "userid", ""}},
    {"EMAILADDRESS", {"1.2.840.113549.1.9.1", "emailaddress", "email", "e"}},
}};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_space(char c) { return c == ' '; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

result<std::string> canonical_type(std::string_view written) {
  std::string t;
  for (char c : written) {
    t += lower(c);
  }
  if (t.size() > 4 && t.compare(0, 4, "oid.") == 0) {
    t.erase(0, 4);
  }
  if (t.empty()) {
    return result<std::string>::failure("an attribute type is empty");
  }
  const bool numeric = t.front() >= '0' && t.front() <= '9';
  for (char c : t) {
    const bool ok = numeric ? (c >= '0' && c <= '9') || c == '.'
                            : (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return result<std::string>::failure("attribute type '" + escape_text(written) +
                                          "' is neither a name nor a dotted OID");
    }
  }
  for (const attribute_type& a : k_types) {
    if (std::find(a.aliases.begin(), a.aliases.end(), t) != a.aliases.end()) {
      return std::string(a.canonical);
    }
  }
  if (!numeric) {
    std::transform(t.begin(), t.end(), t.begin(), upper);
  }
  return t;
}

// RFC 4518 insignificant space handling: no leading or trailing spaces, inner runs as one.
std::string fold_spaces(std::string_view v) {
  std::string out;
  bool pending = false;
  for (char c : v) {
    if (is_space(c)) {
      pending = !out.empty();
      continue;
    }
    if (pending) {
      out += ' ';
      pending = false;
    }
    out += c;
  }
  return out;
}

std::string escape_value(std::string_view v) {
  constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    const auto uc = static_cast<unsigned char>(c);
    const bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' ||
                         c == ';' || (i == 0 && c == '#');
    if (special) {
      out += '\\';
      out += c;
    } else if (uc < 0x20 || uc == 0x7F) {
      out += '\\';
      out += digits[uc >> 4];
      out += digits[uc & 0x0F];
    } else if (uc >= 0x80) {
      // Keep a well-formed UTF-8 sequence readable; write stray bytes as \HH.
      std::size_t end = i + 1;
      while (end < v.size() && (static_cast<unsigned char>(v[end]) & 0xC0) == 0x80) {
        ++end;
      }
      const std::string_view seq = v.substr(i, end - i);
      if (first_invalid_utf8(seq) == std::string_view::npos) {
        out.append(seq);
        i = end - 1;
      } else {
        out += '\\';
        out += digits[uc >> 4];
        out += digits[uc & 0x0F];
      }
    } else {
      out += c;
    }
  }
  return out;
}

struct ava {
  std::string type, value;
  bool operator<(const ava& o) const { return std::tie(type, value) < std::tie(o.type, o.value); }
};

}  // namespace

result<std::string> canonical_subject(std::string_view dn, bool fold_case) {
  using R = result<std::string>;
  std::vector<std::vector<ava>> rdns(1);
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < dn.size() && is_space(dn[i])) {
      ++i;
    }
  };
  skip_spaces();
  if (i == dn.size()) {
    return R::failure("the subject is empty");
  }
  while (true) {
    // type '='
    skip_spaces();
    const std::size_t type_start = i;
    while (i < dn.size() && dn[i] != '=' && dn[i] != ',' && dn[i] != '+') {
      ++i;
    }
    if (i == dn.size() || dn[i] != '=') {
      return R::failure("'" + escape_text(dn.substr(type_start, i - type_start)) +
                        "' has no '=' (expected TYPE=value, e.g. CN=name)");
    }
    std::string_view written_type = dn.substr(type_start, i - type_start);
    while (!written_type.empty() && is_space(written_type.back())) {
      written_type.remove_suffix(1);
    }
    result<std::string> type = canonical_type(written_type);
    if (!type) {
      return R::failure(type.error());
    }
    ++i;  // '='
    skip_spaces();

    ava a;
    a.type = std::move(type).value();
    if (i < dn.size() && dn[i] == '#') {
      // A BER-encoded value: compared as its (lower-case) hex digits.
      std::string hex = "#";
      ++i;
      while (i < dn.size() && hex_value(dn[i]) >= 0) {
        hex += lower(dn[i++]);
      }
      if (hex.size() < 3 || hex.size() % 2 == 0) {
        return R::failure("attribute " + a.type + ": '#' must be followed by pairs of hex digits");
      }
      a.value = std::move(hex);
      skip_spaces();
    } else {
      std::string value;
      while (i < dn.size() && dn[i] != ',' && dn[i] != '+') {
        const char c = dn[i];
        if (c == '\\') {
          if (i + 1 >= dn.size()) {
            return R::failure("attribute " + a.type + ": a trailing '\\' escapes nothing");
          }
          const char n = dn[i + 1];
          if (hex_value(n) >= 0 && i + 2 < dn.size() && hex_value(dn[i + 2]) >= 0) {
            value += static_cast<char>((hex_value(n) << 4) | hex_value(dn[i + 2]));
            i += 3;
            continue;
          }
          static constexpr std::string_view escapable = "\"+,;<>\\ #=";
          if (escapable.find(n) == std::string_view::npos) {
            return R::failure("attribute " + a.type + ": '\\" + escape_text(dn.substr(i + 1, 1)) +
                              "' is not an RFC 4514 escape (expected \\ before one of "
                              "\" + , ; < > \\ space # = or two hex digits)");
          }
          value += n;
          i += 2;
          continue;
        }
        if (c == ';') {
          return R::failure("attribute " + a.type +
                            ": an unescaped ';' (write ',' between RDNs, or '\\;' inside a value)");
        }
        if (c == '"') {
          return R::failure("attribute " + a.type + ": an unescaped '\"' (write '\\\"')");
        }
        value += c;
        ++i;
      }
      a.value = fold_spaces(value);
      if (fold_case) {
        std::transform(a.value.begin(), a.value.end(), a.value.begin(), lower);
      }
      a.value = escape_value(a.value);
    }
    rdns.back().push_back(std::move(a));
    if (i == dn.size()) {
      break;
    }
    if (dn[i] == ',') {
      rdns.emplace_back();
    } else if (dn[i] != '+') {
      return R::failure("unexpected '" + escape_text(dn.substr(i, 1)) + "' after a value");
    }
    ++i;
    skip_spaces();
    if (i == dn.size()) {
      return R::failure("the subject ends with a separator");
    }
  }

  std::string out;
  for (std::size_t r = 0; r < rdns.size(); ++r) {
    std::vector<ava>& avas = rdns[r];
    std::sort(avas.begin(), avas.end());
    if (r > 0) {
      out += ',';
    }
    for (std::size_t k = 0; k < avas.size(); ++k) {
      if (k > 0) {
        out += '+';
      }
      out += avas[k].type;
      out += '=';
      out += avas[k].value;
    }
  }
  return out;
}

std::string canonical_dns_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    out += lower(c);
  }
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

}  // namespace dsa::policy
