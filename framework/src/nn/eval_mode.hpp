/// A scope that puts a module in eval mode and restores its previous mode however it is left
/// (an exception in evaluation must not leave dropout switched off for training).
#pragma once
#include <torch/nn/module.h>

namespace lmlab {

class EvalModeScope {
 public:
  explicit EvalModeScope(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeScope() { module_.train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

}  // namespace lmlab
