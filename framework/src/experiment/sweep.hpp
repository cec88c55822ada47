/// [sweep] expansion: the runs a sweep file defines, their labels, and the file-safe form of a
/// label that run files are named by.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace lmlab {

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

namespace detail {

/// A sweep value as run names and run files record it: strings bare, arrays joined with '+'
/// ("top_p+sample"), numbers as TOML writes them. [[expect]] selectors match runs through it.
std::string axis_value_label(const toml::node& value);

}  // namespace detail

}  // namespace lmlab
