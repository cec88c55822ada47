/// "Did you mean" for names: the closest candidate by edit distance, if any is close enough.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

/// Levenshtein distance between two strings.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `name`, when within a third of its length (at least 2 edits).
std::optional<std::string> closest_match(std::string_view name, const std::vector<std::string>& candidates);

/// Up to `count` candidates within closest_match's distance of `name`, closest first.
std::vector<std::string> closest_matches(std::string_view name, const std::vector<std::string>& candidates,
                                         std::size_t count = 3);

/// " (did you mean 'a'?)", " (did you mean 'a' or 'b'?)", or "" when no candidate is close.
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);

/// "a, b, c": for messages that list what is accepted.
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");

}  // namespace lmlab
