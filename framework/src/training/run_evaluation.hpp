/// A run's evaluation step: the model's loss, perplexity, accuracy and validation metrics on the
/// fixed validation windows, written to /eval and shown, then the decoding configurations'
/// samples of the run's prompts.
#pragma once
#include <cstdint>
#include <vector>

#include "experiment/experiment.hpp"
#include "results/run_file.hpp"
#include "training/evaluation.hpp"
#include "training/progress.hpp"
#include "training/run_setup.hpp"
#include "training/trainer.hpp"

namespace lmlab {

/// Evaluates `run` after step `step`: appends the /eval row and shows it through `progress`;
/// when the run has decodings, prompts and eval.max_new_tokens > 0, generates and writes the
/// samples (write_samples) into `samples`, else leaves `samples` empty. Flushes the file.
EvalResult evaluate_and_sample(const Experiment& e, RunSetup& run, RunFile& file, Progress& progress,
                               std::int64_t step, std::vector<SampleText>& samples);

}  // namespace lmlab
