/// Shared by the experiment-file tests (config, overrides, sweep): tiny test-only plugins in a
/// registry, a minimal experiment, and helpers that resolve a file or return the ConfigError text.
#pragma once
#include "support/catch.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <toml++/toml.h>

#include "experiment/config.hpp"
#include "experiment/experiment_schema.hpp"
#include "lmlab/error.hpp"
#include "lmlab/options.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/tokenizer.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {
namespace toy {

struct ArchOptions {
  std::int64_t d_model = 64;
  std::int64_t n_heads = 4;
  std::int64_t n_layers = 2;
  double dropout = 0.0;
};

class Arch : public Architecture {
 public:
  Arch(const ArchOptions&, const ArchitectureContext& c) : context_(c) {}
  ModelOutput forward(const ModelInput& in) override {
    return {at::zeros({in.tokens.size(0), in.tokens.size(1), context_.vocab_size})};
  }
  std::int64_t context_length() const override { return context_.max_seq_len; }
  Capabilities capabilities() const override { return {.generates = true}; }
  Accounting accounting() const override { return {}; }

 private:
  ArchitectureContext context_;
};

struct ObjectiveOptions {
  double label_smoothing = 0.0;
};

class Lm : public Objective {
 public:
  LossOutput compute(Architecture&, const at::Tensor&) override { return {}; }
};

struct NoOptions {};

struct TemperatureOptions {
  double value = 1.0;
};

class Step : public DecodingStep {
 public:
  Step(std::string name, bool selects) : name_(std::move(name)), selects_(selects) {}
  std::string name() const override { return name_; }
  void apply(DecodeState&) override {}
  bool selects() const override { return selects_; }
  std::shared_ptr<DecodingStep> clone() const override { return std::make_shared<Step>(*this); }

 private:
  std::string name_;
  bool selects_;
};

struct RegOptions {
  double strength = 0.1;
};

class Reg : public Regulariser {};

struct MetricOptions {
  std::int64_t max_n = 2;
};

class Counter : public Metric {
 public:
  std::vector<std::string> generation_values() const override { return {"count"}; }
};

template <class T>
auto step(std::string name, bool selects) {
  return [name, selects](const T&, const DecodingContext&) { return std::make_shared<Step>(name, selects); };
}

}  // namespace toy

/// toy_arch, toy_lm, toy_reg, the metrics toy_count and toy_rep, the byte tokenizer (every
/// experiment has one) and the decoding steps sample, temperature and (unless told not to) greedy.
inline Registry make_registry(bool with_greedy = true) {
  using namespace toy;
  Registry registry;
  Registrar reg(registry, "test-lib.so");
  reg.add<Architecture>(
      "toy_arch", "a model of zeros",
      OptionSet<ArchOptions>()
          .add("d_model", &ArchOptions::d_model, "width", {.min = 8})
          .add("n_heads", &ArchOptions::n_heads, "heads", {.min = 1})
          .add("n_layers", &ArchOptions::n_layers, "blocks", {.min = 1})
          .add("dropout", &ArchOptions::dropout, "dropout", {.min = 0.0, .max = 1.0, .exclusive_max = true})
          .check("d_model must be divisible by n_heads",
                 [](const ArchOptions& o) { return o.d_model % o.n_heads == 0; }),
      [](const ArchOptions& o, const ArchitectureContext& c) { return std::make_shared<Arch>(o, c); },
      {.provides = {.generates = true}});
  reg.add<Objective>(
      "toy_lm", "no loss",
      OptionSet<ObjectiveOptions>().add("label_smoothing", &ObjectiveOptions::label_smoothing, "eps",
                                        {.min = 0.0, .max = 1.0}),
      [](const ObjectiveOptions&, const ObjectiveContext&) { return std::make_shared<Lm>(); });
  reg.add<Regulariser>(
      "toy_reg", "nothing", OptionSet<RegOptions>().add("strength", &RegOptions::strength, "weight", {.min = 0.0}),
      [](const RegOptions&, const RegulariserContext&) { return std::make_shared<Reg>(); },
      {.hooks = {.extra_loss = true}});
  for (const std::string name : {"toy_count", "toy_rep"}) {
    reg.add<Metric>(name, "counts",
                    OptionSet<MetricOptions>().add("max_n", &MetricOptions::max_n, "longest n-gram", {.min = 1}),
                    [](const MetricOptions&, const MetricContext&) { return std::make_shared<Counter>(); });
  }
  reg.add<Tokenizer>("byte", "bytes", OptionSet<NoOptions>(),
                     [](const NoOptions&, const TokenizerContext&) { return std::make_shared<ByteTokenizer>(); });
  if (with_greedy) reg.add<DecodingStep>("greedy", "argmax", OptionSet<NoOptions>(), step<NoOptions>("greedy", true));
  reg.add<DecodingStep>("sample", "draw", OptionSet<NoOptions>(), step<NoOptions>("sample", true));
  reg.add<DecodingStep>("temperature", "divide logits",
                        OptionSet<TemperatureOptions>().add("value", &TemperatureOptions::value, "T",
                                                            {.min = 0.0, .exclusive_min = true}),
                        step<TemperatureOptions>("temperature", false));
  return registry;
}

inline const std::string minimal = R"([model]
arch = "toy_arch"

[objective]
name = "toy_lm"
)";

/// The message of the ConfigError `f` throws; fails the test for any other outcome.
template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected a ConfigError, got: " << e.what());
  }
  FAIL("expected a ConfigError, nothing was thrown");
  return {};
}

/// Writes exp.toml into `dir`, loads it with `overrides` and resolves it.
inline Experiment resolve(const TempDir& dir, const std::string& text, const std::vector<std::string>& overrides = {},
                          const Registry& registry = make_registry()) {
  write_file(dir / "exp.toml", text);
  toml::table config = load_experiment_file(dir / "exp.toml");
  apply_overrides(config, overrides);
  return resolve_experiment(config, registry, (dir / "exp.toml").string());
}

inline std::string resolve_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  const TempDir dir;
  return config_error_of([&] { resolve(dir, text, overrides); });
}

/// `text` parsed in memory, its nodes reporting "exp.toml" as their file.
inline toml::table parse_exp(const std::string& text) { return toml::parse(text, std::string_view("exp.toml")); }

}  // namespace lmlab::test
