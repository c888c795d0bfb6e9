#include "pattern.hpp"

#include <cctype>
#include <exception>
#include <locale>

#include "text.hpp"

// The dialect, construct by construct (docs/agreements.md explains it to IG officers):
//
//   accepted                          refused (named in the error)
//   literals, '.', '|', '(' ')'       (?i) (?s) (?m) (?x) and other inline modifiers,
//   (?: (?= (?! (?<= (?<!             (?> (?# (?< name> (?P (?| (?( (?R) and friends
//   * + ? {n} {n,} {n,m}, lazy '?'    possessive *+ ++ ?+ {n}+, a '{' that is not a quantifier
//   ^ $ (ends of the value only)      backreferences \1…\9, \k
//   \d \D \w \W \s \S \b \B           \A \z \Z \G \Q \E \K \R \X \h \H \N \p \P \e \c \u \l \U \L
//   \t \n \r \f \xHH \0               \v (vertical tab in ECMAScript, a class in Perl), \x{…}
//   \ before any ASCII punctuation    \ before other letters or digits
//   [ … ] [^ … ] with ranges          [] and [^] (empty/any in ECMAScript, literal ']' in Perl),
//                                     [[:alpha:]] [[.x.]] [[=x=]] (POSIX, Perl only), \b in a class

namespace dsa::policy {
namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string at(std::size_t i) { return " at offset " + std::to_string(i); }

// The escape starting at text[i] == '\\', inside a class when `in_class`. Sets `len` to the
// number of bytes it spans.
std::string check_escape(std::string_view text, std::size_t i, bool in_class, std::size_t& len) {
  if (i + 1 >= text.size()) {
    return "a trailing '\\' escapes nothing" + at(i);
  }
  const char c = text[i + 1];
  len = 2;
  const std::string shown = "'\\" + std::string(1, c) + "'";
  const auto uc = static_cast<unsigned char>(c);
  if (uc >= 0x80 || uc < 0x20 || uc == 0x7F) {
    return "'\\' followed by a non-printable or non-ASCII byte" + at(i);
  }
  if (std::ispunct(uc) != 0) {
    return {};  // an escaped punctuation character is itself in both dialects
  }
  switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
    case 't':
    case 'n':
    case 'r':
    case 'f':
      return {};
    case 'b':
    case 'B':
      if (in_class) {
        return shown + " inside [...] means backspace in ECMAScript and is not accepted" + at(i);
      }
      return {};
    case '0':
      if (i + 2 < text.size() && is_digit(text[i + 2])) {
        return "'\\0' followed by a digit (an octal escape) is not accepted; write \\xHH" + at(i);
      }
      return {};
    case 'x':
      if (i + 3 < text.size() && is_hex(text[i + 2]) && is_hex(text[i + 3])) {
        len = 4;
        return {};
      }
      return "'\\x' must be followed by exactly two hex digits (\\xHH)" + at(i);
    case 'v':
      return shown + " means a vertical tab in ECMAScript but a class in Perl; write \\x0B" + at(i);
    case 'u':
      return shown +
             " (a Unicode escape) is not accepted: patterns match bytes; write the "
             "character itself" +
             at(i);
    default:
      break;
  }
  if (is_digit(c)) {
    return shown + " (a backreference) is not accepted" + at(i);
  }
  return shown +
         " is not an ECMAScript escape the gateway accepts (accepted: \\d \\D \\w \\W "
         "\\s \\S \\b \\B \\t \\n \\r \\f \\xHH \\0 and \\ before punctuation)" +
         at(i);
}

// A '{' at text[i] that starts a quantifier {n}, {n,} or {n,m}: its length, else 0.
std::size_t quantifier_length(std::string_view text, std::size_t i) {
  std::size_t j = i + 1;
  const std::size_t digits_start = j;
  while (j < text.size() && is_digit(text[j])) {
    ++j;
  }
  if (j == digits_start) {
    return 0;
  }
  if (j < text.size() && text[j] == ',') {
    ++j;
    while (j < text.size() && is_digit(text[j])) {
      ++j;
    }
  }
  if (j < text.size() && text[j] == '}') {
    return j + 1 - i;
  }
  return 0;
}

}  // namespace

std::string check_pattern_dialect(std::string_view text) {
  bool after_quantifier = false;  // the previous token was a quantifier (for possessive '+')
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto uc = static_cast<unsigned char>(c);
    if (uc < 0x20 || uc == 0x7F) {
      return "control byte " + escape_text(std::string_view(&c, 1)) + at(i) +
             " (write \\t, \\n, \\r, \\f or \\xHH)";
    }
    if (c == '\\') {
      std::size_t len = 0;
      if (std::string e = check_escape(text, i, false, len); !e.empty()) {
        return e;
      }
      i += len;
      after_quantifier = false;
      continue;
    }
    if (c == '(') {
      if (i + 1 < text.size() && text[i + 1] == '?') {
        const std::string_view rest = text.substr(i + 2);
        if (rest.substr(0, 1) == ":" || rest.substr(0, 1) == "=" || rest.substr(0, 1) == "!" ||
            rest.substr(0, 2) == "<=" || rest.substr(0, 2) == "<!") {
          i += rest.substr(0, 1) == "<" ? 4 : 3;
          after_quantifier = false;
          continue;
        }
        std::string construct(text.substr(i, std::min<std::size_t>(4, text.size() - i)));
        return "'" + escape_text(construct) +
               "…' is not accepted: only (?: (?= (?! (?<= (?<! groups are; inline modifiers "
               "such as (?i) or (?s), named, atomic, conditional and comment groups are Perl "
               "extensions" +
               at(i);
      }
      ++i;
      after_quantifier = false;
      continue;
    }
    if (c == '*' || c == '+' || c == '?') {
      if (after_quantifier && c == '+') {
        return "a possessive quantifier ('+' after a quantifier) is a Perl extension" + at(i);
      }
      // A '?' right after a quantifier makes it lazy; it is not a quantifier itself.
      after_quantifier = !(after_quantifier && c == '?');
      ++i;
      continue;
    }
    if (c == '{') {
      const std::size_t len = quantifier_length(text, i);
      if (len == 0) {
        return "'{' that does not start a quantifier {n}, {n,} or {n,m}; write '\\{' for a "
               "literal brace" +
               at(i);
      }
      i += len;
      if (i < text.size() && text[i] == '+') {
        return "a possessive quantifier ('+' after a quantifier) is a Perl extension" + at(i);
      }
      after_quantifier = true;
      continue;
    }
    if (c == '[') {
      std::size_t j = i + 1;
      if (j < text.size() && text[j] == '^') {
        ++j;
      }
      if (j < text.size() && text[j] == ']') {
        return "'" + std::string(text.substr(i, j + 1 - i)) +
               "' means an empty (or any-byte) class in ECMAScript but a literal ']' in Perl; "
               "write '\\]' for a literal bracket" +
               at(i);
      }
      bool closed = false;
      while (j < text.size()) {
        const char d = text[j];
        const auto ud = static_cast<unsigned char>(d);
        if (ud < 0x20 || ud == 0x7F) {
          return "control byte " + escape_text(std::string_view(&d, 1)) + at(j) +
                 " (write \\t, \\n, \\r, \\f or \\xHH)";
        }
        if (d == '\\') {
          std::size_t len = 0;
          if (std::string e = check_escape(text, j, true, len); !e.empty()) {
            return e;
          }
          j += len;
          continue;
        }
        if (d == '[' && j + 1 < text.size() &&
            (text[j + 1] == ':' || text[j + 1] == '.' || text[j + 1] == '=')) {
          return "'[" + std::string(1, text[j + 1]) +
                 "' inside [...] starts a POSIX class in Perl but is literal in ECMAScript; "
                 "write '\\[' for a literal bracket" +
                 at(j);
        }
        if (d == ']') {
          closed = true;
          ++j;
          break;
        }
        ++j;
      }
      if (!closed) {
        return "'[' without a closing ']'" + at(i);
      }
      i = j;
      after_quantifier = false;
      continue;
    }
    ++i;
    after_quantifier = false;
  }
  return {};
}

result<pattern> compile_pattern(std::string_view text) {
  if (std::string e = check_pattern_dialect(text); !e.empty()) {
    return result<pattern>::failure(std::move(e));
  }
  try {
    pattern p;
    p.text = std::string(text);
    // The classic locale makes \d \w \s (and [[:...:]], which the dialect refuses anyway) ASCII
    // classes even if the process changes the global locale.
    p.re.imbue(std::locale::classic());
    // no_mod_s: '.' does not match LF, CR or FF whatever the match flags; no_mod_m: '^' and '$'
    // match only at the ends of the value (ECMAScript without the m flag).
    p.re.assign(p.text, boost::regex::ECMAScript | boost::regex::no_mod_s | boost::regex::no_mod_m);
    return p;
  } catch (const std::exception& e) {
    return result<pattern>::failure(e.what());
  }
}

}  // namespace dsa::policy
