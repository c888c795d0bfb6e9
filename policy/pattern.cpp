#include "policy/pattern.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <locale>
#include <mutex>
#include <string>
#include <unordered_map>

#include "policy/text.hpp"

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

// Records where the fault is (the caller reports it as a column, docs/agreements.md "Regular
// expressions"); the message itself says what is wrong in words.
std::string at(std::size_t i, std::size_t& where) {
  where = i;
  return {};
}

// The escape starting at text[i] == '\\', inside a class when `in_class`. Sets `len` to the
// number of bytes it spans.
std::string check_escape(std::string_view text, std::size_t i, bool in_class, std::size_t& len,
                         std::size_t& where) {
  if (i + 1 >= text.size()) {
    return "a trailing '\\' escapes nothing" + at(i, where);
  }
  const char c = text[i + 1];
  len = 2;
  const std::string shown = "'\\" + std::string(1, c) + "'";
  const auto uc = static_cast<unsigned char>(c);
  if (uc >= 0x80 || uc < 0x20 || uc == 0x7F) {
    return "'\\' followed by a non-printable or non-ASCII byte" + at(i, where);
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
        return shown + " inside [...] means backspace in ECMAScript and is not accepted" +
               at(i, where);
      }
      return {};
    case '0':
      if (i + 2 < text.size() && is_digit(text[i + 2])) {
        return "'\\0' followed by a digit (an octal escape) is not accepted; write \\xHH" +
               at(i, where);
      }
      return {};
    case 'x':
      if (i + 3 < text.size() && is_hex(text[i + 2]) && is_hex(text[i + 3])) {
        len = 4;
        return {};
      }
      return "'\\x' must be followed by exactly two hex digits (\\xHH)" + at(i, where);
    case 'v':
      return shown + " means a vertical tab in ECMAScript but a class in Perl; write \\x0B" +
             at(i, where);
    case 'u':
      return shown +
             " (a Unicode escape) is not accepted: patterns match bytes; write the "
             "character itself" +
             at(i, where);
    default:
      break;
  }
  if (is_digit(c)) {
    return shown + " (a backreference) is not accepted" + at(i, where);
  }
  return shown +
         " is not an ECMAScript escape the gateway accepts (accepted: \\d \\D \\w \\W "
         "\\s \\S \\b \\B \\t \\n \\r \\f \\xHH \\0 and \\ before punctuation)" +
         at(i, where);
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

std::string check_pattern_dialect(std::string_view text, std::size_t* offset) {
  std::size_t ignored = 0;
  std::size_t& where = offset != nullptr ? *offset : ignored;
  bool after_quantifier = false;  // the previous token was a quantifier (for possessive '+')
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto uc = static_cast<unsigned char>(c);
    if (uc < 0x20 || uc == 0x7F) {
      return "control byte " + escape_text(std::string_view(&c, 1)) + at(i, where) +
             " (write \\t, \\n, \\r, \\f or \\xHH)";
    }
    if (c == '\\') {
      std::size_t len = 0;
      if (std::string e = check_escape(text, i, false, len, where); !e.empty()) {
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
               at(i, where);
      }
      ++i;
      after_quantifier = false;
      continue;
    }
    if (c == '*' || c == '+' || c == '?') {
      if (after_quantifier && c == '+') {
        return "a possessive quantifier ('+' after a quantifier) is a Perl extension" +
               at(i, where);
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
               at(i, where);
      }
      i += len;
      if (i < text.size() && text[i] == '+') {
        return "a possessive quantifier ('+' after a quantifier) is a Perl extension" +
               at(i, where);
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
               at(i, where);
      }
      bool closed = false;
      while (j < text.size()) {
        const char d = text[j];
        const auto ud = static_cast<unsigned char>(d);
        if (ud < 0x20 || ud == 0x7F) {
          return "control byte " + escape_text(std::string_view(&d, 1)) + at(j, where) +
                 " (write \\t, \\n, \\r, \\f or \\xHH)";
        }
        if (d == '\\') {
          std::size_t len = 0;
          if (std::string e = check_escape(text, j, true, len, where); !e.empty()) {
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
                 at(j, where);
        }
        if (d == ']') {
          closed = true;
          ++j;
          break;
        }
        ++j;
      }
      if (!closed) {
        return "'[' without a closing ']'" + at(i, where);
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

namespace {

// Boost's own messages quote the pattern around ">>>HERE>>>" and name its internals; an IG
// officer reads these instead, with the column of the fault in the diagnostic.
std::string plain_words(const boost::regex_error& e) {
  switch (e.code()) {
    case boost::regex_constants::error_paren:
      return "a '(' has no matching ')', or a ')' has no matching '('";
    case boost::regex_constants::error_brack:
      return "a '[' is never closed with ']'";
    case boost::regex_constants::error_brace:
    case boost::regex_constants::error_badbrace:
      return "a repeat count '{n}', '{n,}' or '{n,m}' is malformed (or m is less than n)";
    case boost::regex_constants::error_range:
      return "a range inside [...] runs backwards (write the lower character first, as in a-z)";
    case boost::regex_constants::error_badrepeat:
      return "'*', '+', '?' or '{n}' has nothing before it to repeat";
    case boost::regex_constants::error_escape:
      return "a '\\' escape is incomplete";
    case boost::regex_constants::error_empty:
      return "an alternative or group is empty";
    case boost::regex_constants::error_complexity:
    case boost::regex_constants::error_stack:
      return "the pattern is too complex to run safely";
    default: {
      std::string what = e.what();
      return what.substr(0, what.find("  "));  // Boost's first sentence, without the fragment
    }
  }
}

// Patterns compiled so far, by text. A boost::regex is a handle on a shared, immutable compiled
// form, so every pattern with the same text shares one (matching through a const regex is
// thread-safe): a set of agreements repeats the same few case-reference and identifier patterns,
// and with 1,000 agreements each compiled copy cost resident memory (docs/performance.md §7).
// Bounded: past compiled_cache_limit texts the map is emptied; patterns in use keep their
// compiled form through their own handles.
constexpr std::size_t compiled_cache_limit = 4096;
std::mutex compiled_mu;
std::unordered_map<std::string, boost::regex> compiled_cache;

}  // namespace

result<pattern> compile_pattern(std::string_view text, std::size_t* fault_offset) {
  if (std::string e = check_pattern_dialect(text, fault_offset); !e.empty()) {
    return result<pattern>::failure(std::move(e));
  }
  try {
    pattern p;
    p.text = std::string(text);
    {
      std::lock_guard lock(compiled_mu);
      if (auto it = compiled_cache.find(p.text); it != compiled_cache.end()) {
        p.re = it->second;
        return p;
      }
    }
    // The classic locale makes \d \w \s (and [[:...:]], which the dialect refuses anyway) ASCII
    // classes even if the process changes the global locale.
    p.re.imbue(std::locale::classic());
    // no_mod_s: '.' does not match LF, CR or FF whatever the match flags; no_mod_m: '^' and '$'
    // match only at the ends of the value (ECMAScript without the m flag).
    p.re.assign(p.text, boost::regex::ECMAScript | boost::regex::no_mod_s | boost::regex::no_mod_m);
    std::lock_guard lock(compiled_mu);
    if (compiled_cache.size() >= compiled_cache_limit) {
      compiled_cache.clear();
    }
    compiled_cache.emplace(p.text, p.re);
    return p;
  } catch (const boost::regex_error& e) {
    if (fault_offset != nullptr) {
      *fault_offset =
          std::min<std::size_t>(static_cast<std::size_t>(std::max<std::ptrdiff_t>(e.position(), 0)),
                                text.empty() ? 0 : text.size() - 1);
    }
    return result<pattern>::failure(plain_words(e));
  } catch (const std::exception& e) {
    return result<pattern>::failure(e.what());
  }
}

}  // namespace dsa::policy
