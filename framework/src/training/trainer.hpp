/// Training one experiment end to end: data, model, optimizer and schedule, periodic evaluation
/// and generation, checkpoints, and the run's HDF5 file.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "experiment/experiment.hpp"
#include "lmlab/registry.hpp"
#include "results/run_status.hpp"

namespace lmlab {

struct RunOptions {
  bool resume = false;              // continue from the run's checkpoint
  std::int64_t stop_after = 0;      // stop with a checkpoint after this step, as if interrupted (0: never)
  std::ostream* out = &std::cerr;   // progress and messages
  std::optional<bool> live;         // one live progress line; default: when stderr is a terminal
  std::int64_t threads = 0;         // intra-op threads when the config leaves them open (experiment.threads = 0),
                                    // as a sweep dividing the CPUs among its jobs sets them; 0: the CPUs available
  /// A logging step also writes the buffered rows to the run file when its last flush is this
  /// long ago, so that readers (`lmlab watch`, a sweep's progress) follow a run between its
  /// evaluations, and a killed run loses at most this much of its log.
  std::chrono::milliseconds flush_interval{10000};
};

/// One best continuation of an evaluation: its decoding configuration, prompt and text.
struct SampleText {
  std::string decoding, prompt, continuation;
};

struct RunSummary {
  std::string run_name;
  std::filesystem::path run_file, checkpoint;
  RunStatus status = RunStatus::running;  // complete or stopped once run_experiment returns
  std::int64_t steps = 0, tokens = 0;
  double seconds = 0.0, tokens_per_s = 0.0;
  double mfu = std::numeric_limits<double>::quiet_NaN();  // model FLOPs utilisation over `seconds`; NaN: unknown
  double val_loss = 0.0, val_ppl = 0.0, val_acc = 0.0;
  double unigram_ppl = 0.0;  // the validation text's perplexity under the training unigram distribution
  int threads = 0;
  std::string device;
  std::vector<SampleText> samples;  // the last evaluation's best continuations, per decoding configuration
};

/// <results_dir>/<experiment name>/<run name>.h5 and .ckpt
std::filesystem::path run_file_path(const Experiment& experiment);
std::filesystem::path checkpoint_path(const Experiment& experiment);

/// Trains and evaluates `experiment`: opens or resumes its run, then per step trains, logs,
/// evaluates and checkpoints as the [train] section says, and finishes the run file. Failures
/// mark the run file `failed` with the reason and are re-thrown; a stop (stop_after, or
/// SIGINT/SIGTERM through request_stop) checkpoints and returns with status `stopped`.
RunSummary run_experiment(const Experiment& experiment, const Registry& registry, const RunOptions& options = {});

/// Asks the running training loop to stop at the end of its step (async-signal-safe).
void request_stop();
bool stop_requested();

}  // namespace lmlab
