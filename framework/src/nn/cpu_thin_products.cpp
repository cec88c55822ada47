#include "nn/cpu_thin_products.hpp"

#include <atomic>
#include <bit>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "nn/cpu_autocast.hpp"
#include "nn/cpu_blas.hpp"

namespace lmlab::nn {

namespace {

// Columns are handed out in blocks of a whole AVX-512 register of floats, and a thread gets at
// least this many: fewer and starting it costs more than the bandwidth it adds.
constexpr std::int64_t column_block = 16;
constexpr std::int64_t min_columns_per_thread = 64;

bool dense_float32(const at::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

}  // namespace

bool thin_product_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!cpu_blas_built() || blas_has_own_threads()) return false;
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() < 1 || x.numel() == 0) return false;
  if (weight.dim() != 2 || !dense_float32(weight) || weight.size(1) != x.size(-1)) return false;
  if (bias.defined() && (bias.dim() != 1 || !dense_float32(bias) || bias.size(0) != weight.size(0))) return false;
  if (x.numel() / x.size(-1) > thin_product_max_rows || weight.size(0) < 2 * min_columns_per_thread) return false;
  if (c10::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()))) {
    return false;
  }
  return !cpu_autocast_enabled() && at::get_num_threads() > 1 && !at::in_parallel_region();
}

at::Tensor thin_product(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const std::int64_t K = weight.size(1), N = weight.size(0);
  const at::Tensor rows = x.reshape({-1, K}).contiguous();  // (M, C_in)
  const std::int64_t M = rows.size(0);
  // With a bias, each output starts as it and the product is added (beta = 1). A copy, always:
  // expand(...).contiguous() of one row would be the bias itself, and BLAS would write into it.
  at::Tensor y = at::empty({M, N}, rows.options());  // (M, C_out)
  if (bias.defined()) y.copy_(bias.expand({M, N}));
  const float beta = bias.defined() ? 1.f : 0.f;
  const float* a = rows.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const std::int64_t blocks = (N + column_block - 1) / column_block;
  at::parallel_for(0, blocks, min_columns_per_thread / column_block, [&](std::int64_t begin, std::int64_t end) {
    const std::int64_t first = begin * column_block, last = std::min(N, end * column_block);
    gemm_rows(false, true, M, last - first, K, 1.f, a, K, w + first * K, K, beta, out + first, N);  // (M, cols)
  });
  auto sizes = x.sizes().vec();
  sizes.back() = N;
  return y.view(sizes);  // (..., C_out)
}

int kernel_threads_reached() {
  std::atomic<std::uint64_t> seen{0};
  at::parallel_for(0, 64 * at::get_num_threads(), 1, [&](std::int64_t, std::int64_t) {
    seen.fetch_or(std::uint64_t{1} << (at::get_thread_num() % 64));
  });
  return std::popcount(seen.load());
}

}  // namespace lmlab::nn
