/// y = x W^T + b, as every layer of lmlab::nn projects. Project through it (not at::linear or a
/// torch::nn::Linear's forward) and a layer's products follow the run's choice of how bf16
/// autocast multiplies on a CPU.
///
/// Autocast rounds a product's operands to bf16, multiplies them with float32 accumulation and
/// rounds the result to bf16. A bf16 kernel does that on bf16 units. On a CPU whose bf16 kernels
/// are slower than its float32 ones (this project's machines: oneDNN 2.6 bf16 at ~160 GFLOP/s,
/// OpenBLAS float32 at ~310 on two AVX-512 cores), the same numbers come faster from the float32
/// kernels: the product of two bf16 values is exact in float32, so multiplying the rounded
/// operands in float32 and rounding the result to bf16 gives what the bf16 kernel gives, up to
/// the order of the sums. Gradients are rounded to bf16 as autocast's are. The host makes the
/// choice per run, by measurement (see docs/performance.md).
#pragma once
#include <ATen/core/Tensor.h>

namespace torch::nn {
class LinearImpl;
}

namespace lmlab::nn {

/// x (..., C_in), weight (C_out, C_in), bias (C_out) or undefined -> (..., C_out).
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});
at::Tensor linear(const at::Tensor& x, const torch::nn::LinearImpl& layer);

}  // namespace lmlab::nn
