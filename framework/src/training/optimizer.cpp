#include "training/optimizer.hpp"

#include <cmath>
#include <numbers>
#include <unordered_set>

#include <torch/nn/modules/embedding.h>

#include "training/fused_adamw.hpp"

namespace lmlab {

std::unique_ptr<torch::optim::AdamW> make_optimizer(torch::nn::Module& model, const TrainSection& train) {
  std::unordered_set<const void*> embedding_weights;
  // include_self=false: the model need not be held by a shared_ptr (a test's stack module).
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (module->as<torch::nn::Embedding>()) {
      for (const auto& p : module->parameters(/*recurse=*/false)) embedding_weights.insert(p.unsafeGetTensorImpl());
    }
  }
  std::vector<at::Tensor> decayed, plain;
  std::unordered_set<const void*> seen;
  for (const auto& p : model.parameters()) {
    if (!p.requires_grad() || !seen.insert(p.unsafeGetTensorImpl()).second) continue;
    bool decay = true;
    if (embedding_weights.count(p.unsafeGetTensorImpl())) decay = train.decay_embeddings;
    else if (p.dim() < 2) decay = train.decay_norms_and_biases;
    (decay ? decayed : plain).push_back(p);
  }
  auto options = [&](double weight_decay) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(train.lr);
    o->betas({train.beta1, train.beta2}).eps(train.eps).weight_decay(weight_decay);
    return o;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decayed.empty()) groups.emplace_back(decayed, options(train.weight_decay));
  if (!plain.empty()) groups.emplace_back(plain, options(0.0));
  return std::make_unique<FusedAdamW>(groups, torch::optim::AdamWOptions(train.lr));
}

double learning_rate(const TrainSection& train, std::int64_t step) {
  if (train.warmup > 0 && step <= train.warmup) return train.lr * static_cast<double>(step) / train.warmup;
  if (train.schedule == "constant") return train.lr;
  const double span = std::max<std::int64_t>(1, train.steps - train.warmup);
  const double progress = std::clamp(static_cast<double>(step - train.warmup) / span, 0.0, 1.0);
  const double floor = train.lr * train.min_lr_ratio;
  const double shape = train.schedule == "linear" ? 1.0 - progress : 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return floor + (train.lr - floor) * shape;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace lmlab
