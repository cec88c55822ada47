// min_new_tokens on small vocabularies with hand-computed expectations, in the style of llama.cpp's
// tests/test-sampling.cpp.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace min_new_tokens_tests {

using lmlab::DecodeState;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}, std::int64_t vocab = 5) {
  return lmlab::test::decoding_step(name, options, vocab);
}

}  // namespace

TEST_CASE("min_new_tokens: bans end-of-sequence exactly until count tokens are generated", "[decoding][penalties]") {
  const StepPtr step = make_step("min_new_tokens", toml::table{{"count", 2}, {"eos_id", 3}});
  CHECK(step->name() == "min_new_tokens");
  const Rows two = {logits5[0], {0.0, 0.0, 0.0, 9.0, 0.0}};
  const Rows banned = {{2.0, -1.0, 0.5, -inf, 1.0}, {0.0, 0.0, 0.0, -inf, 0.0}};
  // Prompt of 3 columns: 0 and 1 generated tokens ban eos (every row), 2 and 3 do not.
  check_logits(run(step, two, {{0, 1, 2}, {4, 4, 4}}, 3), banned);
  check_logits(run(step, two, {{0, 1, 2, 0}, {4, 4, 4, 1}}, 3), banned);
  check_logits(run(step, two, {{0, 1, 2, 0, 0}, {4, 4, 4, 1, 1}}, 3), two);
  check_logits(run(step, two, {{0, 1, 2, 0, 0, 0}, {4, 4, 4, 1, 1, 1}}, 3), two);
  // count 0 never bans.
  check_logits(run(make_step("min_new_tokens", toml::table{{"count", 0}, {"eos_id", 3}}), two, {{0}, {0}}, 1), two);
  // The defaults: count 1, the run's tokenizer's eos (here the byte tokenizer's).
  const std::int64_t vocab = lmlab::ByteTokenizer::byte_vocab_size, eos = lmlab::ByteTokenizer::eos_id;
  const StepPtr defaults = lmlab::test::decoding_step("min_new_tokens", {}, vocab, eos);
  DecodeState first = state_for(Rows{std::vector<double>(static_cast<std::size_t>(vocab), 1.0)}, {{65, 66}}, 2);
  defaults->apply(first);
  CHECK(std::isinf(first.logits[0][eos].item<float>()));
  CHECK(at::isinf(first.logits).sum().item<std::int64_t>() == 1);
  DecodeState second = state_for(Rows{std::vector<double>(static_cast<std::size_t>(vocab), 1.0)}, {{65, 66, 67}}, 2);
  defaults->apply(second);
  CHECK(at::isinf(second.logits).sum().item<std::int64_t>() == 0);
}

TEST_CASE("min_new_tokens: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("min_new_tokens", toml::table{{"count", -1}}), lmlab::ConfigError,
                       MessageContains("decoding.min_new_tokens.count"));
  // No eos from the tokenizer and none given; an eos outside the vocabulary.
  CHECK_THROWS_MATCHES(make_step("min_new_tokens"), lmlab::ConfigError, MessageContains("min_new_tokens.eos_id"));
  CHECK_THROWS_MATCHES(lmlab::test::decoding_step("min_new_tokens", {}, 5, 258), lmlab::ConfigError,
                       MessageContains("min_new_tokens.eos_id: 258 is outside"));
}

}  // namespace min_new_tokens_tests
