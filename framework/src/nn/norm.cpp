#include "lmlab/nn/norm.hpp"

#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace lmlab::nn {

NormImpl::NormImpl(const std::string& kind, std::int64_t dim, bool with_bias, double eps)
    : rms_(kind == "rmsnorm"), dim_(dim), eps_(eps) {
  if (kind != "layernorm" && kind != "rmsnorm") {
    throw std::invalid_argument(fmt::format("norm: unknown kind \"{}\"; accepted: layernorm, rmsnorm", kind));
  }
  weight = register_parameter("weight", at::ones({dim}));
  if (with_bias && !rms_) bias = register_parameter("bias", at::zeros({dim}));
}

at::Tensor NormImpl::forward(const at::Tensor& x) {
  if (!rms_) return at::layer_norm(x, {dim_}, weight, bias, eps_);  // (..., C)
  // In float32 whatever the input: the mean of squares loses too much in bf16.
  const at::Tensor xf = x.to(at::kFloat);                                         // (..., C)
  const at::Tensor inv_rms = at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);  // (..., 1)
  return (xf * inv_rms * weight).to(x.scalar_type());                             // (..., C)
}

}  // namespace lmlab::nn
