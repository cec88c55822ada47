/// Generation at evaluation time (trainer-internal): every decoding configuration of the run
/// continues the run's prompts, and the run file gets the text, the entropy of the model's
/// untruncated next-token distribution at every generated position, and the generation metrics.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/run_file.hpp"
#include "lmlab/trainer.hpp"

namespace lmlab {

/// A decoding configuration as a run builds it: "default" for [decoding].chain, else its
/// [[decoding.eval]] name; `info` is each step's plugin, in chain order.
struct NamedChain {
  std::string name;
  std::shared_ptr<DecodingChain> chain;
  std::vector<PluginInfo> info;
};

/// Continues `prompts` with each chain (under bf16 autocast when asked) and appends, for `step`,
/// to /generation/<chain name>/: a `samples` row per continuation (every rank of an n-best list),
/// a `positions` row per generated position of each best continuation (token, entropy), the
/// `entropy_curve` (mean entropy at each position) and one `metrics` row: the generation
/// metrics of the best continuations, on tokens and on words. Returns the best continuations' text.
std::vector<SampleText> write_samples(RunFile& file, Architecture& model, const PluginInfo& model_info,
                                      const std::vector<NamedChain>& chains, const std::vector<Metric*>& metrics,
                                      const std::vector<std::vector<std::int64_t>>& prompts,
                                      const GenerateOptions& options, std::int64_t step, const c10::Device& device,
                                      bool bf16);

}  // namespace lmlab
