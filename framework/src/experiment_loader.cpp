#include "lmlab/experiment_loader.hpp"

#include "lmlab/config.hpp"

namespace lmlab {

std::vector<Experiment> load_runs(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  PluginLoader& loader, const Registry& registry) {
  std::vector<Experiment> runs;
  for (const SweepPoint& point : expand_sweep(load_experiment_file(file))) {
    // Parsed afresh for each point: toml++ drops a node's file position when it is copied, and
    // errors must point into the file.
    toml::table config = load_experiment_file(file);
    apply_overrides(config, point.overrides);
    apply_overrides(config, overrides);
    loader.load_standard(plugin_paths_of(config), file.parent_path());
    Experiment run = resolve_experiment(config, registry, file.string());
    if (!point.label.empty()) {
      std::string label = point.label;
      if (label.find("seed=") == std::string::npos) label += ",seed=" + std::to_string(run.experiment.seed);
      run.run_name = label + "-" + run.config_hash.substr(0, 8);
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace lmlab
