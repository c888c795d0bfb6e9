#include "audit/checkpoint.hpp"

#include <charconv>

namespace dsa::audit {

bool valid_origin(std::string_view origin) {
  if (origin.empty()) {
    return false;
  }
  for (char c : origin) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

std::string checkpoint_note(const checkpoint& c) {
  std::string note = c.origin;
  note.push_back('\n');
  note += std::to_string(c.size);
  note.push_back('\n');
  note += to_base64(c.root);
  note.push_back('\n');
  return note;
}

std::optional<checkpoint> parse_checkpoint_note(std::string_view note) {
  std::string_view lines[3];
  std::size_t pos = 0;
  for (auto& line : lines) {
    std::size_t nl = note.find('\n', pos);
    if (nl == std::string_view::npos) {
      return std::nullopt;
    }
    line = note.substr(pos, nl - pos);
    pos = nl + 1;
  }
  if (pos != note.size() || !valid_origin(lines[0])) {
    return std::nullopt;
  }
  checkpoint c;
  c.origin = std::string(lines[0]);
  const char* b = lines[1].data();
  const char* e = b + lines[1].size();
  auto [p, ec] = std::from_chars(b, e, c.size);
  if (ec != std::errc() || p != e || b == e || (lines[1].size() > 1 && *b == '0')) {
    return std::nullopt;
  }
  auto root = hash_from_base64(lines[2]);
  if (!root) {
    return std::nullopt;
  }
  c.root = *root;
  return c;
}

}  // namespace dsa::audit
