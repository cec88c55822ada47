// frequency_penalty and presence_penalty (one source: plugins/count_penalties/) on small
// vocabularies with hand-computed expectations, in the style of llama.cpp's
// tests/test-sampling.cpp.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace count_penalties_tests {

using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}, std::int64_t vocab = 5) {
  return lmlab::test::decoding_step(name, options, vocab);
}

}  // namespace

TEST_CASE("frequency_penalty: subtracts value per occurrence, over the generated tokens by default",
          "[decoding][penalties]") {
  const StepPtr step = make_step("frequency_penalty");
  CHECK(step->name() == "frequency_penalty");
  // Prompt (1, 1), generated (2, 2, 2, 4); the default value is 0.5.
  const Ids history = {{1, 1, 2, 2, 2, 4}};
  check_logits(run(step, logits5, history, 2), {{2.0, -1.0, -1.0, -3.0, 0.5}});
  // scope = "all" counts the prompt as well.
  const StepPtr all = make_step("frequency_penalty", toml::table{{"scope", "all"}, {"value", 0.25}});
  check_logits(run(all, logits5, history, 2), {{2.0, -1.5, -0.25, -3.0, 0.75}});
  // window = 2: the last two columns (2, 4); within scope "generated" a wider window stops at the prompt.
  check_logits(run(make_step("frequency_penalty", toml::table{{"window", 2}}), logits5, history, 2),
               {{2.0, -1.0, 0.0, -3.0, 0.5}});
  check_logits(run(make_step("frequency_penalty", toml::table{{"window", 5}}), logits5, history, 2),
               {{2.0, -1.0, -1.0, -3.0, 0.5}});
  // A negative value encourages repeats; value 0 and no generated tokens are the identity.
  check_logits(run(make_step("frequency_penalty", toml::table{{"value", -1.0}}), logits5, history, 2),
               {{2.0, -1.0, 3.5, -3.0, 2.0}});
  CHECK(at::equal(run(make_step("frequency_penalty", toml::table{{"value", 0.0}}), logits5, history, 2), rows(logits5)));
  CHECK(at::equal(run(step, logits5, {{0, 1, 2}}, 3), rows(logits5)));
}

TEST_CASE("frequency_penalty: padding never counts, rows are independent",
          "[decoding][penalties]") {
  const Ids history = {{3, 3, 0, 0}, {lmlab::ByteTokenizer::pad_id, 2, 2, 2}};
  const Ids mask = {{0, 0, 1, 1}, {0, 1, 1, 1}};
  check_logits(run(make_step("frequency_penalty", toml::table{{"scope", "all"}}), {logits5[0], logits5[0]},
                   history, 1, mask),
               {{1.0, -1.0, 0.5, -3.0, 1.0}, {2.0, -1.0, -1.0, -3.0, 1.0}});
}

TEST_CASE("frequency_penalty: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("frequency_penalty", toml::table{{"scope", "prompt"}}), lmlab::ConfigError,
                       MessageContains("decoding.frequency_penalty.scope"));
}

TEST_CASE("presence_penalty: subtracts value once per seen token, however often it was seen",
          "[decoding][penalties]") {
  const StepPtr step = make_step("presence_penalty");
  CHECK(step->name() == "presence_penalty");
  const Ids history = {{1, 1, 2, 2, 2, 4}};
  // Generated (2, 2, 2, 4): 2 and 4 lose 0.5 each, once; the prompt's 1 does not count.
  check_logits(run(step, logits5, history, 2), {{2.0, -1.0, 0.0, -3.0, 0.5}});
  check_logits(run(make_step("presence_penalty", toml::table{{"scope", "all"}, {"value", 2.0}}), logits5, history, 2),
               {{2.0, -3.0, -1.5, -3.0, -1.0}});
  check_logits(run(make_step("presence_penalty", toml::table{{"window", 1}}), logits5, history, 2),
               {{2.0, -1.0, 0.5, -3.0, 0.5}});
  check_logits(run(make_step("presence_penalty", toml::table{{"value", -1.0}}), logits5, history, 2),
               {{2.0, -1.0, 1.5, -3.0, 2.0}});
  CHECK(at::equal(run(make_step("presence_penalty", toml::table{{"value", 0.0}}), logits5, history, 2), rows(logits5)));
}

TEST_CASE("presence_penalty: padding never counts, rows are independent",
          "[decoding][penalties]") {
  const Ids history = {{3, 3, 0, 0}, {lmlab::ByteTokenizer::pad_id, 2, 2, 2}};
  const Ids mask = {{0, 0, 1, 1}, {0, 1, 1, 1}};
  check_logits(run(make_step("presence_penalty", toml::table{{"scope", "all"}}), {logits5[0], logits5[0]},
                   history, 1, mask),
               {{1.5, -1.0, 0.5, -3.0, 1.0}, {2.0, -1.0, 0.0, -3.0, 1.0}});
}

TEST_CASE("presence_penalty: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("presence_penalty", toml::table{{"window", -2}}), lmlab::ConfigError,
                       MessageContains("decoding.presence_penalty.window"));
}

}  // namespace count_penalties_tests
