// logit_bias on small vocabularies with hand-computed expectations, in the style of llama.cpp's
// tests/test-sampling.cpp.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace logit_bias_tests {

using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}, std::int64_t vocab = 5) {
  return lmlab::test::decoding_step(name, options, vocab);
}

}  // namespace

TEST_CASE("logit_bias: adds each bias to its id's logit", "[decoding][penalties]") {
  toml::table options{{"ids", toml::array{1, 3}}, {"biases", toml::array{2.5, -inf}}};
  const StepPtr step = make_step("logit_bias", options);
  CHECK(step->name() == "logit_bias");
  check_logits(run(step, {logits5[0], {0.0, 0.0, 0.0, 0.0, 0.0}}, {{0}, {0}}, 1),
               {{2.0, 1.5, 0.5, -inf, 1.0}, {0.0, 2.5, 0.0, -inf, 0.0}});
  // No ids is the identity.
  CHECK(at::equal(run(make_step("logit_bias"), logits5, {{0}}, 1), rows(logits5)));
}

TEST_CASE("logit_bias: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("logit_bias", toml::table{{"ids", toml::array{1, 2}}, {"biases", toml::array{1.0}}}),
                       lmlab::ConfigError, MessageContains("ids and biases must have the same length"));
  CHECK_THROWS_MATCHES(make_step("logit_bias", toml::table{{"ids", toml::array{1.5}}, {"biases", toml::array{1.0}}}),
                       lmlab::ConfigError, MessageContains("ids must be whole numbers"));
  CHECK_THROWS_MATCHES(make_step("logit_bias", toml::table{{"ids", toml::array{2, 2}}, {"biases", toml::array{1.0, 1.0}}}),
                       lmlab::ConfigError, MessageContains("each listed once"));
  CHECK_THROWS_MATCHES(make_step("logit_bias", toml::table{{"ids", toml::array{-1}}, {"biases", toml::array{1.0}}}),
                       lmlab::ConfigError, MessageContains("decoding.logit_bias.ids[0]"));
  CHECK_THROWS_MATCHES(make_step("logit_bias", toml::table{{"ids", toml::array{5}}, {"biases", toml::array{1.0}}}),
                       lmlab::ConfigError, MessageContains("logit_bias.ids: id 5 is outside the vocabulary of 5"));
}

}  // namespace logit_bias_tests
