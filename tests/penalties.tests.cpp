// The penalty warpers (repetition_penalty, frequency_penalty, presence_penalty, no_repeat_ngram,
// min_new_tokens, logit_bias) on small vocabularies with hand-computed expectations, in the
// style of llama.cpp's tests/test-sampling.cpp.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

using lmlab::DecodeState;
using lmlab::DecodingStep;
using lmlab::test::MessageContains;
using StepPtr = std::shared_ptr<DecodingStep>;
using Rows = std::vector<std::vector<double>>;
using Ids = std::vector<std::vector<std::int64_t>>;

namespace {

const double inf = std::numeric_limits<double>::infinity();

StepPtr make_step(const std::string& name, const toml::table& options = {}, std::int64_t vocab = 5) {
  return lmlab::test::decoding_step(name, options, vocab);
}

/// A float32 (rows, V) tensor from nested lists.
at::Tensor rows(const Rows& values) {
  std::vector<at::Tensor> out;
  for (const auto& row : values) out.push_back(at::tensor(row, at::kFloat));
  return at::stack(out);
}

/// A state of logits and histories; `mask` (1 = real token) defaults to no padding.
DecodeState state_for(const Rows& logits, const Ids& history, std::int64_t prompt_length, const Ids& mask = {}) {
  DecodeState state;
  state.logits = rows(logits);
  std::vector<at::Tensor> h, m;
  for (const auto& row : history) h.push_back(at::tensor(row, at::kLong));
  for (const auto& row : mask) m.push_back(at::tensor(row, at::kLong).to(at::kBool));
  state.history = at::stack(h);
  state.history_mask = mask.empty() ? at::ones_like(state.history, state.history.options().dtype(at::kBool)) : at::stack(m);
  state.prompt_length = prompt_length;
  return state;
}

/// Applies `step` and returns the new logits.
at::Tensor run(const StepPtr& step, const Rows& logits, const Ids& history, std::int64_t prompt_length,
               const Ids& mask = {}) {
  DecodeState state = state_for(logits, history, prompt_length, mask);
  step->apply(state);
  return state.logits;
}

/// Every entry equal to within 1e-6 (no relative slack); infinities must match exactly.
void check_logits(const at::Tensor& actual, const Rows& expected) {
  const at::Tensor e = rows(expected);
  REQUIRE(actual.sizes() == e.sizes());
  const at::Tensor a = actual.to(at::kDouble).contiguous(), d = e.to(at::kDouble).contiguous();
  for (std::int64_t i = 0; i < a.size(0); ++i) {
    for (std::int64_t j = 0; j < a.size(1); ++j) {
      INFO("row " << i << ", token " << j);
      const double got = a[i][j].item<double>(), want = d[i][j].item<double>();
      if (std::isinf(want)) CHECK(got == want);
      else CHECK(got == Approx(want).epsilon(0).margin(1e-6));
    }
  }
}

const Rows logits5 = {{2.0, -1.0, 0.5, -3.0, 1.0}};

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

TEST_CASE("frequency_penalty and presence_penalty: padding never counts, rows are independent",
          "[decoding][penalties]") {
  const Ids history = {{3, 3, 0, 0}, {lmlab::ByteTokenizer::pad_id, 2, 2, 2}};
  const Ids mask = {{0, 0, 1, 1}, {0, 1, 1, 1}};
  check_logits(run(make_step("frequency_penalty", toml::table{{"scope", "all"}}), {logits5[0], logits5[0]},
                   history, 1, mask),
               {{1.0, -1.0, 0.5, -3.0, 1.0}, {2.0, -1.0, -1.0, -3.0, 1.0}});
  check_logits(run(make_step("presence_penalty", toml::table{{"scope", "all"}}), {logits5[0], logits5[0]},
                   history, 1, mask),
               {{1.5, -1.0, 0.5, -3.0, 1.0}, {2.0, -1.0, 0.0, -3.0, 1.0}});
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
  // The defaults: count 1, the byte tokenizer's eos.
  const std::int64_t vocab = lmlab::ByteTokenizer::vocab_size, eos = lmlab::ByteTokenizer::eos_id;
  const StepPtr defaults = make_step("min_new_tokens", {}, vocab);
  DecodeState first = state_for(Rows{std::vector<double>(static_cast<std::size_t>(vocab), 1.0)}, {{65, 66}}, 2);
  defaults->apply(first);
  CHECK(std::isinf(first.logits[0][eos].item<float>()));
  CHECK(at::isinf(first.logits).sum().item<std::int64_t>() == 1);
  DecodeState second = state_for(Rows{std::vector<double>(static_cast<std::size_t>(vocab), 1.0)}, {{65, 66, 67}}, 2);
  defaults->apply(second);
  CHECK(at::isinf(second.logits).sum().item<std::int64_t>() == 0);
}

TEST_CASE("logit_bias: adds each bias to its id's logit", "[decoding][penalties]") {
  toml::table options{{"ids", toml::array{1, 3}}, {"biases", toml::array{2.5, -inf}}};
  const StepPtr step = make_step("logit_bias", options);
  CHECK(step->name() == "logit_bias");
  check_logits(run(step, {logits5[0], {0.0, 0.0, 0.0, 0.0, 0.0}}, {{0}, {0}}, 1),
               {{2.0, 1.5, 0.5, -inf, 1.0}, {0.0, 2.5, 0.0, -inf, 0.0}});
  // No ids is the identity.
  CHECK(at::equal(run(make_step("logit_bias"), logits5, {{0}}, 1), rows(logits5)));
}

TEST_CASE("penalties: bad options are ConfigErrors naming the key", "[decoding][penalties]") {
  CHECK_THROWS_MATCHES(make_step("repetition_penalty", toml::table{{"theta", 0.0}}), lmlab::ConfigError,
                       MessageContains("decoding.repetition_penalty.theta"));
  CHECK_THROWS_MATCHES(make_step("repetition_penalty", toml::table{{"window", -1}}), lmlab::ConfigError,
                       MessageContains("decoding.repetition_penalty.window"));
  CHECK_THROWS_MATCHES(make_step("frequency_penalty", toml::table{{"scope", "prompt"}}), lmlab::ConfigError,
                       MessageContains("decoding.frequency_penalty.scope"));
  CHECK_THROWS_MATCHES(make_step("presence_penalty", toml::table{{"window", -2}}), lmlab::ConfigError,
                       MessageContains("decoding.presence_penalty.window"));
  CHECK_THROWS_MATCHES(make_step("no_repeat_ngram", toml::table{{"size", 0}}), lmlab::ConfigError,
                       MessageContains("decoding.no_repeat_ngram.size"));
  CHECK_THROWS_MATCHES(make_step("min_new_tokens", toml::table{{"count", -1}}), lmlab::ConfigError,
                       MessageContains("decoding.min_new_tokens.count"));
  // The default eos (258) does not exist in a 5-token vocabulary.
  CHECK_THROWS_MATCHES(make_step("min_new_tokens"), lmlab::ConfigError, MessageContains("min_new_tokens.eos_id"));
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
