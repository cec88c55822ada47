/// T5's relative position bias (Raffel et al. 2020, section 2.1): a learned scalar per head and
/// per bucket of key-minus-query distance, added to the attention scores. Buckets are exact for
/// short distances and logarithmic up to a maximum distance; bidirectional stacks give keys
/// before and after the query separate buckets. One table serves every layer of a stack.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

namespace lmlab::nn {

/// The bucket of each relative position (key position - query position), as T5 computes it:
/// with `bidirectional`, half the buckets are for keys after the query; without, keys after
/// the query share bucket 0. Half of the (remaining) buckets are exact distances, the rest
/// logarithmic up to `max_distance`, beyond which everything shares the last bucket.
at::Tensor relative_position_buckets(const at::Tensor& relative, bool bidirectional, std::int64_t num_buckets,
                                     std::int64_t max_distance);  // any shape, int64 -> same shape, int64

class RelativePositionBiasImpl : public torch::nn::Module {
 public:
  RelativePositionBiasImpl(std::int64_t n_heads, std::int64_t num_buckets, std::int64_t max_distance,
                           bool bidirectional);

  /// The bias of each head for each query and key.
  at::Tensor forward(const at::Tensor& query_positions,
                     const at::Tensor& key_positions);  // (B, T), (B, S) -> (B, H, T, S) float

  torch::nn::Embedding table{nullptr};  // (buckets, H)

 private:
  std::int64_t num_buckets_, max_distance_;
  bool bidirectional_;
};
TORCH_MODULE(RelativePositionBias);

}  // namespace lmlab::nn
