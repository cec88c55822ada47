// z_loss: coefficient * mean(log^2 Z) by hand, its gradient, and that it pulls log Z to 0.
#include <cmath>

#include <ATen/ATen.h>

#include "lmlab/plugin_call.hpp"
#include "lmlab/regulariser.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace z_loss_tests {

namespace {

std::shared_ptr<lmlab::Regulariser> make(double coefficient) {
  const auto& plugins = lmlab::test::builtin_plugins();
  const toml::table options{{"coefficient", coefficient}};
  return lmlab::make_plugin<lmlab::Regulariser>(
      plugins, "z_loss", lmlab::resolve_plugin<lmlab::Regulariser>(plugins, "z_loss", options, "regularisers"),
      lmlab::RegulariserContext{10, 0.0});
}

}  // namespace

TEST_CASE("z_loss: coefficient * mean(log^2 Z), by hand, and its gradient", "[z_loss]") {
  // Two positions over three tokens: logits (0, 0, 0) give Z = 3; (ln 2, 0, ln 5) give Z = 8.
  lmlab::LossOutput out;
  const at::Tensor logits =
      at::tensor({0.0, 0.0, 0.0, std::log(2.0), 0.0, std::log(5.0)}, at::kFloat).view({1, 2, 3}).requires_grad_();
  out.logits = logits;
  lmlab::test::RecordingModel model(3, {.generates = true});
  const at::Tensor z = make(0.5)->extra_loss(out, model);
  const double expected = 0.5 * (std::pow(std::log(3.0), 2) + std::pow(std::log(8.0), 2)) / 2;
  CHECK(z.item<double>() == Approx(expected).epsilon(1e-6));
  // d/d logit_i = coefficient * 2 log Z * softmax_i / positions: for position 1, token 2,
  // 0.5 * 2 * ln 8 * 5/8 / 2.
  z.backward();
  CHECK(logits.grad()[0][1][2].item<double>() == Approx(0.5 * std::log(8.0) * 5.0 / 8.0).epsilon(1e-5));
  // Without logits (an objective that keeps none) it adds nothing.
  CHECK_FALSE(make(0.5)->extra_loss(lmlab::LossOutput{}, model).defined());
}

TEST_CASE("z_loss: descending it pulls log Z towards 0", "[z_loss]") {
  at::manual_seed(1);
  const at::Tensor logits = (at::randn({4, 5, 7}) + 3.0).requires_grad_();
  lmlab::test::RecordingModel model(7, {.generates = true});
  const auto z_loss = make(1.0);
  const double start = at::logsumexp(logits.detach(), -1).abs().mean().item<double>();
  for (int step = 0; step < 50; ++step) {
    lmlab::LossOutput out;
    out.logits = logits;
    z_loss->extra_loss(out, model).backward();
    at::NoGradGuard no_grad;
    logits.sub_(logits.grad() * 5.0);
    logits.grad().zero_();
  }
  const double end = at::logsumexp(logits.detach(), -1).abs().mean().item<double>();
  INFO("mean |log Z|: " << start << " -> " << end);
  CHECK(end < 0.5 * start);
}

}  // namespace z_loss_tests
