#pragma once

// Plain-words helpers of the rendered document: the model's values as an IG officer reads them
// ("Monday to Friday", "00:00 on 1 April 2026 (UK time)", "“ASB-” followed by 4 digits").
// Pure functions of their arguments: no clock, no locale (the output must be deterministic).
// Each function's own comment in words.cpp gives examples.

#include <date/date.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/model.hpp"

namespace dsa::policy::doc {

// White space and folded text.
std::string squash(std::string_view s);    // runs of white space → one space, trimmed
std::string collapse(std::string_view s);  // like squash, keeping one edge space each side
std::string join_words(const std::vector<std::string>& words, std::string_view last_sep);
std::string strip_period(std::string s);
std::string capitalise(std::string s);
std::string humanise(std::string_view key);  // snake_case or kebab-case key → "Snake case"

// Numbers, dates and times.
std::string number(std::uint64_t n);
std::string plural(std::uint64_t n, std::string_view one, std::string_view many);
std::string long_date(date::year_month_day d);  // "1 April 2026"
std::string hhmm(int minute);                   // "08:00"
std::string uk_time(time_point t);              // "00:00 on 1 April 2026 (UK time)"
std::string day_name(int i);                    // 0 Monday … 6 Sunday
std::string days_words(std::uint8_t mask);      // "Monday to Friday"
std::string window_words(const volume_cap& c);  // "day", "7 days"
// A duration in its largest whole unit, with its count: "1 day", "3 days", "72 hours"... ("P3D" →
// "3 days"); `as_written` when it is not positive.
std::string duration_words(std::chrono::microseconds d, std::string_view as_written);

// The model's enumerations and values.
std::string status_words(agreement_status s);
std::string status_effect(agreement_status s);
std::string role_words(party_role r);
std::string role_explained(party_role r);
std::string method_words(std::string_view m);                      // what an HTTP method does
std::optional<std::string> describe_pattern(std::string_view re);  // nullopt: show the pattern
std::string json_value_words(const std::string& j);  // a withhold_if value (compact JSON)
std::string file_name(const agreement& a);           // the file name without its folder
std::string party_name(const agreement& a, std::string_view id);  // the name, else the id

}  // namespace dsa::policy::doc
