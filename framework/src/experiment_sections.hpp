// What experiment_schema.cpp shares with sweep_axes.cpp, sweep.cpp and expectations.cpp: the
// fixed sections' declared options, the check that every sweep axis names an option, and how a
// sweep value is labelled. Internal to the framework library.
#pragma once
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "lmlab/experiment.hpp"
#include "lmlab/options.hpp"
#include "lmlab/registry.hpp"

namespace lmlab::detail {

const OptionSet<ExperimentSection>& experiment_options();
const OptionSet<DataSection>& data_options();
const OptionSet<TrainSection>& train_options();
const OptionSet<EvalSection>& eval_options();

/// The table [name] of `config`, or null when absent; not a table is a ConfigError.
const toml::table* section(const toml::table& config, std::string_view name);

/// Every grid and zip axis and every arm's `set` key names an option of this experiment;
/// otherwise a ConfigError at its line in [sweep], with the closest option. Runs before
/// resolution, since each sweep point's config already holds the axis's value.
void check_sweep_axes(const toml::table& config, const Registry& registry);

/// A sweep value as run names and run files record it: strings bare, arrays joined with '+'
/// ("top_p+sample"), numbers as TOML writes them. [[expect]] selectors match runs through it.
std::string axis_value_label(const toml::node& value);

}  // namespace lmlab::detail
