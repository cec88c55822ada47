// label_smoothing: objective + term equals LibTorch's label-smoothed cross-entropy and the
// formula by hand, its gradient matches finite differences, ignored positions play no part.
#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/regulariser.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace label_smoothing_tests {

namespace {

std::shared_ptr<lmlab::Regulariser> make(double epsilon) {
  const auto& plugins = lmlab::test::builtin_plugins();
  const toml::table options{{"epsilon", epsilon}};
  return lmlab::make_plugin<lmlab::Regulariser>(
      plugins, "label_smoothing",
      lmlab::resolve_plugin<lmlab::Regulariser>(plugins, "label_smoothing", options, "regularisers"),
      lmlab::RegulariserContext{10, 0.0});
}

// Five positions over four ids; the fourth predicts nothing.
const std::vector<double> fixed_logits = {1.0, 2.0, 0.5, -1.0,  0.0, 0.0, 0.0, 0.0,  3.0, -2.0, 1.0, 0.5,
                                          -0.5, 0.25, 4.0, 1.0,  2.0, 2.0, -3.0, 0.0};
const std::vector<std::int64_t> fixed_targets = {1, 3, 0, lmlab::ignore_index, 2};

at::Tensor logits_tensor() { return at::tensor(fixed_logits, at::kDouble).view({1, 5, 4}); }                    // (1, 5, 4)
at::Tensor targets_tensor() { return at::tensor(std::vector<std::int64_t>(fixed_targets), at::kLong).view({1, 5}); }  // (1, 5)

}  // namespace

TEST_CASE("label_smoothing: objective + term is the label-smoothed cross-entropy", "[label_smoothing]") {
  const double eps = 0.1;
  const at::Tensor logits = logits_tensor();    // (1, 5, 4)
  const at::Tensor targets = targets_tensor();  // (1, 5)
  lmlab::LossOutput out;
  out.logits = logits;
  out.targets = targets;
  lmlab::test::RecordingModel model(4, {.generates = true});
  const double term = make(eps)->extra_loss(out, model).item<double>();
  // What every objective's loss is: the mean cross-entropy over the predicted positions.
  const double ce = at::cross_entropy_loss(logits.view({5, 4}), targets.view({5}), {}, at::Reduction::Mean,
                                           lmlab::ignore_index)
                        .item<double>();
  const double smoothed = at::cross_entropy_loss(logits.view({5, 4}), targets.view({5}), {}, at::Reduction::Mean,
                                                 lmlab::ignore_index, eps)
                              .item<double>();
  CHECK(ce + term == Approx(smoothed).margin(1e-6));

  // By hand: per predicted position, (1 - eps) (lse - z_y) + eps (lse - mean_v z_v).
  double sum = 0, count = 0;
  for (std::size_t t = 0; t < 5; ++t) {
    if (fixed_targets[t] == lmlab::ignore_index) continue;
    double z = 0, mean = 0;
    for (std::size_t v = 0; v < 4; ++v) {
      z += std::exp(fixed_logits[4 * t + v]);
      mean += fixed_logits[4 * t + v] / 4.0;
    }
    const double lse = std::log(z);
    sum += (1 - eps) * (lse - fixed_logits[4 * t + static_cast<std::size_t>(fixed_targets[t])]) + eps * (lse - mean);
    count += 1;
  }
  CHECK(ce + term == Approx(sum / count).margin(1e-9));
  // epsilon = 0 adds exactly nothing.
  CHECK(make(0.0)->extra_loss(out, model).item<double>() == 0.0);
}

TEST_CASE("label_smoothing: its gradient matches central finite differences; ignored positions get none",
          "[label_smoothing]") {
  const auto smoothing = make(0.3);
  lmlab::test::RecordingModel model(4, {.generates = true});
  const at::Tensor logits = logits_tensor().requires_grad_();  // (1, 5, 4) double: differences good to ~1e-9
  lmlab::LossOutput out;
  out.logits = logits;
  out.targets = targets_tensor();
  smoothing->extra_loss(out, model).backward();
  const at::Tensor grad = logits.grad();  // (1, 5, 4)
  const double h = 1e-5;
  for (std::int64_t t = 0; t < 5; ++t) {
    for (std::int64_t v = 0; v < 4; ++v) {
      auto term_at = [&](double delta) {
        const at::Tensor moved = logits.detach().clone();  // (1, 5, 4)
        moved[0][t][v] += delta;
        lmlab::LossOutput o;
        o.logits = moved;
        o.targets = targets_tensor();
        return smoothing->extra_loss(o, model).item<double>();
      };
      INFO("position " << t << ", id " << v);
      CHECK(grad[0][t][v].item<double>() == Approx((term_at(h) - term_at(-h)) / (2 * h)).margin(1e-8));
    }
  }
  // Position 3 predicts nothing: no gradient reaches it, whatever its logits.
  CHECK(grad[0][3].abs().sum().item<double>() == 0.0);
  // The analytic gradient at a predicted position: eps (softmax - 1/V) + eps (onehot - softmax)
  // = eps (onehot - 1/V), over 4 predicted positions.
  CHECK(grad[0][0][1].item<double>() == Approx(0.3 * (1.0 - 0.25) / 4).margin(1e-12));
  CHECK(grad[0][0][0].item<double>() == Approx(0.3 * (0.0 - 0.25) / 4).margin(1e-12));
}

TEST_CASE("label_smoothing: reads the targets an objective returns, with its ignored positions",
          "[label_smoothing]") {
  // masked_lm leaves most positions unpredicted: the term must average over its chosen ones only.
  at::manual_seed(5);
  constexpr std::int64_t V = lmlab::ByteTokenizer::byte_vocab_size;
  lmlab::test::RecordingModel model(V, {.bidirectional = true}, at::kDouble);
  {
    at::NoGradGuard no_grad;
    model.table.normal_(0.0, 2.0);
  }
  const auto objective = lmlab::test::make_objective("masked_lm", {}, V);
  const lmlab::LossOutput out = objective->compute(model, at::randint(lmlab::ByteTokenizer::n_bytes, {4, 65}, at::kLong));
  REQUIRE(out.targets.eq(lmlab::ignore_index).any().item<bool>());
  const double total = (out.loss + make(0.2)->extra_loss(out, model)).item<double>();
  const double smoothed = at::cross_entropy_loss(out.logits.reshape({-1, V}), out.targets.reshape({-1}), {},
                                                 at::Reduction::Mean, lmlab::ignore_index, 0.2)
                              .item<double>();
  CHECK(total == Approx(smoothed).margin(1e-9));
}

TEST_CASE("label_smoothing: nothing without logits or targets; mismatched shapes and epsilon >= 1 refused",
          "[label_smoothing]") {
  lmlab::test::RecordingModel model(4, {.generates = true});
  lmlab::LossOutput only_logits;
  only_logits.logits = logits_tensor();
  CHECK_FALSE(make(0.1)->extra_loss(only_logits, model).defined());
  CHECK_FALSE(make(0.1)->extra_loss(lmlab::LossOutput{}, model).defined());
  lmlab::LossOutput mismatched = only_logits;
  mismatched.targets = at::zeros({1, 4}, at::kLong);  // (1, 4) against (1, 5, 4) logits
  CHECK_THROWS_WITH(make(0.1)->extra_loss(mismatched, model), Catch::Contains("do not match"));
  CHECK_THROWS_MATCHES(make(1.0), lmlab::ConfigError, lmlab::test::MessageContains("regularisers.epsilon"));
}

}  // namespace label_smoothing_tests
