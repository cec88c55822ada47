// temperature on hand-computed logits and softmaxes.
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace temperature_tests {

using lmlab::DecodeState;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 4);
}

}  // namespace

TEST_CASE("temperature: divides the logits by T", "[decoding][plugin]") {
  toml::table options{{"value", 2.0}};
  const StepPtr step = make_step("temperature", options);
  CHECK(step->name() == "temperature");
  CHECK_FALSE(step->selects());

  DecodeState state = state_for(rows({{1.0, -2.0, 3.0, 4.0}, {0.0, 0.5, -1.0, 8.0}}));
  step->apply(state);
  CHECK(at::allclose(state.logits, rows({{0.5, -1.0, 1.5, 2.0}, {0.0, 0.25, -0.5, 4.0}})));

  // Its softmax at T = 0.5 is the hand-computed p^2 / sum(p^2) of p = (0.1, 0.2, 0.3, 0.4).
  const StepPtr sharp = make_step("temperature", toml::table{{"value", 0.5}});
  DecodeState s2 = state_for(at::log(at::tensor({0.1, 0.2, 0.3, 0.4})).unsqueeze(0));
  sharp->apply(s2);
  const at::Tensor expected = at::tensor({1.0f / 30, 4.0f / 30, 9.0f / 30, 16.0f / 30}).unsqueeze(0);
  CHECK(at::allclose(at::softmax(s2.logits, -1), expected));

  // The default (T = 1) leaves logits unchanged; a clone keeps T.
  DecodeState s3 = state_for(at::tensor({1.0, 2.0, 3.0, 4.0}).unsqueeze(0));
  make_step("temperature")->apply(s3);
  CHECK(at::equal(s3.logits, at::tensor({1.0f, 2.0f, 3.0f, 4.0f}).unsqueeze(0)));
  DecodeState s4 = state_for(at::tensor({1.0, 2.0, 3.0, 4.0}).unsqueeze(0));
  step->clone()->apply(s4);
  CHECK(at::allclose(s4.logits, at::tensor({0.5f, 1.0f, 1.5f, 2.0f}).unsqueeze(0)));
}

TEST_CASE("temperature: T must be positive", "[decoding][plugin]") {
  CHECK_THROWS_MATCHES(make_step("temperature", toml::table{{"value", 0.0}}), lmlab::ConfigError,
                       MessageContains("decoding.temperature.value"));
  CHECK_THROWS_MATCHES(make_step("temperature", toml::table{{"value", -1.0}}), lmlab::ConfigError,
                       MessageContains("out of range"));
  CHECK_THROWS_AS(make_step("temperature", toml::table{{"valu", 1.0}}), lmlab::ConfigError);
}

}  // namespace temperature_tests
