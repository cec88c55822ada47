/// The two normalisations an ablation compares: LayerNorm (subtract the mean, divide by the
/// standard deviation, scale and shift) and RMSNorm (divide by the root mean square and scale:
/// no centring and no bias, Zhang & Sennrich 2019).
#pragma once
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace lmlab::nn {

class NormImpl : public torch::nn::Module {
 public:
  /// `kind` is "layernorm" or "rmsnorm"; `bias` applies to layernorm only.
  NormImpl(const std::string& kind, std::int64_t dim, bool bias, double eps);

  at::Tensor forward(const at::Tensor& x);  // (..., C) -> (..., C)

  bool rms() const { return rms_; }
  at::Tensor weight, bias;  // (C) scale; (C) shift or undefined

 private:
  bool rms_;
  std::int64_t dim_;
  double eps_;
};
TORCH_MODULE(Norm);

}  // namespace lmlab::nn
