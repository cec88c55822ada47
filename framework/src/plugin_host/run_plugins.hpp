/// What a run builds from its experiment's plugins (trainer-internal): the model, objective,
/// regularisers, metrics and decoding chains, each with the plugin that built it so a failure
/// names it, and the run-file columns and groups the objective and regularisers log to.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <c10/core/Device.h>

#include "experiment/experiment.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/capabilities.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/regulariser.hpp"
#include "lmlab/tokenizer.hpp"
#include "results/run_file.hpp"

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

/// A plugin the run built, with who built it (for messages and the run file's provenance).
template <class I>
struct RunPlugin {
  std::shared_ptr<I> plugin;
  PluginInfo info;
};

using RunModel = RunPlugin<Architecture>;
using RunObjective = RunPlugin<Objective>;
using RunMetric = RunPlugin<Metric>;  // wrapped: calls name its plugin, values must be ones it declares

/// A regulariser, and the label its loss column (train/loss.<label>) and its run-file group go
/// under: the plugin name, or name.<i> when the experiment lists it twice.
struct RunRegulariser {
  std::shared_ptr<Regulariser> plugin;
  PluginInfo info;
  std::string label;
};

/// A decoding configuration as a run builds it: "default" for [decoding].chain, else its
/// [[decoding.eval]] name; `info` is each step's plugin, in chain order.
struct NamedChain {
  std::string name;
  std::shared_ptr<DecodingChain> chain;
  std::vector<PluginInfo> info;
};

/// Everything built from the experiment's plugins, in the order the experiment lists them.
struct Plugins {
  std::shared_ptr<const Tokenizer> tokenizer;  // guarded: calls name its plugin
  RunModel model;
  RunObjective objective;
  std::vector<RunRegulariser> regularisers;
  std::vector<RunMetric> metrics;
  std::vector<NamedChain> decodings;  // "default" ([decoding].chain) first when it has steps, then [[decoding.eval]]
};

/// Builds every plugin the experiment names, the model on `device`, a composite objective's tasks
/// first, around the run's `tokenizer` (build_tokenizer: the corpus needs it before the plugins).
Plugins build_plugins(const Experiment& e, const Registry& registry, const c10::Device& device,
                      std::shared_ptr<const Tokenizer> tokenizer);

/// The train/loss.<name> columns: the objective's declared components, then one per regulariser
/// that adds a loss term.
std::vector<std::string> component_columns(const Plugins& p);

/// The run's metrics, in order, as the evaluation and generation code takes them.
std::vector<Metric*> metric_pointers(const Plugins& p);

/// Calls `hook(regulariser)` on each regulariser that declares hook point `point`, in the order
/// the experiment lists them, each call through plugin_call (`during` names the hook).
template <class Hook>
void call_hooks(const std::vector<RunRegulariser>& regularisers, bool HookPoints::*point, std::string_view during,
                Hook&& hook) {
  for (const RunRegulariser& r : regularisers) {
    if (r.info.traits.hooks.*point) plugin_call(r.info, during, [&] { hook(r); });
  }
}

}  // namespace lmlab
