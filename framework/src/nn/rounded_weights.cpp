#include "nn/rounded_weights.hpp"

#include <cstdint>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <ATen/ATen.h>

namespace lmlab::nn {

struct RoundedWeightScope::Cache {
  struct Entry {
    at::Tensor weight;  // held, so that no other tensor takes its address while the scope lives
    std::int64_t version = -1;
    at::Tensor bf16;     // the rounded weight in bf16
    at::Tensor rounded;  // the same values in float32, made on first use
  };
  std::unordered_map<const void*, Entry> entries;
  struct Stack {
    std::vector<at::Tensor> parts;  // held, as Entry::weight is
    std::vector<std::int64_t> versions;
    at::Tensor stacked;
  };
  std::map<std::vector<const void*>, Stack> stacks;  // by the parts
  std::unordered_set<const void*> made;                // the stacks made here: no version counter of their own
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

namespace {

// The thread's entry for `weight`, emptied when the weight changed in place since it was filled.
RoundedWeightScope::Cache::Entry& current_entry(const at::Tensor& weight) {
  auto& entry = t_rounded_weights->entries[weight.unsafeGetTensorImpl()];
  // A stack made here (under inference mode) has no version counter; the scope replaces a stack
  // rather than changing it.
  const bool made_here = t_rounded_weights->made.count(weight.unsafeGetTensorImpl()) > 0;
  const auto version = made_here ? 0 : static_cast<std::int64_t>(weight._version());
  if (!entry.bf16.defined() || entry.version != version) {
    entry.weight = weight;
    entry.version = version;
    entry.bf16 = weight.to(at::kBFloat16);
    entry.rounded = at::Tensor();
  }
  return entry;
}

}  // namespace

at::Tensor rounded_weight(const at::Tensor& weight) {
  if (!t_rounded_weights) return round_to_bf16(weight);
  auto& entry = current_entry(weight);
  if (!entry.rounded.defined()) entry.rounded = entry.bf16.to(at::kFloat);
  return entry.rounded;
}

at::Tensor bf16_weight(const at::Tensor& weight) {
  if (!t_rounded_weights) return weight.to(at::kBFloat16);
  return current_entry(weight).bf16;
}

at::Tensor stacked_weight(const std::vector<at::Tensor>& parts) {
  if (!t_rounded_weights) return at::cat(parts, 0);  // (sum C_out_i, C_in) or (sum C_out_i)
  std::vector<const void*> key;
  for (const at::Tensor& p : parts) key.push_back(p.unsafeGetTensorImpl());
  auto& stack = t_rounded_weights->stacks[key];
  bool current = stack.stacked.defined() && stack.parts.size() == parts.size();
  for (std::size_t i = 0; current && i < parts.size(); ++i) {
    current = stack.parts[i].is_same(parts[i]) && stack.versions[i] == static_cast<std::int64_t>(parts[i]._version());
  }
  if (!current) {
    // The replaced stack's address may be reused by another tensor once it is freed.
    if (stack.stacked.defined()) t_rounded_weights->made.erase(stack.stacked.unsafeGetTensorImpl());
    stack.parts = parts;
    stack.versions.clear();
    for (const at::Tensor& p : parts) stack.versions.push_back(static_cast<std::int64_t>(p._version()));
    stack.stacked = at::cat(parts, 0);  // (sum C_out_i, C_in) or (sum C_out_i)
    t_rounded_weights->made.insert(stack.stacked.unsafeGetTensorImpl());
  }
  return stack.stacked;
}

bool rounded_weight_scope_open() { return t_rounded_weights != nullptr; }

}  // namespace lmlab::nn
