/// The process's choice of GEMM library for lmlab::nn::linear's float32 training products on a
/// CPU (lmlab/nn/linear.hpp; those that record gradients, forward and backward): LibTorch's own
/// (at::linear, through the system BLAS) or oneDNN's sgemm (cpu_onednn.hpp). Products without
/// gradients (evaluation, generation) stay on LibTorch's. The host's alone: the run setup sets it (training/float32_products.hpp).
/// Both compute every output as one dot product in float32; only the order of the sums differs.
#pragma once
#include <ATen/core/Tensor.h>

namespace lmlab::nn {

enum class CpuFloat32Products {
  libtorch,  // at::linear: LibTorch's BLAS (OpenBLAS on Debian)
  onednn,    // oneDNN's JIT sgemm, forward and backward
};

/// libtorch unless the host set another.
CpuFloat32Products cpu_float32_products();
void set_cpu_float32_products(CpuFloat32Products products);

/// True when onednn_linear can compute this product: oneDNN built and chosen, a float32 CPU input
/// (and weight, bias) with rows. Autocast is the caller's to rule out: this path bypasses it.
bool onednn_linear_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// x (..., C_in), weight (C_out, C_in), bias (C_out) or undefined -> (..., C_out) float32, with
/// its backward on oneDNN too when gradients are recorded.
at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// op(a) (m, k) times op(b) (k, n) -> (m, n), a and b 2-D float32 CPU tensors, on the chosen
/// library (op transposes where asked).
at::Tensor float32_mm(const at::Tensor& a, bool trans_a, const at::Tensor& b, bool trans_b);

}  // namespace lmlab::nn
