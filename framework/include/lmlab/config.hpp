/// Reading experiment files: `base =` inheritance, `--set` overrides, validation of every
/// section and plugin before any work starts, and [sweep] expansion.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "lmlab/experiment.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

/// Parses `file`, following `base = "other.toml"` (relative to the file) recursively: tables
/// merge, the including file's values win. Syntax errors become ConfigError with file:line:col.
toml::table load_experiment_file(const std::filesystem::path& file);

/// Applies `section.key=value` overrides in order. The value is read as a TOML value; a bare
/// word that is not one is taken as a string. Nodes created here report "--set" as their source.
void apply_overrides(toml::table& config, const std::vector<std::string>& overrides);

/// `experiment.plugin_paths` read early, since plugins must be loaded before validation.
std::vector<std::string> plugin_paths_of(const toml::table& config);

/// Validates every section and plugin table and resolves defaults. Unknown keys, wrong types and
/// out-of-range values throw ConfigError naming file:line:col, the key path and what is accepted.
/// The [sweep] table is checked for shape here and ignored otherwise.
Experiment resolve_experiment(const toml::table& config, const Registry& registry, const std::string& source);

/// 16 hex digits of a stable 64-bit hash (FNV-1a) of `text`.
std::string hash_text(std::string_view text);

/// One run of a sweep: the overrides it applies on top of the file, and its label.
struct SweepPoint {
  std::vector<std::string> overrides;  // "model.n_layers=4", "experiment.seed=2", ...
  std::string label;                   // "n_layers=4,lr=0.0003,seed=2", already file_safe_label'd
  std::vector<std::pair<std::string, std::string>> axes;  // ("arm", "ul"), ("model.n_layers", "4"), ...: each axis and its value's label
  std::string excluded;  // the `exclude` entry that leaves this point out ("sweep.exclude[0] = { ... }"), or empty
};

/// The longest label file_safe_label returns, in bytes.
inline constexpr std::size_t max_label_bytes = 120;

/// `label` made safe as (the start of) one file name, since a run file is
/// results/<experiment>/<label>-<hash>.h5: its first max_label_bytes bytes, with every byte that
/// is not an ASCII letter, digit or one of `= , . - _ +` (so `/`, `\`, NUL, control characters,
/// spaces, non-ASCII) replaced by '_', and a leading '.' too, so that it cannot make folders or
/// hidden files. Truncated labels may coincide; the hash suffix keeps the file names apart.
std::string file_safe_label(std::string_view label);

/// The runs of [sweep]: the named arms ([[sweep.arm]] name, set = {option = value}), times the
/// Cartesian product of `grid` (axes in key order, as toml++ sorts a table's keys), times the
/// `zip` axes (which vary together: their i-th values make one level), times `seeds` (varying
/// fastest). Labels use `arm=<name>` and the last part of each key ("arm=ul,n_layers=4,seed=2"),
/// through file_safe_label. Points that an `exclude` entry matches are returned marked (so a dry
/// run can list them); an entry naming an unknown axis or value, or matching no point, is a
/// ConfigError. A file without [sweep] gives one point with no overrides and an empty label.
std::vector<SweepPoint> expand_sweep(const toml::table& config);

}  // namespace lmlab
