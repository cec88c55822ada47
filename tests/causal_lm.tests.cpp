// causal_lm: the mean next-token cross-entropy of a bigram model whose logits are known by hand,
// its gradient, its float32 scoring of reduced-precision logits, and the blocks it refuses.
#include <cmath>
#include <cstdint>

#include <ATen/ATen.h>

#include "lmlab/error.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/bigram_model.hpp"
#include "support/test_support.hpp"

namespace causal_lm_tests {

using Catch::Matchers::Contains;
using lmlab::test::Bigram;
using lmlab::test::bigram;
using lmlab::test::make_causal_lm;
using lmlab::test::MessageContains;

namespace {

const lmlab::Registry& plugins() { return lmlab::test::builtin_plugins(); }

/// -log softmax(bigram[from])[to], by hand.
double nll(std::int64_t from, std::int64_t to) {
  const auto& row = bigram[static_cast<std::size_t>(from)];
  return std::log(std::exp(row[0]) + std::exp(row[1]) + std::exp(row[2])) - row[static_cast<std::size_t>(to)];
}

}  // namespace

TEST_CASE("causal_lm: loss is the mean next-token cross-entropy", "[causal_lm]") {
  Bigram model;
  const auto objective = make_causal_lm(3);
  const at::Tensor block = at::tensor({0, 1, 2, 2, 2, 0}, at::kLong).view({2, 3});  // (B, T+1)
  const lmlab::LossOutput out = objective->compute(model, block);

  // The model saw the block less its last column.
  CHECK(at::equal(model.last_input, at::tensor({0, 1, 2, 2}, at::kLong).view({2, 2})));
  // Pairs (input -> target): 0->1, 1->2, 2->2, 2->0.
  const double total = nll(0, 1) + nll(1, 2) + nll(2, 2) + nll(2, 0);
  CHECK(out.tokens == 4);
  CHECK(out.nll_sum.item<double>() == Approx(total).epsilon(1e-6));
  CHECK(out.loss.item<double>() == Approx(total / 4).epsilon(1e-6));
  // Argmax of rows 0, 1, 2 is 1, 2, 0: right for 0->1, 1->2 and 2->0, wrong for 2->2.
  CHECK(out.correct.item<std::int64_t>() == 3);
  CHECK(out.logits.sizes() == at::IntArrayRef{2, 2, 3});
  CHECK(out.loss.dim() == 0);
  // The target of each logits position, for regularisers that read them (label smoothing).
  CHECK(at::equal(out.targets, at::tensor({1, 2, 2, 0}, at::kLong).view({2, 2})));
}

TEST_CASE("causal_lm: the loss trains the model, the counts do not", "[causal_lm]") {
  Bigram model;
  const auto objective = make_causal_lm(3);
  const lmlab::LossOutput out = objective->compute(model, at::tensor({0, 1}, at::kLong).view({1, 2}));
  CHECK(out.loss.requires_grad());
  CHECK_FALSE(out.nll_sum.requires_grad());
  out.loss.backward();
  // d loss / d logits of row 0 = softmax - onehot(1), only row 0 was used.
  const at::Tensor p = at::softmax(at::tensor({1.0, 2.0, 0.0}), -1);
  const at::Tensor expected = p - at::tensor({0.0, 1.0, 0.0});
  CHECK(at::allclose(model.table.grad()[0], expected.to(at::kFloat)));
  CHECK(model.table.grad()[1].abs().sum().item<double>() == 0.0);
}

TEST_CASE("causal_lm: reduced-precision logits are scored in float32", "[causal_lm]") {
  Bigram model(at::kBFloat16);
  const auto objective = make_causal_lm(3);
  const lmlab::LossOutput out = objective->compute(model, at::tensor({0, 1, 2}, at::kLong).view({1, 3}));
  CHECK(out.loss.scalar_type() == at::kFloat);
  CHECK(out.logits.scalar_type() == at::kFloat);
  // The table's values are exact in bf16, so the loss matches the float32 hand computation.
  CHECK(out.loss.item<double>() == Approx((nll(0, 1) + nll(1, 2)) / 2).epsilon(1e-6));
}

TEST_CASE("causal_lm: malformed blocks and logits are refused", "[causal_lm]") {
  Bigram model;
  CHECK_THROWS_WITH(make_causal_lm(3)->compute(model, at::tensor({0, 1, 2}, at::kLong)), Contains("(B, T+1)"));
  CHECK_THROWS_WITH(make_causal_lm(3)->compute(model, at::zeros({1, 1}, at::kLong)), Contains("T >= 1"));
  CHECK_THROWS_WITH(make_causal_lm(5)->compute(model, at::zeros({1, 2}, at::kLong)), Contains("(B, T, 5)"));
  CHECK_THROWS_MATCHES(make_causal_lm(0), lmlab::PluginError, MessageContains("vocabulary size"));
  CHECK_THROWS_AS(lmlab::resolve_plugin<lmlab::Objective>(plugins(), "causal_lm", toml::table{{"smoothing", 0.1}}, "o"),
                  lmlab::ConfigError);
}

}  // namespace causal_lm_tests
