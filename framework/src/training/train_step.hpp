/// One optimizer step of a run: train.grad_accum micro-batches through the objective and the
/// regularisers' extra loss terms, backward, then the regularisers' before_step hooks, the
/// optimizer step and their after_step hooks. One host sync per step. With several ranks, each
/// trains on its rows of the global batch, the last micro-step's backward averages the gradients
/// (so the hooks see the averages), and the loss, terms and tokens are summed over the ranks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "experiment/experiment.hpp"
#include "lmlab/regulariser.hpp"
#include "training/run_setup.hpp"

namespace lmlab {

/// One of the step's named loss terms: a component the objective reported or a regulariser's
/// extra loss, averaged over the micro-batches that reported it.
struct LossTerm {
  std::string name;  // its column in run.columns (train/loss.<name>)
  double value = 0.0;
};

struct StepResult {
  std::int64_t step = 0;        // 1-based optimizer step
  double loss = 0.0;            // mean over the micro-batches of the objective's loss plus the extra terms
  std::vector<LossTerm> terms;  // the terms reported this step, in column order
  double lr = 0.0;              // the learning rate the optimizer stepped with
  double grad_norm = 0.0;       // global L2 norm of the gradients before the hooks; 0 unless log_now
  bool log_now = false;         // a log step: the trainer writes a /train row and calls the log hooks
  std::int64_t tokens = 0;      // training tokens the objective counted (on every rank)
  bool stop = false;            // several ranks: one of them was asked to stop (all of them agree on it)
  at::Tensor block;             // (B, T+1) the last micro-batch, on the run's device

  /// What the regularisers' hooks are told of this step.
  StepInfo info() const { return {step, lr, log_now, &block}; }
};

/// Trains step `step` (1-based) of `run` under `train`; `log_now` asks for the gradient norm.
/// Throws Error when the loss is not finite or the objective reports a component it does not
/// declare, and PluginError naming the plugin when plugin code fails.
StepResult train_step(RunSetup& run, const TrainSection& train, std::int64_t step, bool log_now);

}  // namespace lmlab
