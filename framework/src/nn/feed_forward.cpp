#include "lmlab/nn/feed_forward.hpp"

#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/nn/linear.hpp"

namespace lmlab::nn {

bool is_gated(const std::string& activation) {
  return activation == "swiglu" || activation == "geglu" || activation == "geglu_tanh";
}

at::Tensor activate(const std::string& activation, const at::Tensor& x) {
  if (activation == "gelu" || activation == "geglu") return at::gelu(x);
  // GPT-2's own GELU ("gelu_new" in Hugging Face's configs): the tanh approximation, which
  // differs from the exact one by up to about 1e-3.
  if (activation == "gelu_tanh" || activation == "geglu_tanh") return at::gelu(x, "tanh");
  if (activation == "relu") return at::relu(x);
  if (activation == "swiglu") return at::silu(x);
  if (activation == "sigmoid") return at::sigmoid(x);
  if (activation == "tanh") return at::tanh(x);
  throw std::invalid_argument(
      fmt::format("activation: unknown \"{}\"; accepted: gelu, gelu_tanh, relu, swiglu, geglu, geglu_tanh, sigmoid, tanh", activation));
}

FeedForwardImpl::FeedForwardImpl(std::int64_t d_model, std::int64_t d_ff, const std::string& activation, bool bias)
    : activation_(activation), gated_(is_gated(activation)) {
  activate(activation_, at::zeros({1}));  // an unknown name fails here, not at the first forward
  fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(d_model, (gated_ ? 2 : 1) * d_ff).bias(bias)));
  proj = register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(d_ff, d_model).bias(bias)));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  at::Tensor h = nn::linear(x, *fc);  // (B, T, F) or (B, T, 2F) when gated
  if (gated_) {
    const std::vector<at::Tensor> halves = h.chunk(2, -1);  // 2 x (B, T, F)
    h = activate(activation_, halves[0]) * halves[1];       // (B, T, F)
  } else {
    h = activate(activation_, h);  // (B, T, F)
  }
  return nn::linear(h, *proj);  // (B, T, C)
}

}  // namespace lmlab::nn
