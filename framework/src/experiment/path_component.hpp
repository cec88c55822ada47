/// User strings that become one component of a path (experiment.name is the results folder's
/// subfolder): checked so that they can neither climb out of the folder nor name it itself.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace lmlab {

inline constexpr std::size_t max_path_component_bytes = 100;

/// Why `text` is not one safe path component, or nothing when it is: it must be 1 to
/// max_path_component_bytes bytes, not "." , and hold no '/', '\\', ".." or control character.
std::optional<std::string> path_component_problem(std::string_view text);

/// What path_component_problem accepts, for the "accepted:" part of messages.
std::string path_component_rule();

}  // namespace lmlab
