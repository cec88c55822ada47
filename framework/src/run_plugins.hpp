/// What a run builds from its experiment's plugins (trainer-internal): the model, objective,
/// regularisers and decoding chain, each wrapped so a failure names its plugin, and the run-file
/// columns and groups the objective and regularisers log to.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <c10/core/Device.h>

#include "lmlab/decoding.hpp"
#include "lmlab/experiment.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/regulariser.hpp"
#include "lmlab/run_file.hpp"
#include "run_samples.hpp"

namespace lmlab {

// A regulariser's rows go to the run-file group named after it.
class GroupLog final : public RegulariserLog {
 public:
  GroupLog(RunFile& file, std::string group) : file_(file), group_(std::move(group)) {}
  void append(const RunFile::Row& row) override { file_.append(group_, row); }

 private:
  RunFile& file_;
  std::string group_;
};

// Everything built from the experiment's plugins, and who built each piece (for messages).
struct Plugins {
  std::shared_ptr<Architecture> model;
  std::shared_ptr<Objective> objective;
  std::vector<std::shared_ptr<Regulariser>> regularisers;
  std::vector<std::shared_ptr<Metric>> metrics;  // each wrapped: calls name its plugin, values must be declared
  std::vector<PluginInfo> metric_info;
  std::vector<NamedChain> decodings;  // "default" ([decoding].chain) first when it has steps, then [[decoding.eval]]
  PluginInfo model_info, objective_info;
  std::vector<PluginInfo> regulariser_info;
  std::vector<std::string> regulariser_labels;  // the plugin name, or name.<i> when listed twice
};

/// Builds every plugin the experiment names, the model on `device`, a composite objective's tasks
/// first.
Plugins build_plugins(const Experiment& e, const Registry& registry, const c10::Device& device);

/// The train/loss.<name> columns: the objective's declared components, then one per regulariser
/// that adds a loss term.
std::vector<std::string> component_columns(const Plugins& p);

}  // namespace lmlab
