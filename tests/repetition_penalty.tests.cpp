// repetition_penalty on small vocabularies with hand-computed expectations, in the style of
// llama.cpp's tests/test-sampling.cpp.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace repetition_penalty_tests {

using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}, std::int64_t vocab = 5) {
  return lmlab::test::decoding_step(name, options, vocab);
}

}  // namespace

TEST_CASE("repetition_penalty: divides positive and multiplies negative logits of seen tokens, once each",
          "[decoding][penalties]") {
  const StepPtr step = make_step("repetition_penalty", toml::table{{"theta", 2.0}});
  CHECK(step->name() == "repetition_penalty");
  CHECK_FALSE(step->selects());
  // Tokens 0, 1 (twice) and 4 are in the history, prompt and generated alike.
  // 0: 2 / 2 = 1; 1: -1 * 2 = -2 (once, not -4); 4: 1 / 2 = 0.5; 2 and 3 unseen.
  check_logits(run(step, logits5, {{0, 1, 1, 4}}, 2), {{1.0, -2.0, 0.5, -3.0, 0.5}});
  // The sign rule in both directions for the same token: HF's rule, not CTRL's plain division.
  check_logits(run(step, {{-4.0, 4.0, 0.0, 0.0, 0.0}, {4.0, -4.0, 0.0, 0.0, 0.0}}, {{0, 1}, {0, 1}}, 1),
               {{-8.0, 2.0, 0.0, 0.0, 0.0}, {2.0, -8.0, 0.0, 0.0, 0.0}});
  // The default theta is 1.1; a clone keeps its own.
  check_logits(run(make_step("repetition_penalty"), logits5, {{0, 3}}, 1), {{2.0 / 1.1, -1.0, 0.5, -3.3, 1.0}});
  check_logits(run(step->clone(), logits5, {{0}}, 1), {{1.0, -1.0, 0.5, -3.0, 1.0}});
}

TEST_CASE("repetition_penalty: theta 1 is the identity; window and padding limit what counts",
          "[decoding][penalties]") {
  CHECK(at::equal(run(make_step("repetition_penalty", toml::table{{"theta", 1.0}}), logits5, {{0, 1, 2, 3, 4}}, 2),
                  rows(logits5)));
  // window = 2: only the last two columns (tokens 2 and 3) count, not 0 and 1.
  const StepPtr windowed = make_step("repetition_penalty", toml::table{{"theta", 2.0}, {"window", 2}});
  check_logits(run(windowed, logits5, {{0, 1, 2, 3}}, 4), {{2.0, -1.0, 0.25, -6.0, 1.0}});
  // A window longer than the history is the whole history.
  const StepPtr wide = make_step("repetition_penalty", toml::table{{"theta", 2.0}, {"window", 50}});
  check_logits(run(wide, logits5, {{0, 1}}, 2), {{1.0, -2.0, 0.5, -3.0, 1.0}});
  // Padding never counts: row 0 is padded with an in-vocabulary id (3), row 1 with the
  // tokenizer's pad id, outside this 5-token vocabulary. Rows are independent.
  const StepPtr step = make_step("repetition_penalty", toml::table{{"theta", 2.0}});
  check_logits(run(step, {logits5[0], logits5[0]}, {{3, 3, 0}, {lmlab::ByteTokenizer::pad_id, 1, 1}}, 3,
                   {{0, 0, 1}, {0, 1, 1}}),
               {{1.0, -1.0, 0.5, -3.0, 1.0}, {2.0, -2.0, 0.5, -3.0, 1.0}});
}

TEST_CASE("repetition_penalty: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("repetition_penalty", toml::table{{"theta", 0.0}}), lmlab::ConfigError,
                       MessageContains("decoding.repetition_penalty.theta"));
  CHECK_THROWS_MATCHES(make_step("repetition_penalty", toml::table{{"window", -1}}), lmlab::ConfigError,
                       MessageContains("decoding.repetition_penalty.window"));
}

}  // namespace repetition_penalty_tests
