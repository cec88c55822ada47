// unlikelihood_token: the candidate sets and the loss on a worked example, its gradient, and
// that it lowers the probability of repeating the context.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace unlikelihood_token_tests {

using lmlab::test::RecordingModel;

namespace {

std::shared_ptr<lmlab::Objective> make(std::int64_t vocab, const toml::table& options = {}) {
  return lmlab::test::make_objective("unlikelihood_token", options, vocab);
}

}  // namespace

TEST_CASE("unlikelihood_token: a worked example, candidates counted once and the target left out",
          "[unlikelihood_token]") {
  // a b a c over a 4-token vocabulary (a = 0, b = 1, c = 2). The candidates:
  //   t = 0: context {a}, target b         -> {a}
  //   t = 1: context {a, b}, target a      -> {b}        (the target is not a candidate)
  //   t = 2: context {a, b, a}, target c   -> {a, b}     (a once, though it occurred twice)
  // With all-zero logits p = 1/4 everywhere: likelihood 3 log 4, unlikelihood 4 * -log(3/4).
  const at::Tensor block = at::tensor({0, 1, 0, 2}, at::kLong).unsqueeze(0);
  RecordingModel model(4, {.generates = true}, at::kDouble);
  const auto objective = make(4, toml::table{{"alpha", 0.5}});
  const lmlab::LossOutput out = objective->compute(model, block);
  const double expected = (3 * std::log(4.0) + 0.5 * 4 * -std::log(0.75)) / 3;
  CHECK(out.tokens == 3);
  CHECK(out.loss.item<double>() == Approx(expected).epsilon(1e-6));
  CHECK(out.nll_sum.item<double>() == Approx(3 * std::log(4.0)).epsilon(1e-6));  // perplexity ignores the penalty
  CHECK(at::equal(out.targets, at::tensor({1, 0, 2}, at::kLong).unsqueeze(0)));
  // The two terms, unweighted per-token means, as declared: loss = mle + alpha * ul.
  CHECK(objective->components() == std::vector<std::string>{"mle", "ul"});
  REQUIRE(out.components.size() == 2);
  CHECK(out.components[0].name == "mle");
  CHECK(out.components[0].value.item<double>() == Approx(std::log(4.0)).epsilon(1e-6));
  CHECK(out.components[1].name == "ul");
  CHECK(out.components[1].value.item<double>() == Approx(4 * -std::log(0.75) / 3).epsilon(1e-6));
  // The gradient against central finite differences, on a logit in both terms: after a, b.
  out.loss.backward();
  const double analytic = model.table.grad()[0][1].item<double>();
  auto loss_at = [&](double value) {
    at::NoGradGuard no_grad;
    model.table[0][1] = value;
    return objective->compute(model, block).loss.item<double>();
  };
  CHECK(analytic == Approx((loss_at(1e-3) - loss_at(-1e-3)) / 2e-3).margin(1e-6));
}

TEST_CASE("unlikelihood_token: alpha = 0 is causal LM; a sure candidate costs at most -log(min_complement)",
          "[unlikelihood_token]") {
  const at::Tensor block = at::tensor({0, 1, 0, 2}, at::kLong).unsqueeze(0);
  RecordingModel model(4, {.generates = true});
  CHECK(make(4, toml::table{{"alpha", 0.0}})->compute(model, block).loss.item<double>() ==
        Approx(std::log(4.0)).epsilon(1e-6));
  {
    at::NoGradGuard no_grad;
    model.table[0][0] = 100.0;  // after a, the model is sure of a: candidate a at t = 0 and t = 2
  }
  const lmlab::LossOutput out = make(4, toml::table{{"alpha", 1.0}, {"min_complement", 1e-3}})->compute(model, block);
  CHECK(std::isfinite(out.loss.item<double>()));
  CHECK(out.loss.item<double>() < (out.nll_sum.item<double>() + 2 * -std::log(1e-3) + 1.0) / 3);
}

TEST_CASE("unlikelihood_token: lowers the probability of repeating the context", "[unlikelihood_token]") {
  // A text that repeats itself: likelihood training learns to repeat; with the penalty, the
  // probability mass on tokens already in the context is lower.
  const std::int64_t V = lmlab::ByteTokenizer::byte_vocab_size;
  const at::Tensor block = at::arange(33, at::kLong).remainder(4).add(97).expand({8, 33}).contiguous();
  auto repeated_mass = [&](double alpha) {
    at::manual_seed(5);
    const auto model = lmlab::test::make_model("causal_decoder", toml::table{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}}, V, 32);
    const auto objective = make(V, toml::table{{"alpha", alpha}});
    lmlab::test::train_on(*objective, *model, block, 30, 1e-2);
    model->eval();
    at::NoGradGuard no_grad;
    const at::Tensor p = at::softmax(model->forward({block.narrow(1, 0, 32)}).logits, -1);  // (B, T, V)
    return p.narrow(-1, 97, 4).sum(-1).mean().item<double>();  // mass on the four bytes of the context
  };
  const double mle = repeated_mass(0.0), ul = repeated_mass(1.0);
  INFO("repeated mass: mle " << mle << ", unlikelihood " << ul);
  CHECK(ul < mle);
}

}  // namespace unlikelihood_token_tests
