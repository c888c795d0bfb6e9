#pragma once

// The times written in agreement files (docs/design.md §3, docs/agreements.md §3.2 and §3.7):
// RFC 3339 instants, bare dates meaning 00:00 in Europe/London, ISO 8601 durations for volume
// caps and HH:MM local times for time windows. Every parser here is total: it returns nullopt
// (or false) on anything it does not accept and never throws. The UK time zone is looked up
// once, here, for the loader, the engine and the rendered document alike.

#include <date/date.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "policy/model.hpp"

namespace date {
class time_zone;
}

namespace dsa::policy {

// Europe/London from the tz database, looked up once; null when the database lacks it (then a
// bare date cannot be read and UK-time checks are skipped, as each caller documents).
const date::time_zone* london_zone();

// A calendar date "YYYY-MM-DD" at the start of `text` (the caller checks what follows).
std::optional<date::year_month_day> parse_date(std::string_view text);

// Parses an RFC 3339 instant, or a bare date meaning 00:00 Europe/London.
std::optional<time_point> parse_instant(std::string_view text);

// Parses an ISO 8601 duration limited to weeks, days, hours, minutes and seconds (PT1H, P1D, P2W).
std::optional<std::chrono::microseconds> parse_duration(std::string_view text);

// A local time of day "HH:MM" (00:00 to 24:00) as minutes since midnight.
bool parse_hhmm(std::string_view text, int& minute);

// Formats an instant as RFC 3339 UTC with a 'Z' ("2026-11-22T10:30:00Z", microseconds if any).
std::string format_instant(time_point t);

}  // namespace dsa::policy
