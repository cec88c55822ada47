/// Reading experiment files: `base =` inheritance, `--set` overrides, and the config hash.
/// Validation is experiment_schema.hpp, [sweep] expansion sweep.hpp.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace lmlab {

/// Parses `file`, following `base = "other.toml"` (relative to the file) recursively: tables
/// merge, the including file's values win. Syntax errors become ConfigError with file:line:col.
toml::table load_experiment_file(const std::filesystem::path& file);

/// Applies `section.key=value` overrides in order. The value is read as a TOML value; a bare
/// word that is not one is taken as a string. Nodes created here report "--set" as their source.
void apply_overrides(toml::table& config, const std::vector<std::string>& overrides);

/// `experiment.plugin_paths` read early, since plugins must be loaded before validation.
std::vector<std::string> plugin_paths_of(const toml::table& config);

/// 16 hex digits of a stable 64-bit hash (FNV-1a) of `text`.
std::string hash_text(std::string_view text);

}  // namespace lmlab
