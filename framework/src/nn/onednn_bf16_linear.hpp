/// A decoding step's bf16 product on a oneDNN matmul primitive that is built once per shape and
/// then reused (host only).
///
/// LibTorch 1.13 sends a bf16 product to oneDNN through ideep, which describes the product and
/// looks its primitive up at every call. At a decoding step's sizes that setup costs as much as
/// the product: 39 against 21 us for 16 x 256 x 256 here (docs/performance.md, "Decoding"), 25
/// times per token for a 4-layer model. The arithmetic is the same kernel's: bf16 operands,
/// float32 sums, one rounding to bf16. Built where cpu_onednn.hpp's oneDNN is and its major
/// version is 2 (the C++ API used here).
#pragma once
#include <cstddef>

#include <ATen/core/Tensor.h>

namespace lmlab::nn {

/// True when onednn_bf16_linear can compute this product: oneDNN 2 built in, a CPU bf16 input
/// with at least one row and a dense last dimension (rows further apart are read in place,
/// other layouts copied), a non-empty bf16 weight (C_out, C_in) with dense rows, and a
/// contiguous bf16 bias (C_out) or none.
bool onednn_bf16_linear_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// x (..., C_in), weight (C_out, C_in), bias (C_out) or undefined -> (..., C_out), all bf16.
/// Throws std::runtime_error naming the shape where oneDNN refuses it.
/// Primitives are kept per calling thread (one must not run on two threads at once) and per
/// intra-op thread count (oneDNN fixes it when it builds one).
at::Tensor onednn_bf16_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// How many primitives the calling thread has built so far: for tests.
std::size_t onednn_bf16_primitives_built();

}  // namespace lmlab::nn
