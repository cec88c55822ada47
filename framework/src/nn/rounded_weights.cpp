#include "nn/rounded_weights.hpp"

#include <cstdint>
#include <unordered_map>

#include <ATen/ATen.h>

namespace lmlab::nn {

struct RoundedWeightScope::Cache {
  struct Entry {
    at::Tensor weight;  // held, so that no other tensor takes its address while the scope lives
    std::int64_t version = -1;
    at::Tensor rounded;  // float32
  };
  std::unordered_map<const void*, Entry> entries;
};

namespace {

thread_local RoundedWeightScope::Cache* t_rounded_weights = nullptr;

at::Tensor round_to_bf16(const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); }

}  // namespace

RoundedWeightScope::RoundedWeightScope() {
  if (t_rounded_weights) return;
  cache_ = std::make_unique<Cache>();
  t_rounded_weights = cache_.get();
}

RoundedWeightScope::~RoundedWeightScope() {
  if (cache_) t_rounded_weights = nullptr;
}

at::Tensor rounded_weight(const at::Tensor& weight) {
  if (!t_rounded_weights) return round_to_bf16(weight);
  auto& entry = t_rounded_weights->entries[weight.unsafeGetTensorImpl()];
  const auto version = static_cast<std::int64_t>(weight._version());
  if (!entry.rounded.defined() || entry.version != version) {
    entry.weight = weight;
    entry.version = version;
    entry.rounded = round_to_bf16(weight);
  }
  return entry.rounded;
}

}  // namespace lmlab::nn
