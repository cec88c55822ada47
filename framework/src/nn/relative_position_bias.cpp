#include "lmlab/nn/relative_position_bias.hpp"

#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace lmlab::nn {

at::Tensor relative_position_buckets(const at::Tensor& relative, bool bidirectional, std::int64_t num_buckets,
                                     std::int64_t max_distance) {
  at::Tensor bucket = at::zeros_like(relative);  // (...)
  at::Tensor distance;                           // (...)
  if (bidirectional) {
    num_buckets /= 2;
    bucket = bucket + relative.gt(0).to(at::kLong) * num_buckets;  // (...): keys after the query, the upper half
    distance = relative.abs();                                      // (...)
  } else {
    distance = (-relative).clamp_min(0);  // (...): keys after the query (never seen by a causal query) share bucket 0
  }
  const std::int64_t exact = num_buckets / 2;
  if (max_distance <= exact) {
    throw std::invalid_argument(fmt::format("relative position buckets: max_distance {} must exceed the {} exact "
                                            "distances",
                                            max_distance, exact));
  }
  // Distances from `exact` to `max_distance` spread logarithmically over the other half.
  const at::Tensor scaled = at::log(distance.to(at::kFloat).clamp_min(1) / static_cast<double>(exact)) /
                            std::log(static_cast<double>(max_distance) / static_cast<double>(exact)) *
                            static_cast<double>(num_buckets - exact);                  // (...)
  const at::Tensor logarithmic = (scaled.to(at::kLong) + exact).clamp_max(num_buckets - 1);  // (...)
  return bucket + at::where(distance.lt(exact), distance, logarithmic);                    // (...)
}

RelativePositionBiasImpl::RelativePositionBiasImpl(std::int64_t n_heads, std::int64_t num_buckets,
                                                   std::int64_t max_distance, bool bidirectional)
    : num_buckets_(num_buckets), max_distance_(max_distance), bidirectional_(bidirectional) {
  table = register_module("table", torch::nn::Embedding(num_buckets, n_heads));
}

at::Tensor RelativePositionBiasImpl::forward(const at::Tensor& query_positions, const at::Tensor& key_positions) {
  const at::Tensor relative = key_positions.unsqueeze(1) - query_positions.unsqueeze(2);  // (B, T, S)
  const at::Tensor buckets = relative_position_buckets(relative, bidirectional_, num_buckets_, max_distance_);  // (B, T, S)
  return table(buckets).permute({0, 3, 1, 2}).to(at::kFloat);  // (B, H, T, S)
}

}  // namespace lmlab::nn
