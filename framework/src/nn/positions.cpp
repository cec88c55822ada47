#include "lmlab/nn/positions.hpp"

#include <cmath>
#include <vector>

#include <ATen/ATen.h>

namespace lmlab::nn {

at::Tensor position_ids(const at::Tensor& valid, const at::Tensor& start, std::int64_t batch, std::int64_t length,
                        const at::Device& device) {
  at::Tensor ids;
  if (valid.defined()) {
    ids = (valid.to(at::kLong).cumsum(1) - 1).clamp_min(0);  // (B, T)
  } else {
    ids = at::arange(length, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0).expand({batch, length});  // (B, T)
  }
  if (start.defined()) ids = ids + start.to(at::kLong).unsqueeze(1);  // (B, T)
  return ids;
}

namespace {

// base^(-2i/dim) for i < dim/2: the angular frequency of each channel pair.
at::Tensor frequencies(std::int64_t dim, double base, const at::Device& device) {
  const at::Tensor i = at::arange(0, dim, 2, at::TensorOptions().dtype(at::kFloat).device(device));  // (dim/2)
  return at::exp(i * (-std::log(base) / static_cast<double>(dim)));                             // (dim/2)
}

}  // namespace

at::Tensor sinusoidal_embeddings(const at::Tensor& positions, std::int64_t dim) {
  const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * frequencies(dim, 10000.0, positions.device());  // (B, T, C/2)
  return at::stack({angles.sin(), angles.cos()}, -1).flatten(-2);  // (B, T, C): sin, cos interleaved
}

RotaryTables rotary_tables(const at::Tensor& positions, std::int64_t head_dim, double base) {
  const at::Tensor angles =
      positions.to(at::kFloat).unsqueeze(-1) * frequencies(head_dim, base, positions.device());  // (B, T, D/2)
  return {angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)};                                  // (B, 1, T, D/2)
}

at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& tables) {
  const std::int64_t half = x.size(-1) / 2;
  const at::Tensor xf = x.to(at::kFloat);         // (B, H, T, D)
  const at::Tensor x1 = xf.narrow(-1, 0, half);   // (B, H, T, D/2)
  const at::Tensor x2 = xf.narrow(-1, half, half);  // (B, H, T, D/2)
  const at::Tensor rotated = at::cat({x1 * tables.cos - x2 * tables.sin, x1 * tables.sin + x2 * tables.cos}, -1);  // (B, H, T, D)
  return rotated.to(x.scalar_type());  // (B, H, T, D)
}

namespace {

std::vector<double> power_of_two_slopes(std::int64_t n) {
  const double start = std::pow(2.0, -8.0 / static_cast<double>(n));
  std::vector<double> out;
  for (std::int64_t i = 1; i <= n; ++i) out.push_back(std::pow(start, static_cast<double>(i)));
  return out;
}

}  // namespace

at::Tensor alibi_slopes(std::int64_t n_heads) {
  std::int64_t closest = 1;
  while (closest * 2 <= n_heads) closest *= 2;
  std::vector<double> slopes = power_of_two_slopes(closest);
  if (closest < n_heads) {
    const std::vector<double> finer = power_of_two_slopes(2 * closest);
    for (std::int64_t i = 0; i < n_heads - closest; ++i) slopes.push_back(finer[static_cast<std::size_t>(2 * i)]);
  }
  return at::tensor(slopes, at::kDouble).to(at::kFloat);  // (H)
}

at::Tensor alibi_bias(const at::Tensor& slopes, const at::Tensor& query_positions, const at::Tensor& key_positions) {
  const at::Tensor distance =
      (query_positions.unsqueeze(2) - key_positions.unsqueeze(1)).abs().to(at::kFloat);  // (B, T, S)
  return -slopes.to(distance.device()).view({1, -1, 1, 1}) * distance.unsqueeze(1);    // (B, H, T, S)
}

}  // namespace lmlab::nn
