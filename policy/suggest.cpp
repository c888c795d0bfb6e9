// Nearest known word for a typo; see suggest.hpp.

#include "policy/suggest.hpp"

#include <algorithm>

namespace dsa::policy {

namespace {

// Optimal string alignment distance (Levenshtein plus adjacent swaps): "upstrem" → "upstream" is
// 1, "purpsoes" → "purposes" is 1.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  for (std::size_t j = 0; j <= b.size(); ++j) {
    d[0][j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  if (word.empty() || std::find(candidates.begin(), candidates.end(), word) != candidates.end()) {
    return std::nullopt;
  }
  // One edit in a word of three letters or fewer is already a different word half the time.
  const std::size_t limit = word.size() <= 3 ? 1 : std::max<std::size_t>(2, word.size() / 3);
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    std::size_t dist = edit_distance(word, c);
    // A shortened or extended id ("asb-case" for "asb-case-management") is a likely slip too,
    // ranked after every true typo.
    if (dist > limit && word.size() >= 3 && (starts_with(c, word) || starts_with(word, c))) {
      dist = limit;
    }
    if (dist < best_distance) {
      best_distance = dist;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean_suffix(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best = did_you_mean(word, candidates);
  return best ? "; did you mean '" + *best + "'?" : std::string();
}

}  // namespace dsa::policy
