// no_repeat_ngram on small vocabularies with hand-computed expectations, in the style of
// llama.cpp's tests/test-sampling.cpp.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace no_repeat_ngram_tests {

using lmlab::DecodeState;
using lmlab::DecodingChain;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}, std::int64_t vocab = 5) {
  return lmlab::test::decoding_step(name, options, vocab);
}

}  // namespace

TEST_CASE("no_repeat_ngram: bans the tokens that would complete an n-gram already present",
          "[decoding][penalties]") {
  const StepPtr bigram = make_step("no_repeat_ngram", toml::table{{"size", 2}});
  CHECK(bigram->name() == "no_repeat_ngram");
  // History 0 1 2 0: the last token 0 was followed by 1 before, so 1 is banned.
  check_logits(run(bigram, logits5, {{0, 1, 2, 0}}, 1), {{2.0, -inf, 0.5, -3.0, 1.0}});
  // 0 1 0 2 0: 0 was followed by 1 and by 2.
  check_logits(run(bigram, logits5, {{0, 1, 0, 2, 0}}, 1), {{2.0, -inf, -inf, -3.0, 1.0}});
  // The default n = 3: 1 2 3 1 2 bans 3 (trigram 1 2 3) but not 1 (2 3 1 follows 2 3, not 1 2).
  check_logits(run(make_step("no_repeat_ngram"), logits5, {{1, 2, 3, 1, 2}}, 2), {{2.0, -1.0, 0.5, -inf, 1.0}});
  // 1 2 3 2 1: no earlier trigram starts with 2 1, so nothing is banned.
  check_logits(run(make_step("no_repeat_ngram"), logits5, {{1, 2, 3, 2, 1}}, 2), logits5);
  // n = 1 bans every token present.
  check_logits(run(make_step("no_repeat_ngram", toml::table{{"size", 1}}), logits5, {{0, 2, 2}}, 1),
               {{-inf, -1.0, -inf, -3.0, 1.0}});
  // Fewer than n tokens: nothing to repeat.
  CHECK(at::equal(run(make_step("no_repeat_ngram", toml::table{{"size", 4}}), logits5, {{1, 1, 1}}, 1), rows(logits5)));
}

TEST_CASE("no_repeat_ngram: n-grams touching padding never count; rows are independent", "[decoding][penalties]") {
  const StepPtr bigram = make_step("no_repeat_ngram", toml::table{{"size", 2}});
  // Row 0: 1 1 2 1 whose first two columns are padding, so only 2 1 is a bigram and nothing
  // follows a real 1. Row 1: the same tokens unpadded ban 1 (1 1) and 2 (1 2). Row 2: the pad id
  // (outside the vocabulary) then 0 1 0 bans 1.
  check_logits(run(bigram, {logits5[0], logits5[0], logits5[0]},
                   {{1, 1, 2, 1}, {1, 1, 2, 1}, {lmlab::ByteTokenizer::pad_id, 0, 1, 0}}, 4,
                   {{0, 0, 1, 1}, {1, 1, 1, 1}, {0, 1, 1, 1}}),
               {{2.0, -1.0, 0.5, -3.0, 1.0}, {2.0, -inf, -inf, -3.0, 1.0}, {2.0, -inf, 0.5, -3.0, 1.0}});
}

TEST_CASE("no_repeat_ngram: greedy generation over random logits never repeats an n-gram", "[decoding][penalties]") {
  const std::int64_t vocab = 6, batch = 4, steps = 10;
  for (const std::int64_t n : {2, 3}) {
    INFO("n = " << n);
    lmlab::DecodingChain chain({make_step("no_repeat_ngram", toml::table{{"size", n}}, vocab), make_step("greedy")});
    at::manual_seed(17 + n);
    // A fixed random preference per row plus small noise: without the ban greedy would pick the
    // same token over and over, so the property is far from trivially true.
    const at::Tensor preference = at::randn({batch, vocab});  // (B, V)
    at::Tensor history = at::randint(vocab, {batch, 2}, at::kLong);  // (B, 2) a random prompt
    for (std::int64_t t = 0; t < steps; ++t) {
      DecodeState state;
      state.logits = preference + 0.1 * at::randn({batch, vocab});  // (B, V)
      state.history = history;
      state.history_mask = at::ones_like(history, history.options().dtype(at::kBool));  // (B, L)
      state.prompt_length = 2;
      chain.apply(state);
      // Short runs on 6 tokens never exhaust the continuations; a fully banned row would mean
      // greedy picks from -inf, which is not what this test is about.
      REQUIRE(at::isinf(state.logits).all(-1).any().item<bool>() == false);
      history = at::cat({history, state.chosen.view({batch, 1})}, 1);  // (B, L + 1)
    }
    for (std::int64_t b = 0; b < batch; ++b) {
      const at::Tensor row = history[b].contiguous();
      const std::vector<std::int64_t> ids(row.data_ptr<std::int64_t>(), row.data_ptr<std::int64_t>() + row.numel());
      std::set<std::vector<std::int64_t>> seen;
      // The prompt is random, so it may repeat itself; n-grams that end in generated tokens may not
      // repeat anything, prompt included.
      const auto length = static_cast<std::int64_t>(ids.size());
      for (std::int64_t j = 0; j + n <= length; ++j) {
        const std::vector<std::int64_t> gram(ids.begin() + j, ids.begin() + j + n);
        const bool inserted = seen.insert(gram).second;
        if (j + n > 2) {
          INFO("row " << b << ", n-gram at " << j);
          CHECK(inserted);
        }
      }
    }
  }
}

TEST_CASE("no_repeat_ngram: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("no_repeat_ngram", toml::table{{"size", 0}}), lmlab::ConfigError,
                       MessageContains("decoding.no_repeat_ngram.size"));
}

}  // namespace no_repeat_ngram_tests
