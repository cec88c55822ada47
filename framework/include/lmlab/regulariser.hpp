/// Regulariser plugins: hooks around the trainer's step. Each declares its hook points when it
/// registers (PluginTraits::hooks); the trainer calls only those, in the order the experiment
/// lists the regularisers. One step, with the hooks in capitals:
///   forward -> objective loss -> + EXTRA_LOSS -> backward -> BEFORE_STEP -> optimizer step
///   -> AFTER_STEP -> (log steps) LOG
#pragma once
#include <cstdint>
#include <string_view>

#include <ATen/core/Tensor.h>

#include "lmlab/architecture.hpp"
#include "lmlab/log_row.hpp"
#include "lmlab/objective.hpp"

namespace lmlab {

struct RegulariserContext {
  std::int64_t total_steps = 0;
  double optimizer_weight_decay = 0.0;  // train.weight_decay, which AdamW applies itself
};

/// The step a hook is called in.
struct StepInfo {
  std::int64_t step = 0;  // 1-based optimizer step
  double lr = 0.0;        // this step's learning rate
  bool log_now = false;   // the trainer logs this step (and calls `log` after it)
  const at::Tensor* block = nullptr;  // (B, T+1) the step's last micro-batch, on the model's device
};

/// Where a regulariser writes what it measured: rows of its own group of the run file, named
/// after the plugin (/grad_monitor). Every row should carry the `step` column, so that a resumed
/// run can drop the rows it logs again.
class RegulariserLog {
 public:
  virtual ~RegulariserLog();
  virtual void append(const LogRow& row) = 0;
};

/// The interface every regulariser implements; each hook has a do-nothing default.
class Regulariser {
 public:
  static constexpr std::string_view kind = "regulariser";
  using Context = RegulariserContext;

  virtual ~Regulariser();

  /// hooks.extra_loss: a term added to the objective's loss before backward (undefined: none this
  /// time). The trainer logs it as train/loss.<plugin name>.
  virtual at::Tensor extra_loss(const LossOutput& out, Architecture& model);

  /// hooks.before_step: the gradients of the full (accumulated) batch exist; the optimizer has not
  /// stepped yet.
  virtual void before_step(Architecture& model, const StepInfo& step);

  /// hooks.after_step: the optimizer has updated the parameters.
  virtual void after_step(Architecture& model, const StepInfo& step);

  /// hooks.log: on log steps, after after_step.
  virtual void log(Architecture& model, const StepInfo& step, RegulariserLog& out);
};

}  // namespace lmlab
