// Helpers shared by the `dsa audit …` command groups (audit_cli.hpp).
#include "tools/dsa/audit_cli.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "audit/verify.hpp"

namespace dsa::cli {

using namespace std::chrono;

std::optional<std::int64_t> parse_time(std::string_view s) {
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) {
      return false;
    }
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, out);
    return ec == std::errc() && p == s.data() + pos + len;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!num(0, 4, y) || s.size() < 10 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d)) {
    return std::nullopt;
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  std::int64_t us = duration_cast<microseconds>(sys_days{ymd}.time_since_epoch()).count();
  if (s.size() == 10) {
    return us;
  }
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, h) ||
      s[13] != ':' || !num(14, 2, mi) || s[16] != ':' || !num(17, 2, sec) || h > 23 || mi > 59 ||
      sec > 60) {
    return std::nullopt;
  }
  us += ((h * 60 + mi) * 60 + sec) * 1'000'000LL;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    std::int64_t frac = 0, scale = 1'000'000;
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 1) {
        scale /= 10;
        frac += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
    us += frac;
  }
  std::string_view zone = s.substr(pos);
  if (zone == "Z" || zone == "z") {
    return us;
  }
  int oh = 0, om = 0;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':' ||
      !num(pos + 1, 2, oh) || !num(pos + 4, 2, om) || oh > 23 || om > 59) {
    return std::nullopt;
  }
  const std::int64_t offset = (oh * 60 + om) * 60'000'000LL;
  return zone[0] == '+' ? us - offset : us + offset;
}

std::string format_time(std::int64_t us) {
  const sys_time<microseconds> t{microseconds{us}};
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss<microseconds> tod{t - day_point};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(tod.hours().count()),
                static_cast<long long>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count() / 1000));
  return buf;
}

std::string csv_field(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(v);
  }
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') {
      out += "\"\"";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

result<std::string> read_file(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), {});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("cannot read " + path);
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

result<void> write_file(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    return {};
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !(out << text) || !out.flush()) {
    return fail("cannot write " + path);
  }
  return {};
}

std::unique_ptr<audit::reader> open_verified(const char* command, const std::string& db,
                                             const std::string& key_path, int& status) {
  audit::verify_options options;
  if (!key_path.empty()) {
    auto pem = read_file(key_path);
    if (!pem) {
      std::cerr << "dsa audit " << command << ": " << pem.error() << "\n";
      status = 2;
      return nullptr;
    }
    options.public_key_pem = *pem;
  }
  auto opened = audit::reader::open(db);
  if (!opened) {
    std::cerr << "dsa audit " << command << ": " << opened.error() << "\n";
    status = 2;
    return nullptr;
  }
  std::unique_ptr<audit::reader> r = std::move(opened).value();
  auto verified = audit::verify_reader(*r, options);
  if (!verified) {
    std::cerr << "dsa audit " << command << ": " << verified.error() << "\n";
    status = 2;
    return nullptr;
  }
  const audit::verify_result& result = *verified;
  if (!result.intact()) {
    const audit::problem& p = result.problems.front();
    std::cerr << "dsa audit " << command << ": refusing to report from " << db
              << ", which fails verification: "
              << (p.seq ? "first bad seq " + std::to_string(*p.seq) + ": " : std::string())
              << audit::to_string(p.kind) << " — " << p.detail << "; run `dsa audit verify --db "
              << db << "` for every problem\n";
    status = 1;
    return nullptr;
  }
  if (result.entries > result.covered) {
    std::cerr << "dsa audit " << command << ": note: the last " << result.entries - result.covered
              << " entries are not yet covered by a signed checkpoint\n";
  }
  status = 0;
  return r;
}

std::unique_ptr<audit::public_key> load_key(const char* command, const std::string& key_path,
                                            const audit::reader* r, int& status) {
  std::string pem;
  if (!key_path.empty()) {
    auto text = read_file(key_path);
    if (!text) {
      std::cerr << "dsa audit " << command << ": " << text.error() << "\n";
      status = 2;
      return nullptr;
    }
    pem = *text;
  } else if (r != nullptr) {
    pem = r->meta("public_key").value_or("");
  }
  auto key = audit::public_key::from_pem(pem);
  if (!key) {
    std::cerr << "dsa audit " << command << ": "
              << (key_path.empty() ? std::string("the key recorded in the store") : key_path)
              << ": " << key.error() << "\n";
    status = 2;
    return nullptr;
  }
  return std::move(key).value();
}

}  // namespace dsa::cli
