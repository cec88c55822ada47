#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "generated/test_paths.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/error.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/regulariser.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

using Catch::Matchers::Contains;
using lmlab::test::MessageContains;

namespace {


const lmlab::Registry& plugins() { return lmlab::test::builtin_plugins(); }

std::shared_ptr<lmlab::Objective> make_objective(std::int64_t vocab) {
  const toml::table resolved = lmlab::resolve_plugin<lmlab::Objective>(plugins(), "causal_lm", {}, "objective");
  return lmlab::make_plugin<lmlab::Objective>(plugins(), "causal_lm", resolved,
                                              lmlab::ObjectiveContext{vocab, nullptr, {}});
}

// Fixed next-token logits for each of 3 tokens: a bigram table.
const std::vector<std::vector<double>> bigram = {{1.0, 2.0, 0.0}, {0.0, 0.5, 3.0}, {2.0, 1.0, 1.0}};

/// A bigram model: the logits at a position are the (learnable) row of its token. Remembers its
/// last input, and can answer in another dtype.
class Bigram final : public lmlab::Architecture {
 public:
  explicit Bigram(at::ScalarType dtype = at::kFloat) : dtype_(dtype) {
    at::Tensor t = at::empty({3, 3});
    for (std::int64_t i = 0; i < 3; ++i) {
      for (std::int64_t j = 0; j < 3; ++j) t[i][j] = bigram[i][j];
    }
    table = register_parameter("table", t);
  }
  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    last_input = input.tokens;
    return {at::embedding(table, input.tokens).to(dtype_)};  // (B, T, V)
  }
  std::int64_t context_length() const override { return 64; }
  lmlab::Capabilities capabilities() const override { return {.generates = true}; }
  lmlab::Accounting accounting() const override { return {9, 0, 0.0}; }

  at::Tensor table, last_input;

 private:
  at::ScalarType dtype_;
};

/// -log softmax(bigram[from])[to], by hand.
double nll(std::int64_t from, std::int64_t to) {
  const auto& row = bigram[static_cast<std::size_t>(from)];
  return std::log(std::exp(row[0]) + std::exp(row[1]) + std::exp(row[2])) - row[static_cast<std::size_t>(to)];
}

}  // namespace

TEST_CASE("causal_lm: loss is the mean next-token cross-entropy", "[causal_lm]") {
  Bigram model;
  const auto objective = make_objective(3);
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
  const auto objective = make_objective(3);
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
  const auto objective = make_objective(3);
  const lmlab::LossOutput out = objective->compute(model, at::tensor({0, 1, 2}, at::kLong).view({1, 3}));
  CHECK(out.loss.scalar_type() == at::kFloat);
  CHECK(out.logits.scalar_type() == at::kFloat);
  // The table's values are exact in bf16, so the loss matches the float32 hand computation.
  CHECK(out.loss.item<double>() == Approx((nll(0, 1) + nll(1, 2)) / 2).epsilon(1e-6));
}

TEST_CASE("causal_lm: malformed blocks and logits are refused", "[causal_lm]") {
  Bigram model;
  CHECK_THROWS_WITH(make_objective(3)->compute(model, at::tensor({0, 1, 2}, at::kLong)), Contains("(B, T+1)"));
  CHECK_THROWS_WITH(make_objective(3)->compute(model, at::zeros({1, 1}, at::kLong)), Contains("T >= 1"));
  CHECK_THROWS_WITH(make_objective(5)->compute(model, at::zeros({1, 2}, at::kLong)), Contains("(B, T, 5)"));
  CHECK_THROWS_MATCHES(make_objective(0), lmlab::PluginError, MessageContains("vocabulary size"));
  CHECK_THROWS_AS(lmlab::resolve_plugin<lmlab::Objective>(plugins(), "causal_lm", toml::table{{"smoothing", 0.1}}, "o"),
                  lmlab::ConfigError);
}

namespace {
std::shared_ptr<lmlab::Regulariser> clip_with(const toml::table& options) {
  const toml::table resolved =
      lmlab::resolve_plugin<lmlab::Regulariser>(plugins(), "grad_clip", options, "regularisers.grad_clip");
  return lmlab::make_plugin<lmlab::Regulariser>(plugins(), "grad_clip", resolved, lmlab::RegulariserContext{});
}
}  // namespace

// grad_clip acts on the gradients of this objective's loss, whose values are known by hand here.
TEST_CASE("grad_clip: rescales the global gradient norm to max_norm, only when above it", "[grad_clip]") {
  auto make_clip = [](double max_norm) { return clip_with(toml::table{{"max_norm", max_norm}}); };
  // One pair 0 -> 1: the gradient is softmax(bigram[0]) - onehot(1) in row 0, zero elsewhere.
  const at::Tensor p = at::softmax(at::tensor({1.0, 2.0, 0.0}), -1);
  const at::Tensor full = (p - at::tensor({0.0, 1.0, 0.0})).to(at::kFloat);
  const double norm = full.norm().item<double>();
  REQUIRE(norm > 0.1);

  Bigram model;
  make_objective(3)->compute(model, at::tensor({0, 1}, at::kLong).view({1, 2})).loss.backward();
  make_clip(0.1)->before_step(model, {});
  CHECK(model.table.grad().norm().item<double>() == Approx(0.1).epsilon(1e-4));
  CHECK(at::allclose(model.table.grad()[0], full * (0.1 / norm), 1e-4, 1e-6));

  Bigram loose;
  make_objective(3)->compute(loose, at::tensor({0, 1}, at::kLong).view({1, 2})).loss.backward();
  make_clip(10.0)->before_step(loose, {});
  CHECK(at::allclose(loose.table.grad()[0], full));

  CHECK_THROWS_MATCHES(make_clip(0.0), lmlab::ConfigError, MessageContains("regularisers.grad_clip.max_norm"));
}

TEST_CASE("grad_clip: mode = value clamps each gradient element, leaving smaller ones", "[grad_clip]") {
  // Row 0 of the gradient is p - onehot(1) with p = softmax(1, 2, 0): about (0.245, -0.335, 0.090).
  const at::Tensor p = at::softmax(at::tensor({1.0, 2.0, 0.0}), -1);
  const at::Tensor full = (p - at::tensor({0.0, 1.0, 0.0})).to(at::kFloat);
  Bigram model;
  make_objective(3)->compute(model, at::tensor({0, 1}, at::kLong).view({1, 2})).loss.backward();
  clip_with(toml::table{{"mode", "value"}, {"max_value", 0.1}})->before_step(model, {});
  CHECK(at::allclose(model.table.grad()[0], at::tensor({0.1f, -0.1f, full[2].item<float>()})));
  CHECK(model.table.grad()[1].abs().sum().item<double>() == 0.0);
  CHECK_THROWS_MATCHES(clip_with(toml::table{{"mode", "elementwise"}}), lmlab::ConfigError,
                       MessageContains("accepted: norm, value"));
}
