/// x W^T + b for inputs of a few rows (a decoding step's one token per sequence), split across
/// LibTorch's intra-op threads by output columns (host only).
///
/// Such a product reads the whole weight matrix to do a few multiply-adds per element, so its
/// speed is the memory bandwidth one core can draw. OpenBLAS runs products this small on the
/// calling thread alone ("small matrix" kernels), leaving the other intra-op threads idle for
/// most of a decoding step; here each thread reads its own slice of the weight rows. Every
/// output element is the same dot product in the same kernel as before, only on another thread.
#pragma once
#include <ATen/core/Tensor.h>

namespace lmlab::nn {

/// The most rows a product may have to be split this way: above it, OpenBLAS's own threading
/// takes over.
constexpr std::int64_t thin_product_max_rows = 16;

/// True when thin_product computes this product: a float32 CPU input of at most
/// thin_product_max_rows rows, a dense float32 weight (and bias), no gradient to record, no
/// autocast, several intra-op threads outside a parallel region, and a BLAS that runs on the
/// calling thread (cpu_blas.hpp).
bool thin_product_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// x (..., C_in), weight (C_out, C_in), bias (C_out) or undefined -> (..., C_out) float32.
at::Tensor thin_product(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace lmlab::nn

namespace lmlab::nn {

/// How many intra-op threads at::parallel_for reaches from lmlab's own kernels: LibTorch's
/// thread count where they are built with its OpenMP (framework/CMakeLists.txt), 1 where
/// not. A build check: without it the kernels run serially and nothing else would tell.
int kernel_threads_reached();

}  // namespace lmlab::nn
