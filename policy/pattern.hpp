#pragma once

// The one regular-expression dialect of agreement files (docs/agreements.md, "Regular
// expressions"): the part of ECMAScript (ECMA-262, no flags) that Boost.Regex reads with the same
// meaning, matched against the whole value, byte by byte, with ASCII-only classes.
//
// Why a checked subset rather than "whatever Boost accepts": Boost's ECMAScript mode is its Perl
// mode, which also accepts inline modifiers such as (?s) and (?i), POSIX classes such as
// [[:alpha:]], possessive quantifiers and \A \z \Q…\E escapes. An IG officer who tests a pattern
// in a browser or an editor (JSON Schema "regex" is ECMAScript) would then read a different rule
// from the one the gateway enforces. Every construct whose meaning differs between the two, or
// that only one of them knows, is refused at load with the construct named.

#include <optional>
#include <string>
#include <string_view>

#include "policy/model.hpp"
#include "policy/result.hpp"

namespace dsa::policy {

// Empty when `text` is in the dialect; otherwise why not, in words (e.g. "'(?s)' is a Perl inline
// modifier …"), naming the construct; its 0-based byte offset goes to `*offset` when given.
// Syntax errors the dialect check does not cover (an unbalanced ')') are reported by
// compile_pattern.
[[nodiscard]] std::string check_pattern_dialect(std::string_view text,
                                                std::size_t* offset = nullptr);

// Checks the dialect and compiles `text` so that: '.' never matches a line terminator (LF, CR,
// FF); '^' and '$' match only at the ends of the value; \d \w \s and their negations are ASCII
// classes whatever the process locale. Throws nothing; the error says what is wrong in plain words
// and the 0-based byte offset of the fault goes to `*fault_offset` when given.
[[nodiscard]] result<pattern> compile_pattern(std::string_view text,
                                              std::size_t* fault_offset = nullptr);

}  // namespace dsa::policy
