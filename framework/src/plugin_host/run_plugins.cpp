#include "plugin_host/run_plugins.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/error.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/search.hpp"
#include "lmlab/tokenizer.hpp"
#include "plugin_host/run_tokenizer.hpp"

namespace lmlab {

namespace {

// A search strategy's run, through plugin_call. Only GuardedStep makes one, for a step that is a search.
class GuardedSearch final : public SearchStrategy {
 public:
  GuardedSearch(SearchStrategy& search, const PluginInfo& info) : search_(search), info_(info) {}
  std::string name() const override { return search_.name(); }
  std::vector<std::vector<Continuation>> run(SearchInput& input) override {
    return plugin_call(info_, "search", [&] { return search_.run(input); });
  }
  bool needs_hidden() const override { return search_.needs_hidden(); }
  std::shared_ptr<DecodingStep> clone() const override {
    throw std::logic_error("a guarded search is cloned through its GuardedStep");
  }

 private:
  SearchStrategy& search_;
  const PluginInfo& info_;
};

// A decoding step whose every call goes through plugin_call, so a failure inside generation names
// the step's plugin rather than the model's.
class GuardedStep final : public DecodingStep {
 public:
  GuardedStep(std::shared_ptr<DecodingStep> step, PluginInfo info) : step_(std::move(step)), info_(std::move(info)) {
    if (SearchStrategy* s = step_->search()) search_ = std::make_unique<GuardedSearch>(*s, info_);
  }
  std::string name() const override { return step_->name(); }
  void apply(DecodeState& state) override { plugin_call(info_, "apply", [&] { step_->apply(state); }); }
  bool selects() const override { return step_->selects(); }
  void reset() override { plugin_call(info_, "reset", [&] { step_->reset(); }); }
  std::shared_ptr<DecodingStep> clone() const override {
    return std::make_shared<GuardedStep>(plugin_call(info_, "clone", [&] { return step_->clone(); }), info_);
  }
  SearchStrategy* search() override { return search_.get(); }

 private:
  std::shared_ptr<DecodingStep> step_;
  PluginInfo info_;
  std::unique_ptr<GuardedSearch> search_;  // refers to step_ and info_, so declared after them
};

// A metric whose every call goes through plugin_call, and whose values must be ones it declared,
// so that a bad value or a failure names the metric's plugin.
class GuardedMetric final : public Metric {
 public:
  GuardedMetric(std::shared_ptr<Metric> metric, PluginInfo info) : metric_(std::move(metric)), info_(std::move(info)) {
    generation_ = plugin_call(info_, "generation_values", [&] { return metric_->generation_values(); });
    validation_ = plugin_call(info_, "validation_values", [&] { return metric_->validation_values(); });
    probe_ = plugin_call(info_, "probe_values", [&] { return metric_->probe_values(); });
  }
  std::vector<std::string> generation_values() const override { return generation_; }
  std::vector<std::string> validation_values() const override { return validation_; }
  std::vector<std::string> probe_values() const override { return probe_; }
  std::vector<MetricValue> generated(const GeneratedText& text) override {
    return plugin_call(info_, "generated", [&] { return declared(metric_->generated(text), generation_); });
  }
  void reset() override { plugin_call(info_, "reset", [&] { metric_->reset(); }); }
  void observe(const Predictions& batch) override { plugin_call(info_, "observe", [&] { metric_->observe(batch); }); }
  std::vector<MetricValue> predicted() override {
    return plugin_call(info_, "predicted", [&] { return declared(metric_->predicted(), validation_); });
  }
  std::vector<MetricValue> probe(const ModelProbe& model) override {
    return plugin_call(info_, "probe", [&] { return declared(metric_->probe(model), probe_); });
  }

 private:
  static std::vector<MetricValue> declared(std::vector<MetricValue> values, const std::vector<std::string>& names) {
    for (const auto& v : values) {
      if (std::find(names.begin(), names.end(), v.name) == names.end()) {
        throw Error(fmt::format("reported a value '{}' it does not declare (declared: {})", v.name,
                                names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
      }
    }
    return values;
  }

  std::shared_ptr<Metric> metric_;
  PluginInfo info_;
  std::vector<std::string> generation_, validation_, probe_;
};

// A composite objective's task, whose calls name the task's plugin when they fail.
class GuardedObjective final : public Objective {
 public:
  GuardedObjective(std::shared_ptr<Objective> objective, PluginInfo info)
      : objective_(std::move(objective)), info_(std::move(info)) {}
  LossOutput compute(Architecture& model, const at::Tensor& block) override {
    return plugin_call(info_, "compute", [&] { return objective_->compute(model, block); });
  }
  std::vector<std::string> components() const override {
    return plugin_call(info_, "components", [&] { return objective_->components(); });
  }

 private:
  std::shared_ptr<Objective> objective_;
  PluginInfo info_;
};

// Each regulariser with its label: the plugin name, or name.<i> when the experiment lists it twice.
std::vector<RunRegulariser> build_regularisers(const Experiment& e, const Registry& registry) {
  std::vector<RunRegulariser> built;
  const RegulariserContext context{e.train.steps, e.train.weight_decay};
  for (std::size_t i = 0; i < e.regularisers.size(); ++i) {
    const auto& r = e.regularisers[i];
    const auto same = std::count_if(e.regularisers.begin(), e.regularisers.end(),
                                    [&](const PluginChoice& other) { return other.name == r.name; });
    built.push_back({make_plugin<Regulariser>(registry, r.name, r.options, context),
                     registry.get<Regulariser>(r.name).info, same > 1 ? fmt::format("{}.{}", r.name, i) : r.name});
  }
  return built;
}

// The value names `metric` declares: its generation, validation and probe values.
std::vector<std::string> declared_values(const std::string& name, const Metric& metric) {
  auto names = metric.generation_values();
  for (const auto& v : metric.validation_values()) names.push_back(v);
  for (const auto& v : metric.probe_values()) {
    // Validation and probe values share /eval's columns.
    const auto& validation = metric.validation_values();
    if (std::find(validation.begin(), validation.end(), v) != validation.end()) {
      throw PluginError(fmt::format("metric '{}' declares '{}' both as a validation and as a probe value", name, v));
    }
    names.push_back(v);
  }
  return names;
}

std::vector<RunMetric> build_metrics(const Experiment& e, const Registry& registry, std::int64_t vocab_size) {
  std::vector<RunMetric> built;
  // Value names become run-file columns: two metrics may not claim the same one.
  std::map<std::string, std::string> owner;
  for (const auto& m : e.metrics) {
    const PluginInfo& info = registry.get<Metric>(m.name).info;
    auto metric = std::make_shared<GuardedMetric>(make_plugin<Metric>(registry, m.name, m.options,
                                                                      MetricContext{vocab_size}),
                                                  info);
    for (const auto& v : declared_values(m.name, *metric)) {
      if (v.empty() || v.find('/') != std::string::npos) {
        throw PluginError(fmt::format("metric '{}' declares a value named '{}'; names must be non-empty and "
                                      "without '/'", m.name, v));
      }
      const auto [it, added] = owner.try_emplace(v, m.name);
      if (!added && it->second != m.name) {
        throw ConfigError(fmt::format("metrics: '{}' and '{}' both report a value named '{}'; drop one from "
                                      "[metrics].names", it->second, m.name, v));
      }
    }
    built.push_back({std::move(metric), info});
  }
  return built;
}

// A decoding configuration's chain, each step guarded; nothing for an empty chain.
void add_chain(std::vector<NamedChain>& decodings, const Registry& registry, const std::string& name,
               const std::vector<PluginChoice>& chain, const DecodingContext& context) {
  if (chain.empty()) return;
  NamedChain named{name, {}, {}};
  std::vector<std::shared_ptr<DecodingStep>> steps;
  for (const auto& d : chain) {
    named.info.push_back(registry.get<DecodingStep>(d.name).info);
    steps.push_back(std::make_shared<GuardedStep>(
        make_plugin<DecodingStep>(registry, d.name, d.options, context),
        named.info.back()));
  }
  named.chain = std::make_shared<DecodingChain>(std::move(steps));
  decodings.push_back(std::move(named));
}

}  // namespace

Plugins build_plugins(const Experiment& e, const Registry& registry, const c10::Device& device,
                      std::shared_ptr<const Tokenizer> tokenizer) {
  Plugins p;
  p.tokenizer = std::move(tokenizer);
  const std::int64_t vocab_size = p.tokenizer->vocab_size();
  const ArchitectureContext arch_context{vocab_size, e.data.block_size};
  p.model.plugin = make_plugin<Architecture>(registry, e.model.name, e.model.options, arch_context);
  p.model.plugin->to(device);
  p.model.info = registry.get<Architecture>(e.model.name).info;
  ObjectiveContext objective_context{vocab_size, p.tokenizer.get(), {}};
  for (const auto& task : e.objective.tasks) {
    auto built = make_plugin<Objective>(registry, task.name, task.options, objective_context);
    objective_context.tasks.push_back(
        {task.name, std::make_shared<GuardedObjective>(std::move(built), registry.get<Objective>(task.name).info)});
  }
  p.objective.plugin = make_plugin<Objective>(registry, e.objective.name, e.objective.options, objective_context);
  p.objective.info = registry.get<Objective>(e.objective.name).info;
  p.regularisers = build_regularisers(e, registry);
  p.metrics = build_metrics(e, registry, vocab_size);
  const DecodingContext decoding_context{vocab_size, p.tokenizer->special().eos};
  add_chain(p.decodings, registry, "default", e.decoding, decoding_context);
  for (const auto& d : e.decoding_eval) add_chain(p.decodings, registry, d.name, d.chain, decoding_context);
  return p;
}

std::vector<std::string> component_columns(const Plugins& p) {
  std::vector<std::string> names =
      plugin_call(p.objective.info, "components", [&] { return p.objective.plugin->components(); });
  for (const RunRegulariser& r : p.regularisers) {
    if (r.info.traits.hooks.extra_loss) names.push_back(r.label);
  }
  return names;
}

std::vector<Metric*> metric_pointers(const Plugins& p) {
  std::vector<Metric*> metrics;
  for (const RunMetric& m : p.metrics) metrics.push_back(m.plugin.get());
  return metrics;
}

}  // namespace lmlab
