// Helpers shared by the `dsa audit …` command groups (audit_cli.hpp).
#include "tools/dsa/audit_cli.hpp"

#include <date/tz.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <tuple>

#include "audit/entry.hpp"
#include "audit/verify.hpp"
#include "policy/reason.hpp"
#include "policy/suggest.hpp"

namespace dsa::cli {

using namespace std::chrono;

std::optional<std::int64_t> parse_time(std::string_view s, const date::time_zone* zone) {
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
    if (zone == nullptr) {
      return us;
    }
    // As policy/time.cpp reads an agreement's bare dates: the earliest instant of that local day.
    try {
      const date::local_days local{date::days{sys_days{ymd}.time_since_epoch().count()}};
      const auto sys = zone->to_sys(local, date::choose::earliest);
      return duration_cast<microseconds>(sys.time_since_epoch()).count();
    } catch (const std::exception&) {
      return std::nullopt;
    }
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
  std::string_view suffix = s.substr(pos);
  if (suffix == "Z" || suffix == "z") {
    return us;
  }
  int oh = 0, om = 0;
  if (suffix.size() != 6 || (suffix[0] != '+' && suffix[0] != '-') || suffix[3] != ':' ||
      !num(pos + 1, 2, oh) || !num(pos + 4, 2, om) || oh > 23 || om > 59) {
    return std::nullopt;
  }
  const std::int64_t offset = (oh * 60 + om) * 60'000'000LL;
  return suffix[0] == '+' ? us - offset : us + offset;
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

namespace {

// "+01:00", "-05:00", "+00:00".
std::string offset_text(seconds offset) {
  const long long total = offset.count();
  const long long a = total < 0 ? -total : total;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", total < 0 ? '-' : '+', a / 3600,
                (a % 3600) / 60);
  return buf;
}

}  // namespace

std::string format_time_in(std::int64_t us, const date::time_zone& zone) {
  const sys_time<microseconds> t{microseconds{us}};
  const date::sys_info info = zone.get_info(t);
  // The local wall-clock time, held in a sys_time only to split it into date and time of day.
  const sys_time<microseconds> local = t + info.offset;
  const auto day_point = floor<days>(local);
  const year_month_day ymd{day_point};
  const hh_mm_ss<microseconds> tod{local - day_point};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lld",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(tod.hours().count()),
                static_cast<long long>(tod.minutes().count()),
                static_cast<long long>(tod.seconds().count()),
                static_cast<long long>(tod.subseconds().count() / 1000));
  return buf + offset_text(info.offset);
}

std::string day_in(std::int64_t us, const date::time_zone& zone) {
  const sys_time<microseconds> t{microseconds{us}};
  const sys_time<microseconds> local =
      t + zone.get_info(t).offset;  // wall clock, as in format_time_in
  const year_month_day ymd{floor<days>(local)};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

const date::time_zone* find_zone(const char* command, const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
  }
  std::vector<std::string> names;
  try {
    for (const date::time_zone& z : date::get_tzdb().zones) {
      names.emplace_back(z.name());
    }
  } catch (const std::exception&) {
  }
  std::cerr << "dsa audit " << command << ": --tz: unknown time zone \"" << name << "\""
            << policy::did_you_mean_suffix(name, names)
            << " (an IANA zone name such as Europe/London, America/New_York or UTC)\n";
  return nullptr;
}

std::string csv_cell(std::string_view v) {
  if (!v.empty() &&
      (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    return csv_field("'" + std::string(v));
  }
  return csv_field(v);
}

void print_table(const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows, std::string_view indent) {
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
  }
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto print = [&](const std::vector<std::string>& row) {
    std::string line(indent);
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(width[i] - row[i].size() + 2, ' ');
      }
    }
    std::cout << line << '\n';
  };
  print(head);
  for (const auto& row : rows) {
    print(row);
  }
}

namespace {

// The spellings a filter on `what` can match, for the error that lists them.
std::vector<std::string> known_values(std::string_view what) {
  std::vector<std::string> out;
  if (what == "decision") {
#define DSA_NAME(name) out.emplace_back(audit::to_string(audit::entry_decision::name));
    DSA_AUDIT_ENTRY_DECISIONS(DSA_NAME)
#undef DSA_NAME
  } else if (what == "kind") {
#define DSA_NAME(name) out.emplace_back(audit::to_string(audit::entry_kind::name));
    DSA_AUDIT_ENTRY_KINDS(DSA_NAME)
#undef DSA_NAME
  } else {
    // Every reason code but `allowed`: an allowed request's entry has no reason (filter on
    // --decision allow instead).
    for (int i = static_cast<int>(policy::reason::allowed) + 1;
         i <= static_cast<int>(policy::reason::upstream_status); ++i) {
      out.emplace_back(policy::to_string(static_cast<policy::reason>(i)));
    }
  }
  return out;
}

}  // namespace

void add_filter_options(CLI::App& cmd, filter_args& a, bool with_values) {
  auto list = [&](const char* name, std::vector<std::string>& out, const std::string& help) {
    cmd.add_option(name, out, help + " (several: comma-separated or the option repeated)")
        ->delimiter(',')
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  if (with_values) {
    list("--agreement", a.agreement, "Agreement id");
    list("--requester", a.requester, "Requesting party id");
    list("--purpose", a.purpose, "Purpose id");
    list("--case-ref", a.case_ref, "Case reference");
    list("--acting-user", a.acting_user, "Acting user");
    list("--decision", a.decision, "allow | deny | withheld | reject | error");
    list("--reason", a.reason, "Reason code, e.g. purpose_not_permitted");
    list("--kind", a.kind, "Entry kind, e.g. request, disclosure_started, startup");
    list("--permission", a.permission, "Permission id");
    list("--request-id", a.request_id, "Request id (the gateway's DSA-Request-Id)");
  }
  cmd.add_option("--since", a.since,
                 "From this RFC 3339 time, or date (YYYY-MM-DD: local midnight in --tz); "
                 "inclusive");
  cmd.add_option("--until", a.until, "Before this RFC 3339 time or date; exclusive");
  cmd.add_option("--tz", a.tz,
                 "IANA time zone for the times shown, for days and for bare dates (default "
                 "Europe/London)");
}

std::optional<audit::query_filter> make_filter(const char* command, const filter_args& a,
                                               const date::time_zone*& zone) {
  zone = find_zone(command, a.tz);
  if (zone == nullptr) {
    return std::nullopt;
  }
  audit::query_filter f;
  f.agreement = a.agreement;
  f.requester = a.requester;
  f.purpose = a.purpose;
  f.case_ref = a.case_ref;
  f.acting_user = a.acting_user;
  f.decision = a.decision;
  f.reason = a.reason;
  f.kind = a.kind;
  f.permission = a.permission;
  f.request_id = a.request_id;
  for (auto [name, text, out] : {std::tuple{"--since", &a.since, &f.since_us},
                                 std::tuple{"--until", &a.until, &f.until_us}}) {
    if (!text->empty()) {
      *out = parse_time(*text, zone);
      if (!*out) {
        std::cerr << "dsa audit " << command << ": " << name << ": \"" << *text
                  << "\" is not an RFC 3339 time (2026-03-29T09:00:00Z, offsets allowed) or a "
                     "date (YYYY-MM-DD)\n";
        return std::nullopt;
      }
    }
  }
  if (f.since_us && f.until_us && *f.until_us <= *f.since_us) {
    std::cerr << "dsa audit " << command << ": --until (" << a.until << ") is not after --since ("
              << a.since << "): the range is empty\n";
    return std::nullopt;
  }
  return f;
}

bool values_exist(const char* command, const filter_args& a, const audit::reader& r) {
  for (auto [what, values] : {std::pair{"decision", &a.decision}, std::pair{"kind", &a.kind},
                              std::pair{"reason", &a.reason}}) {
    const std::vector<std::string> known = known_values(what);
    for (const std::string& v : *values) {
      if (std::find(known.begin(), known.end(), v) != known.end()) {
        continue;
      }
      // A spelling this build does not know may still be in the log, written by a newer gateway
      // (docs/auditing.md, "Decisions taken here"): it is data, so it filters like any other.
      audit::query_filter probe;
      probe.limit = 1;
      (what == std::string_view("decision") ? probe.decision
       : what == std::string_view("kind")   ? probe.kind
                                            : probe.reason) = v;
      bool found = false;
      (void)r.query(probe, [&found](std::string_view) {
        found = true;
        return false;
      });
      if (found) {
        continue;
      }
      std::string list;
      for (const std::string& k : known) {
        list += (list.empty() ? "" : ", ") + k;
      }
      std::cerr << "dsa audit " << command << ": --" << what << ": unknown " << what << " \"" << v
                << "\"" << policy::did_you_mean_suffix(v, known) << "; valid: " << list << "\n";
      return false;
    }
  }
  return true;
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
