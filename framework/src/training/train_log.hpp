/// What a run logs of its training steps: the running means of the loss and its terms between
/// log steps, the token rate, and on each log step the /train row and the regularisers' rows.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>

#include "results/run_file.hpp"
#include "training/checkpoint.hpp"
#include "training/run_setup.hpp"
#include "training/train_step.hpp"

namespace lmlab {

/// Scored tokens and optimizer steps per second, over one stretch of time.
struct Throughput {
  double tokens = 0.0;
  double steps = 0.0;
};

/// Training throughput since the last restart (the last log step, or the run's start, so a
/// resumed run's speed counts its own steps only).
class TokenRate {
 public:
  /// Counts one step that scored `tokens`.
  void add(std::int64_t tokens) {
    tokens_ += tokens;
    steps_ += 1;
  }
  /// Both rates from one reading of the clock, so that /train/mfu and tokens_per_s agree.
  Throughput per_second() const;
  void restart();

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::int64_t tokens_ = 0;
  std::int64_t steps_ = 0;
};

/// Counts the finished step in `state`: its step number and tokens, and its loss and terms in
/// the means the next /train row reports (kept in the checkpoint, so a resumed run logs the same).
void record_step(TrainingState& state, const StepResult& result);

/// A log step: appends the /train row (step, tokens, the means since the last row, lr, grad norm,
/// `tokens_per_s`, `mfu` unless it is unknown (a run resumed from a file without the column),
/// and loss.<name> for each of run.columns, NaN for a term no step reported; with several ranks
/// `comm_s`, the seconds rank 0 waited on all-reduces since the last row), resets the means, then
/// calls each regulariser's `log` hook with its own run-file group.
void log_step(RunFile& file, RunSetup& run, TrainingState& state, const StepResult& result, double tokens_per_s,
              std::optional<double> mfu, std::optional<double> comm_s = std::nullopt);

}  // namespace lmlab
