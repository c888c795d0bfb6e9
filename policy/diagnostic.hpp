#pragma once

// What loading agreements reports: one diagnostic per problem, naming file:line:column, what was
// found and what was expected (docs/design.md §8 for the printed form).

#include <cstdint>
#include <string>

namespace dsa::policy {

enum class severity : std::uint8_t { error, warning };

struct diagnostic {
  std::string file;
  int line = 0, column = 0;  // 1-based; 0 when the problem concerns the whole file
  severity level = severity::error;
  std::string message;
  std::string code;  // stable short code, e.g. "unknown-key", "bad-regex", "dangling-reference"

  // "file:line:col: error: message [code]" (docs/design.md §8). Defined in yaml_reader.cpp,
  // beside the reader that makes diagnostics.
  std::string format() const;
};

}  // namespace dsa::policy
