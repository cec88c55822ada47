/// Self- and cross-attention on the CPU without a mask tensor, head by head: for LibTorch
/// builds without at::scaled_dot_product_attention (1.13), where the written-out chain
/// (matmul, mask, softmax, matmul) passes over the whole (B, H, T, S) score tensor five times
/// in each direction and multiplies the masked half of a causal one.
///
/// Each (batch, head) pair is one task on LibTorch's intra-op threads. A task takes its queries
/// in blocks of rows; under a causal mask a block multiplies only the keys up to its last row,
/// so the upper triangle is never computed, stored or read back. Scores, softmax and
/// gradients stay in float32 whatever the inputs' dtype, as fused kernels accumulate. The
/// softmax of each block is kept for the backward pass (the lower triangle only).
#pragma once
#include <ATen/core/Tensor.h>

namespace lmlab::nn {

/// True when this build has the kernel: LibTorch < 2 (without scaled_dot_product_attention)
/// and a CBLAS to link.
bool cpu_attention_built();

/// True when cpu_attention can compute softmax(q k^T / sqrt(D)) v for these inputs: CPU
/// float32 or bfloat16 tensors, as many key/value heads as query heads, and, when causal, as
/// many queries as keys.
bool cpu_attention_supports(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal);

/// (B, H, T, D), (B, H, S, D), (B, H, S, D) -> (B, H, T, D) in q's dtype, differentiable.
/// `causal`: query i sees keys 0..i (T == S); otherwise every key.
at::Tensor cpu_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal);

}  // namespace lmlab::nn
