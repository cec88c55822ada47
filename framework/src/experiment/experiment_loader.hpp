/// From an experiment file to runnable experiments: read it (bases, overrides), load the plugins
/// it needs, expand its sweep, and validate every run before any starts.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "experiment/experiment.hpp"
#include "experiment/sweep.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

/// Every run the file defines: one without [sweep], else one per sweep point (arms x grid x zip x
/// seeds) that no `exclude` entry removes; those go to `excluded` when given. Overrides apply
/// after the sweep point's, so the command line has the last word. Plugins come from the
/// standard search path plus the file's experiment.plugin_paths. Each run's identity (run_id,
/// and the hash in its name) covers its resolved config and the content of every plugin
/// library it uses. `world_size` processes train each run together (resolve_experiment).
std::vector<Experiment> load_runs(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  PluginLoader& loader, const Registry& registry,
                                  std::vector<SweepPoint>* excluded = nullptr, std::int64_t world_size = 1);

}  // namespace lmlab
