/// Regulariser plugins: hooks around the trainer's backward pass.
#pragma once
#include <string_view>

#include <ATen/core/Tensor.h>

#include "lmlab/architecture.hpp"
#include "lmlab/objective.hpp"

namespace lmlab {

struct RegulariserContext {
  std::int64_t total_steps = 0;
};

/// The interface every regulariser implements; each hook has a do-nothing default.
class Regulariser {
 public:
  static constexpr std::string_view kind = "regulariser";
  using Context = RegulariserContext;

  virtual ~Regulariser();

  /// A term added to the objective's loss before backward (undefined tensor: none).
  virtual at::Tensor extra_loss(const LossOutput& out, Architecture& model);

  /// Called after the gradients of a full (accumulated) batch exist, before the optimizer step.
  virtual void after_backward(Architecture& model);
};

}  // namespace lmlab
