/// From an experiment file to runnable experiments: read it (bases, overrides), load the plugins
/// it needs, expand its sweep, and validate every run before any starts.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "lmlab/experiment.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

namespace lmlab {

/// Every run the file defines: one without [sweep], else one per sweep point (grid x seeds).
/// Overrides apply after the sweep point's, so the command line has the last word. Plugins
/// come from the standard search path plus the file's experiment.plugin_paths.
std::vector<Experiment> load_runs(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  PluginLoader& loader, const Registry& registry);

}  // namespace lmlab
