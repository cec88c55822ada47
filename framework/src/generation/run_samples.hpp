/// Generation at evaluation time (trainer-internal): every decoding configuration of the run
/// continues the run's prompts, and the run file gets the text, the entropy of the model's
/// untruncated next-token distribution at every generated position, and the generation metrics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "lmlab/generate.hpp"
#include "plugin_host/run_plugins.hpp"
#include "results/run_file.hpp"
#include "training/trainer.hpp"

namespace lmlab {

/// Continues `prompts` with each of the run's decoding configurations (under bf16 autocast when
/// asked) and appends, for `step`, to /generation/<chain name>/: a `samples` row per continuation
/// (every rank of an n-best list), a `positions` row per generated position of each best
/// continuation (token, entropy), the `entropy_curve` (mean entropy at each position) and one
/// `metrics` row: the run's generation metrics of the best continuations, on tokens and on words.
/// Returns the best continuations' text.
std::vector<SampleText> write_samples(RunFile& file, const Plugins& plugins,
                                      const std::vector<std::vector<std::int64_t>>& prompts,
                                      const GenerateOptions& options, std::int64_t step, const c10::Device& device,
                                      bool bf16);

}  // namespace lmlab
