#pragma once

// "Did you mean …?" for the loader's messages (docs/agreements.md, "Reading the messages"): the
// known word closest to one that was not recognised — an unknown key, a reference to an id the
// agreement does not declare — so that a typo is named with its fix.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsa::policy {

// The candidate nearest to `word` by edit distance (insertions, deletions, substitutions and
// swaps of two neighbours each count 1), when it is near enough to be a typo: 1 edit for words
// of up to three letters, else 2 edits or a third of the word's length for longer words, or a
// candidate that starts with `word` or that `word` starts with (a shortened or extended id). Ties
// go to the earlier candidate. nullopt when nothing is that close or `word` is itself a candidate.
[[nodiscard]] std::optional<std::string> did_you_mean(std::string_view word,
                                                      const std::vector<std::string>& candidates);

// "; did you mean 'x'?" or an empty string: the suffix the messages append.
[[nodiscard]] std::string did_you_mean_suffix(std::string_view word,
                                              const std::vector<std::string>& candidates);

}  // namespace dsa::policy
