/// LibTorch's AdamW with its update done in one pass over each parameter's memory.
///
/// torch::optim::AdamW (as Python's for-loop AdamW on a CPU) updates a parameter in nine tensor
/// operations, each a pass over the parameter, its gradient or its moments: about twenty
/// parameter-sized reads and writes per step, ~7% of a CPU training step of a 10M-parameter
/// model. This one reads the parameter, gradient and two moments once and writes three of
/// them once, computing the same formula in the same order (float32 arithmetic on the same
/// float32 scalars), so results differ from LibTorch's only where LibTorch's vectorised kernels
/// fuse a multiply and an add; this file is compiled without that contraction, so its results
/// are the same on every CPU.
///
/// State, options and the checkpoint format are AdamW's own: a run saved by either loads in
/// the other. Parameters the single pass does not cover (not dense float32 on the CPU, sparse
/// gradients, amsgrad) are left to AdamW::step.
#pragma once
#include <type_traits>
#include <utility>

#include <torch/optim/adamw.h>

namespace lmlab {

/// The key LibTorch's optimizers file parameter `p`'s state under: its TensorImpl's address,
/// written out as an ostream writes a pointer in LibTorch 1.x, the pointer itself in later versions.
using OptimizerStateKey =
    std::remove_cvref_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
OptimizerStateKey optimizer_state_key(const at::Tensor& p);

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  at::Tensor step(LossClosure closure = nullptr) override;

  /// True when step() updates all of this optimizer's parameters in the single pass.
  bool fused() const;
};

}  // namespace lmlab
