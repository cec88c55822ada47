// What experiment_schema.cpp shares with sweep_axes.cpp: the fixed sections' declared options,
// and the check that every sweep axis names an option. Internal to the framework library.
#pragma once
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

}  // namespace lmlab::detail
