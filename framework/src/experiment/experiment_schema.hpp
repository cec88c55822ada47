/// The experiment file's schema: the fixed sections' declared options, and resolve_experiment,
/// which validates every section and plugin table and fills the typed Experiment.
#pragma once
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "experiment/experiment.hpp"
#include "lmlab/options.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

/// Validates every section and plugin table and resolves defaults. Unknown keys, wrong types and
/// out-of-range values throw ConfigError naming file:line:col, the key path and what is accepted.
/// The [sweep] table is checked for shape here and ignored otherwise. `world_size` processes
/// train the run together, each train.batch_size rows per micro-step: the identity (config_hash)
/// is that of one process with their global batch, so the same global batch on 1 or 4
/// processes is the same configuration.
Experiment resolve_experiment(const toml::table& config, const Registry& registry, const std::string& source,
                              std::int64_t world_size = 1);

namespace detail {

const OptionSet<ExperimentSection>& experiment_options();
const OptionSet<DataSection>& data_options();
const OptionSet<TrainSection>& train_options();
const OptionSet<EvalSection>& eval_options();
const OptionSet<DistributedSection>& distributed_options();

/// The table [name] of `config`, or null when absent; not a table is a ConfigError.
const toml::table* section(const toml::table& config, std::string_view name);

}  // namespace detail

}  // namespace lmlab
