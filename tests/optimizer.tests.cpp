// AdamW's parameter groups and the learning-rate schedule.
#include "support/catch.hpp"

#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "training/optimizer.hpp"

namespace optimizer_tests {

namespace {

// Embedding, a matrix with a bias, a norm, and the embedding's weight used again (tied).
struct Toy : torch::nn::Module {
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  Toy() {
    embed = register_module("embed", torch::nn::Embedding(10, 4));
    proj = register_module("proj", torch::nn::Linear(4, 4));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
    register_parameter("tied", embed->weight, true);
  }
};

std::int64_t count(const torch::optim::OptimizerParamGroup& g) {
  std::int64_t n = 0;
  for (const auto& p : g.params()) n += p.numel();
  return n;
}

double weight_decay(const torch::optim::OptimizerParamGroup& g) {
  return static_cast<const torch::optim::AdamWOptions&>(g.options()).weight_decay();
}

}  // namespace

TEST_CASE("weight decay applies to matrices only, each parameter once") {
  Toy toy;
  lmlab::TrainSection train;
  train.weight_decay = 0.1;
  auto optimizer = lmlab::make_optimizer(toy, train);
  REQUIRE(optimizer->param_groups().size() == 2);
  const auto& decayed = optimizer->param_groups()[0];
  const auto& plain = optimizer->param_groups()[1];
  CHECK(weight_decay(decayed) == 0.1);
  CHECK(weight_decay(plain) == 0.0);
  CHECK(count(decayed) == 16);           // proj.weight
  CHECK(count(plain) == 40 + 4 + 4 + 4);  // embedding (once, though tied), proj.bias, norm weight and bias

  train.decay_embeddings = true;
  train.decay_norms_and_biases = true;
  auto all_decayed = lmlab::make_optimizer(toy, train);
  REQUIRE(all_decayed->param_groups().size() == 1);
  CHECK(count(all_decayed->param_groups()[0]) == 16 + 52);
}

TEST_CASE("the schedule warms up linearly, then decays to lr * min_lr_ratio") {
  lmlab::TrainSection t;
  t.lr = 1.0;
  t.warmup = 10;
  t.steps = 110;
  t.min_lr_ratio = 0.1;
  CHECK(lmlab::learning_rate(t, 1) == Approx(0.1));
  CHECK(lmlab::learning_rate(t, 10) == Approx(1.0));
  t.schedule = "cosine";
  CHECK(lmlab::learning_rate(t, 60) == Approx(0.55));  // half way: floor + (1 - floor) / 2
  CHECK(lmlab::learning_rate(t, 110) == Approx(0.1));
  t.schedule = "linear";
  CHECK(lmlab::learning_rate(t, 35) == Approx(0.1 + 0.9 * 0.75));
  CHECK(lmlab::learning_rate(t, 110) == Approx(0.1));
  t.schedule = "constant";
  CHECK(lmlab::learning_rate(t, 100) == Approx(1.0));

  Toy toy;
  auto optimizer = lmlab::make_optimizer(toy, t);
  lmlab::set_learning_rate(*optimizer, 0.25);
  for (auto& g : optimizer->param_groups()) CHECK(g.options().get_lr() == 0.25);
}

}  // namespace optimizer_tests
