#include "lmlab/experiment_loader.hpp"

#include "lmlab/config.hpp"

namespace lmlab {

std::vector<Experiment> load_runs(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  PluginLoader& loader, const Registry& registry) {
  const toml::table base = load_experiment_file(file);
  std::vector<Experiment> runs;
  for (const SweepPoint& point : expand_sweep(base)) {
    toml::table config = base;
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
