#include "audit/checkpoint.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "audit/json_members.hpp"

namespace dsa::audit {
namespace {

constexpr std::string_view time_prefix = "time_us ";
constexpr std::string_view document_type = "dsa-audit-checkpoint";

// Canonical unsigned decimal: digits only, no leading zero unless the number is 0.
template <typename T>
std::optional<T> parse_decimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0') || s[0] < '0' || s[0] > '9') {
    return std::nullopt;
  }
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

bool valid_origin(std::string_view origin) {
  if (origin.empty()) {
    return false;
  }
  for (char c : origin) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

std::string checkpoint_note(const checkpoint& c) {
  std::string note = c.origin;
  note.push_back('\n');
  note += std::to_string(c.size);
  note.push_back('\n');
  note += to_base64(c.root);
  note.push_back('\n');
  if (c.time_us) {
    note += time_prefix;
    note += std::to_string(*c.time_us);
    note.push_back('\n');
  }
  return note;
}

std::optional<checkpoint> parse_checkpoint_note(std::string_view note) {
  std::string_view lines[4];
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < note.size()) {
    std::size_t nl = note.find('\n', pos);
    if (nl == std::string_view::npos || count == 4) {
      return std::nullopt;
    }
    lines[count++] = note.substr(pos, nl - pos);
    pos = nl + 1;
  }
  if (count < 3 || !valid_origin(lines[0])) {
    return std::nullopt;
  }
  checkpoint c;
  c.origin = std::string(lines[0]);
  auto size = parse_decimal<std::uint64_t>(lines[1]);
  auto root = hash_from_base64(lines[2]);
  if (!size || !root) {
    return std::nullopt;
  }
  c.size = *size;
  c.root = *root;
  if (count == 4) {
    if (lines[3].substr(0, time_prefix.size()) != time_prefix) {
      return std::nullopt;
    }
    auto t = parse_decimal<std::int64_t>(lines[3].substr(time_prefix.size()));
    if (!t) {
      return std::nullopt;
    }
    c.time_us = *t;
  }
  return c;
}

std::string format_utc(std::int64_t time_us) {
  using namespace std::chrono;
  const sys_time<microseconds> t{microseconds{time_us}};
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss<microseconds> tod{t - day_point};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(tod.hours().count()),
                static_cast<long long>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count()));
  return buf;
}

std::string signed_checkpoint_to_json(const signed_checkpoint& s) {
  auto q = [](std::string_view v) { return boost::json::serialize(boost::json::string(v)); };
  std::string out = "{\n";
  out += "  \"type\": " + q(document_type) + ",\n";
  out += "  \"origin\": " + q(s.c.origin) + ",\n";
  out += "  \"size\": " + std::to_string(s.c.size) + ",\n";
  out += "  \"root\": " + q(to_base64(s.c.root)) + ",\n";
  if (s.c.time_us) {
    out += "  \"time_us\": " + std::to_string(*s.c.time_us) + ",\n";
    out += "  \"time\": " + q(format_utc(*s.c.time_us)) + ",\n";
  }
  out += "  \"signature\": " + q(to_base64(s.signature)) + "\n";
  out += "}\n";
  return out;
}

result<signed_checkpoint> signed_checkpoint_from_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return fail("the checkpoint is not a JSON object");
  }
  const auto& o = v.get_object();
  for (const auto& member : o) {
    const std::string_view k = member.key();
    if (k != "type" && k != "origin" && k != "size" && k != "root" && k != "time_us" &&
        k != "time" && k != "signature") {
      return fail("the checkpoint has an unknown member \"" + std::string(k) + "\"");
    }
  }
  auto str = [&](std::string_view k) { return string_member(o, k); };
  auto type = str("type");
  if (!type || *type != document_type) {
    return fail("the checkpoint's \"type\" is not \"" + std::string(document_type) + "\"");
  }
  signed_checkpoint s;
  auto origin = str("origin");
  if (!origin || !valid_origin(*origin)) {
    return fail("the checkpoint's \"origin\" is missing or not one printable line");
  }
  s.c.origin = std::string(*origin);
  auto size = o.find("size");
  if (size == o.end() || !(size->value().is_uint64() ||
                           (size->value().is_int64() && size->value().get_int64() >= 0))) {
    return fail("the checkpoint's \"size\" is missing or not a non-negative integer");
  }
  s.c.size = size->value().is_uint64() ? size->value().get_uint64()
                                       : static_cast<std::uint64_t>(size->value().get_int64());
  auto root = str("root");
  auto root_hash = root ? hash_from_base64(*root) : std::nullopt;
  if (!root_hash) {
    return fail("the checkpoint's \"root\" is missing or not base64 of a 32-byte hash");
  }
  s.c.root = *root_hash;
  if (auto t = o.find("time_us"); t != o.end()) {
    if (!t->value().is_int64() || t->value().get_int64() < 0) {
      return fail("the checkpoint's \"time_us\" is not a non-negative integer");
    }
    s.c.time_us = t->value().get_int64();
    auto human = str("time");
    if (human && *human != format_utc(*s.c.time_us)) {
      return fail("the checkpoint's \"time\" does not agree with its \"time_us\"");
    }
  } else if (o.contains("time")) {
    return fail("the checkpoint has \"time\" but no \"time_us\"");
  }
  auto sig = str("signature");
  auto sig_bytes = sig ? from_base64(*sig) : std::nullopt;
  if (!sig_bytes || sig_bytes->size() != 64) {
    return fail("the checkpoint's \"signature\" is missing or not base64 of 64 bytes");
  }
  s.signature = *sig_bytes;
  return s;
}

bool verify_signed_checkpoint(const signed_checkpoint& s, const public_key& key) {
  return key.verify(checkpoint_note(s.c), s.signature);
}

}  // namespace dsa::audit
