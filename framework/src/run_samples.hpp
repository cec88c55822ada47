/// Generation at evaluation time (trainer-internal): every decoding configuration of the run
/// continues the run's prompts, and the run file gets the text and, for every generated
/// position, the entropy of the model's untruncated next-token distribution.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
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

/// Continues `prompts` with each chain (under bf16 autocast when asked) and appends, for `step`:
/// a /samples row per continuation (every rank of an n-best list) and a /next_token_entropy row
/// per generated position of each best continuation. Returns the best continuations' text.
std::vector<SampleText> write_samples(RunFile& file, Architecture& model, const PluginInfo& model_info,
                                      const std::vector<NamedChain>& chains,
                                      const std::vector<std::vector<std::int64_t>>& prompts,
                                      const GenerateOptions& options, std::int64_t step, const c10::Device& device,
                                      bool bf16);

}  // namespace lmlab
