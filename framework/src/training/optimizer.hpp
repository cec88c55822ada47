/// AdamW with decoupled weight decay on weight matrices only, and the warmup + decay schedule.
#pragma once
#include <cstdint>
#include <memory>

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include "experiment/experiment.hpp"

namespace lmlab {

/// AdamW over `model`'s parameters in two groups: decayed (weight matrices) and not decayed
/// (embeddings, norms and biases, unless train.decay_embeddings / decay_norms_and_biases).
/// Parameters shared between modules (tied embeddings) appear once. The update is FusedAdamW's
/// single pass (training/fused_adamw.hpp).
std::unique_ptr<torch::optim::AdamW> make_optimizer(torch::nn::Module& model, const TrainSection& train);

/// Learning rate for optimizer step `step` (1-based): linear warmup from lr/warmup to lr over
/// `warmup` steps, then cosine or linear decay to lr * min_lr_ratio at `steps`, or constant.
double learning_rate(const TrainSection& train, std::int64_t step);

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace lmlab
