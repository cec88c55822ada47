// grad_clip: clipping the gradients of causal_lm's loss on a bigram model, whose values are known
// by hand: by global norm (the default) and by value, and its option errors.
#include <memory>

#include <ATen/ATen.h>
#include <toml++/toml.h>

#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/regulariser.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/bigram_model.hpp"
#include "support/test_support.hpp"

namespace grad_clip_tests {

using lmlab::test::Bigram;
using lmlab::test::make_causal_lm;
using lmlab::test::MessageContains;

namespace {

const lmlab::Registry& plugins() { return lmlab::test::builtin_plugins(); }

std::shared_ptr<lmlab::Regulariser> clip_with(const toml::table& options) {
  const toml::table resolved =
      lmlab::resolve_plugin<lmlab::Regulariser>(plugins(), "grad_clip", options, "regularisers.grad_clip");
  return lmlab::make_plugin<lmlab::Regulariser>(plugins(), "grad_clip", resolved, lmlab::RegulariserContext{});
}

}  // namespace

// grad_clip acts on the gradients of causal_lm's loss, whose values are known by hand here.
TEST_CASE("grad_clip: rescales the global gradient norm to max_norm, only when above it", "[grad_clip]") {
  auto make_clip = [](double max_norm) { return clip_with(toml::table{{"max_norm", max_norm}}); };
  // One pair 0 -> 1: the gradient is softmax(bigram[0]) - onehot(1) in row 0, zero elsewhere.
  const at::Tensor p = at::softmax(at::tensor({1.0, 2.0, 0.0}), -1);
  const at::Tensor full = (p - at::tensor({0.0, 1.0, 0.0})).to(at::kFloat);
  const double norm = full.norm().item<double>();
  REQUIRE(norm > 0.1);

  Bigram model;
  make_causal_lm(3)->compute(model, at::tensor({0, 1}, at::kLong).view({1, 2})).loss.backward();
  make_clip(0.1)->before_step(model, {});
  CHECK(model.table.grad().norm().item<double>() == Approx(0.1).epsilon(1e-4));
  CHECK(at::allclose(model.table.grad()[0], full * (0.1 / norm), 1e-4, 1e-6));

  Bigram loose;
  make_causal_lm(3)->compute(loose, at::tensor({0, 1}, at::kLong).view({1, 2})).loss.backward();
  make_clip(10.0)->before_step(loose, {});
  CHECK(at::allclose(loose.table.grad()[0], full));

  CHECK_THROWS_MATCHES(make_clip(0.0), lmlab::ConfigError, MessageContains("regularisers.grad_clip.max_norm"));
}

TEST_CASE("grad_clip: mode = value clamps each gradient element, leaving smaller ones", "[grad_clip]") {
  // Row 0 of the gradient is p - onehot(1) with p = softmax(1, 2, 0): about (0.245, -0.335, 0.090).
  const at::Tensor p = at::softmax(at::tensor({1.0, 2.0, 0.0}), -1);
  const at::Tensor full = (p - at::tensor({0.0, 1.0, 0.0})).to(at::kFloat);
  Bigram model;
  make_causal_lm(3)->compute(model, at::tensor({0, 1}, at::kLong).view({1, 2})).loss.backward();
  clip_with(toml::table{{"mode", "value"}, {"max_value", 0.1}})->before_step(model, {});
  CHECK(at::allclose(model.table.grad()[0], at::tensor({0.1f, -0.1f, full[2].item<float>()})));
  CHECK(model.table.grad()[1].abs().sum().item<double>() == 0.0);
  CHECK_THROWS_MATCHES(clip_with(toml::table{{"mode", "elementwise"}}), lmlab::ConfigError,
                       MessageContains("accepted: norm, value"));
}

}  // namespace grad_clip_tests
