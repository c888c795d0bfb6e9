#pragma once

// Text the policy library emits — decision details, trace steps, error messages — ends up in
// JSON (problem bodies, `dsa explain`, audit entries) and in logs, so it must be valid UTF-8 and
// free of control bytes even when it quotes what a client sent. escape_text is the one place
// that makes request-derived text safe to quote (docs/agreements.md, "Text in refusals").

#include <cstddef>
#include <string>
#include <string_view>

namespace dsa::policy {

// `s` with every byte that is not part of a well-formed UTF-8 sequence, every C0 control byte
// and DEL written as \xNN (upper-case hex), and '\' written as \\ so that an escape in the output
// cannot be confused with the same characters sent literally. Well-formed UTF-8 (shortest form,
// no surrogates, at most U+10FFFF) is kept as is. The result is always valid UTF-8.
[[nodiscard]] std::string escape_text(std::string_view s);

// The offset of the first byte of `s` that does not begin a well-formed UTF-8 sequence, or
// std::string_view::npos when all of `s` is valid UTF-8.
[[nodiscard]] std::size_t first_invalid_utf8(std::string_view s) noexcept;

}  // namespace dsa::policy
