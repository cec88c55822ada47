#include "lmlab/experiment_loader.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "lmlab/config.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

namespace {

std::string override_key(const std::string& override_text) { return override_text.substr(0, override_text.find('=')); }

// A --set on a sweep axis would make every point of that axis the same run under different names.
void reject_overrides_of_axes(const std::filesystem::path& file, const SweepPoint& point,
                              const std::vector<std::string>& overrides) {
  for (const auto& axis : point.overrides) {
    for (const auto& o : overrides) {
      if (override_key(o) == override_key(axis)) {
        throw ConfigError(fmt::format("--set: {}: is a [sweep] axis of {}; drop the override or the axis",
                                      override_key(o), file.string()));
      }
    }
  }
}

// The chain is built once here, so a chain that cannot decode (no selector, a selector before a
// warper) is reported by `lmlab validate`, before any run starts.
void check_decoding_chain(const std::filesystem::path& file, const Experiment& run, const Registry& registry) {
  std::vector<std::shared_ptr<DecodingStep>> steps;
  for (const auto& d : run.decoding) {
    steps.push_back(make_plugin<DecodingStep>(registry, d.name, d.options, DecodingContext{ByteTokenizer::vocab_size}));
  }
  if (steps.empty()) return;
  try {
    DecodingChain chain(std::move(steps));
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: decoding.chain: {}", file.string(), e.what()));
  }
}

}  // namespace

std::vector<Experiment> load_runs(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                  PluginLoader& loader, const Registry& registry) {
  std::vector<Experiment> runs;
  for (const SweepPoint& point : expand_sweep(load_experiment_file(file))) {
    reject_overrides_of_axes(file, point, overrides);
    // Parsed afresh for each point: toml++ drops a node's file position when it is copied, and
    // errors must point into the file.
    toml::table config = load_experiment_file(file);
    apply_overrides(config, point.overrides);
    apply_overrides(config, overrides);
    loader.load_standard(plugin_paths_of(config), file.parent_path());
    Experiment run = resolve_experiment(config, registry, file.string());
    check_decoding_chain(file, run, registry);
    if (!point.label.empty()) {
      // Every run name says its seed; a sweep over seeds already has it in the label.
      const bool seeded = std::any_of(point.overrides.begin(), point.overrides.end(),
                                      [](const std::string& o) { return override_key(o) == "experiment.seed"; });
      const std::string label = seeded ? point.label : point.label + ",seed=" + std::to_string(run.experiment.seed);
      run.run_name = file_safe_label(label) + "-" + run.config_hash.substr(0, 8);
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace lmlab
