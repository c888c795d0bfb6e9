// Parsing and formatting the times of agreement files; see time.hpp.

#include "policy/time.hpp"

#include <date/tz.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <system_error>

namespace dsa::policy {

using namespace std::chrono;

namespace {

bool parse_fixed_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) {
    return false;
  }
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<date::year_month_day> parse_date(std::string_view s) {
  int y = 0, m = 0, d = 0;
  if (s.size() < 10 || !parse_fixed_int(s, 0, 4, y) || s[4] != '-' ||
      !parse_fixed_int(s, 5, 2, m) || s[7] != '-' || !parse_fixed_int(s, 8, 2, d)) {
    return std::nullopt;
  }
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return ymd;
}

const date::time_zone* london_zone() {
  static const date::time_zone* zone = [] {
    try {
      return date::locate_zone("Europe/London");
    } catch (const std::exception&) {
      return static_cast<const date::time_zone*>(nullptr);
    }
  }();
  return zone;
}

std::optional<time_point> parse_instant(std::string_view s) {
  auto ymd = parse_date(s);
  if (!ymd) {
    return std::nullopt;
  }
  if (s.size() == 10) {
    // A bare date means the start of that day in Europe/London (docs/agreements.md §3.2).
    const date::time_zone* zone = london_zone();
    if (zone == nullptr) {
      return std::nullopt;
    }
    try {
      auto sys = zone->to_sys(date::local_days{*ymd}, date::choose::earliest);
      return time_point{duration_cast<microseconds>(sys.time_since_epoch())};
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  int hh = 0, mm = 0, ss = 0;
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't') || !parse_fixed_int(s, 11, 2, hh) ||
      s[13] != ':' || !parse_fixed_int(s, 14, 2, mm) || s[16] != ':' ||
      !parse_fixed_int(s, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (s[pos] - '0');
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) {
      return std::nullopt;
    }
    for (std::size_t i = digits; i < 6; ++i) {
      micros *= 10;
    }
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!parse_fixed_int(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !parse_fixed_int(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  auto t = date::sys_days{*ymd} + hours{hh} + minutes{mm} + seconds{std::min(ss, 59)} -
           minutes{offset_minutes};
  return time_point{duration_cast<microseconds>(t.time_since_epoch()) + microseconds{micros}};
}

std::optional<microseconds> parse_duration(std::string_view s) {
  if (s.size() < 3 || s[0] != 'P') {
    return std::nullopt;
  }
  std::int64_t total_seconds = 0;
  bool in_time = false;
  bool any = false;
  std::size_t i = 1;
  char last_unit = 0;
  static constexpr std::string_view date_units = "WD";
  static constexpr std::string_view time_units = "HMS";
  while (i < s.size()) {
    if (s[i] == 'T') {
      if (in_time) {
        return std::nullopt;
      }
      in_time = true;
      last_unit = 0;
      ++i;
      continue;
    }
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data() + i, s.data() + s.size(), n);
    if (ec != std::errc{} || end == s.data() + i || n < 0 || n > 100000) {
      return std::nullopt;
    }
    i = static_cast<std::size_t>(end - s.data());
    if (i >= s.size()) {
      return std::nullopt;
    }
    char unit = s[i++];
    std::string_view units = in_time ? time_units : date_units;
    auto at = units.find(unit);
    // Units must appear once each and in order (P1W2D, PT1H30M).
    if (at == std::string_view::npos || (last_unit != 0 && at <= units.find(last_unit))) {
      return std::nullopt;
    }
    last_unit = unit;
    std::int64_t factor = 0;
    switch (unit) {
      case 'W':
        factor = 7 * 86400;
        break;
      case 'D':
        factor = 86400;
        break;
      case 'H':
        factor = 3600;
        break;
      case 'M':
        factor = 60;
        break;
      case 'S':
        factor = 1;
        break;
      default:
        return std::nullopt;
    }
    total_seconds += n * factor;
    any = true;
  }
  if (!any || total_seconds <= 0) {
    return std::nullopt;
  }
  return microseconds{total_seconds * 1000000};
}

std::string format_instant(time_point t) {
  auto secs = floor<seconds>(t);
  auto micros = (t - secs).count();
  std::string out = date::format("%Y-%m-%dT%H:%M:%S", secs);
  if (micros != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(micros));
    out += buf;
  }
  out += 'Z';
  return out;
}

bool parse_hhmm(std::string_view s, int& minute) {
  int h = 0, m = 0;
  if (s.size() != 5 || !parse_fixed_int(s, 0, 2, h) || s[2] != ':' ||
      !parse_fixed_int(s, 3, 2, m) || m > 59 || h > 24 || (h == 24 && m != 0)) {
    return false;
  }
  minute = h * 60 + m;
  return true;
}

}  // namespace dsa::policy
