/// bf16-rounded float32 copies of weights, and stacks of projection weights, kept while a
/// generation runs. Under CPU bf16 autocast
/// with the float32-kernel products (nn/cpu_bf16_products.hpp), every product rounds its weight to
/// bf16 first; in training the weight changes every step, but while decoding it does not, and a
/// step of a few rows would otherwise spend more time rounding its weights than multiplying
/// them. Host-internal: generation opens the scope, lmlab::nn::linear reads it.
#pragma once
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lmlab::nn {

/// While one lives on a thread, rounded_weight() on that thread caches what it rounds. Weights must
/// not change while it lives (a version bump is caught and rounds afresh). Nested scopes share the
/// outer one's cache.
class RoundedWeightScope {
 public:
  RoundedWeightScope();
  ~RoundedWeightScope();
  RoundedWeightScope(const RoundedWeightScope&) = delete;
  RoundedWeightScope& operator=(const RoundedWeightScope&) = delete;

  struct Cache;

 private:
  std::unique_ptr<Cache> cache_;  // null when an outer scope holds the thread's cache
};

/// `weight` (float32 or bf16) rounded to bf16 and held in float32: from the cache when a scope is
/// open on this thread, else computed.
at::Tensor rounded_weight(const at::Tensor& weight);

/// `weight` as a bf16 tensor: from the cache when a scope is open on this thread, else computed.
at::Tensor bf16_weight(const at::Tensor& weight);

/// The rows of `parts` (each (C_out_i, C_in), or 1-D biases) stacked into one tensor, as one
/// product of several projections reads them: held while a scope is open on this thread (a part
/// replaced or changed in place is stacked afresh), else computed. Decoding's q, k and v then take
/// one product per layer and token instead of three, without copying the weights every token.
/// The parts must track versions (not inference tensors).
at::Tensor stacked_weight(const std::vector<at::Tensor>& parts);

/// True while a RoundedWeightScope is open on this thread (a generation is running on it).
bool rounded_weight_scope_open();

}  // namespace lmlab::nn
