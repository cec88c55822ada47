/// The position-wise MLP of a transformer block: d_model -> d_ff -> d_model through one of the
/// activations an ablation compares. The gated ones (SwiGLU, GeGLU; Shazeer 2020) multiply the
/// activated half of a 2 * d_ff projection by the other half.
#pragma once
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace lmlab::nn {

/// The activations by name; throws naming the accepted ones for any other.
at::Tensor activate(const std::string& activation, const at::Tensor& x);

/// True for swiglu and geglu.
bool is_gated(const std::string& activation);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(std::int64_t d_model, std::int64_t d_ff, const std::string& activation, bool bias);

  at::Tensor forward(const at::Tensor& x);  // (B, T, C) -> (B, T, C)

  torch::nn::Linear fc{nullptr};    // C -> F, or C -> 2F when gated (the gate first)
  torch::nn::Linear proj{nullptr};  // F -> C

 private:
  std::string activation_;
  bool gated_;
};
TORCH_MODULE(FeedForward);

}  // namespace lmlab::nn
