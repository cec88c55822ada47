/// The process's choice of how lmlab::nn::linear multiplies under CPU bf16 autocast
/// (lmlab/nn/linear.hpp). The host's alone: the run setup sets it (training/bf16_products.hpp),
/// plugins only project through linear().
#pragma once

namespace lmlab::nn {

enum class CpuBf16Products {
  bf16_kernels,     // autocast's own: bf16 GEMM kernels (oneDNN)
  float32_kernels,  // bf16-rounded operands through the float32 GEMM (BLAS), results rounded to bf16
};

/// bf16_kernels unless the host set another.
CpuBf16Products cpu_bf16_products();
void set_cpu_bf16_products(CpuBf16Products products);

/// How the products of a decoding step (2 to thin_product_max_rows rows, no gradient, inside a
/// RoundedWeightScope; one row stays on the float32 path) multiply when cpu_bf16_products() is float32_kernels. Such a product
/// reads every weight for a few multiply-adds each, so reading bf16 weights (half the bytes,
/// cached once per generation) on bf16 kernels can win where large products lose.
/// float32_kernels unless the host set another.
CpuBf16Products cpu_bf16_decoding_products();
void set_cpu_bf16_decoding_products(CpuBf16Products products);

}  // namespace lmlab::nn
