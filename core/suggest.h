// core/suggest.h — "did you mean" for a misspelt name (an unknown field, a
// rule name), as the manifest validator and the policy parser say it.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace bosun {

// Levenshtein distance, letters compared case-insensitively.
size_t EditDistance(std::string_view a, std::string_view b);

// " (did you mean \"x\"?)" naming the closest of `known` when it is fewer
// than `max_distance` edits away from `got`, else "".
std::string DidYouMean(std::string_view got, std::span<const std::string_view> known, size_t max_distance);
inline std::string DidYouMean(std::string_view got, std::initializer_list<std::string_view> known,
                              size_t max_distance) {
  return DidYouMean(got, std::span<const std::string_view>(known.begin(), known.size()), max_distance);
}

}  // namespace bosun
