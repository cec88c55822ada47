#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "generated/test_paths.hpp"
#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/kv_cache.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"
#include "support/models.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace generate_tests {

using Catch::Matchers::Contains;
using Tokens = std::vector<std::int64_t>;
using Batch = std::vector<Tokens>;

namespace {

const lmlab::Registry& plugins() { return lmlab::test::builtin_plugins(); }

lmlab::DecodingChain chain_of(const std::vector<std::string>& names) {
  std::vector<std::shared_ptr<lmlab::DecodingStep>> steps;
  for (const auto& name : names) {
    const toml::table resolved = lmlab::resolve_plugin<lmlab::DecodingStep>(plugins(), name, {}, name);
    steps.push_back(lmlab::make_plugin<lmlab::DecodingStep>(plugins(), name, resolved, lmlab::DecodingContext{}));
  }
  return lmlab::DecodingChain(std::move(steps));
}

/// A toy model that is sure the next token is (last token + 1) % V, and records how it was
/// called: the longest input, the number of calls, the padding it saw, and the mode and grad
/// state it ran in. Only the last token matters, so it needs nothing from the cache.
class Successor final : public lmlab::Architecture {
 public:
  Successor(std::int64_t vocab, std::int64_t context) : vocab_(vocab), context_(context) {}

  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    longest = std::max(longest, input.tokens.size(1));
    ++calls;
    if (input.padding_mask.defined()) padding = input.padding_mask.clone();
    ran_training = ran_training || is_training();
    ran_with_grad = ran_with_grad || at::GradMode::is_enabled();
    const at::Tensor next = (input.tokens + 1).remainder(vocab_);  // (B, T)
    return {at::one_hot(next, vocab_).to(at::kFloat) * 10.0};       // (B, T, V)
  }
  std::int64_t context_length() const override { return context_; }
  lmlab::Capabilities capabilities() const override { return {.generates = true}; }
  lmlab::Accounting accounting() const override { return {}; }

  std::int64_t longest = 0, calls = 0;
  at::Tensor padding;
  bool ran_training = false, ran_with_grad = false;

 private:
  std::int64_t vocab_, context_;
};

/// A toy model whose next-token distribution is spread out and depends on the whole history,
/// so sampled continuations differ between streams and feed back into later steps. Its "cache"
/// is each row's running token sum, kept where a real model keeps layer 0's keys.
class Mixer final : public lmlab::Architecture {
 public:
  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    lmlab::KvCache& cache = *input.cache;
    if (cache.self.empty()) cache.self.resize(1);
    at::Tensor past = cache.self[0].k.defined() ? cache.self[0].k : at::zeros({input.tokens.size(0), 1}, at::kLong);  // (B, 1)
    const at::Tensor sums = (input.tokens.cumsum(1) + past).to(at::kFloat);  // (B, T)
    cache.self[0].k = sums.select(1, -1).unsqueeze(1).to(at::kLong);        // (B, 1)
    const at::Tensor vocab = at::arange(16, at::kFloat);                      // (V)
    return {at::sin(sums.unsqueeze(-1) * 0.37 + vocab * 1.3)};               // (B, T, V)
  }
  std::int64_t context_length() const override { return 8; }
  lmlab::Capabilities capabilities() const override { return {.generates = true}; }
  lmlab::Accounting accounting() const override { return {}; }
};

/// A model that cannot generate (an encoder-only one).
class Encoder final : public lmlab::Architecture {
 public:
  lmlab::ModelOutput forward(const lmlab::ModelInput&) override { return {at::zeros({1, 1, 4})}; }
  std::int64_t context_length() const override { return 8; }
  lmlab::Capabilities capabilities() const override { return {.bidirectional = true}; }
  lmlab::Accounting accounting() const override { return {}; }
};

}  // namespace

TEST_CASE("generate: greedy follows the model", "[generate]") {
  Successor model(10, 32);
  lmlab::DecodingChain greedy = chain_of({"greedy"});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 5;
  const Batch out = lmlab::generate(model, greedy, {{3, 4}, {8, 1}}, options, at::kCPU);
  CHECK(out == Batch{{5, 6, 7, 8, 9}, {2, 3, 4, 5, 6}});

  options.max_new_tokens = 0;
  CHECK(lmlab::generate(model, greedy, {{3}}, options, at::kCPU) == Batch{{}});
  CHECK(lmlab::generate(model, greedy, {}, options, at::kCPU).empty());
}

TEST_CASE("generate: reports progress after every step of a sampling chain", "[generate]") {
  Successor model(10, 32);
  lmlab::DecodingChain greedy = chain_of({"greedy"});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 4;
  std::vector<std::pair<std::int64_t, std::int64_t>> calls;
  options.progress = [&](std::int64_t done, std::int64_t total) { calls.emplace_back(done, total); };
  lmlab::generate(model, greedy, {{3, 4}}, options, at::kCPU);
  CHECK(calls == std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 4}, {2, 4}, {3, 4}, {4, 4}});
}

TEST_CASE("generate: a sequence stops at eos, the others go on", "[generate]") {
  Successor model(10, 32);
  lmlab::DecodingChain greedy = chain_of({"greedy"});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 5;
  options.eos_id = 4;
  const Batch out = lmlab::generate(model, greedy, {{1}, {6}, {3}}, options, at::kCPU);
  CHECK(out == Batch{{2, 3, 4}, {7, 8, 9, 0, 1}, {4}});

  // Once every sequence has stopped the model is not run again.
  Successor counting(10, 32);
  options.max_new_tokens = 50;
  CHECK(lmlab::generate(counting, greedy, {{1, 2}}, options, at::kCPU) == Batch{{3, 4}});
  CHECK(counting.calls == 2);
  // With the cache, the prompt is fed once and each later token alone.
  CHECK(counting.longest == 2);
}

TEST_CASE("generate: feeds at most the context length, in eval mode without gradients", "[generate]") {
  Successor model(10, 3);
  model.train();
  lmlab::DecodingChain greedy = chain_of({"greedy"});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 6;
  CHECK(lmlab::generate(model, greedy, {{0, 1, 2, 3, 4}}, options, at::kCPU) == Batch{{5, 6, 7, 8, 9, 0}});
  CHECK(model.longest == 3);  // the prompt's last 3 tokens, then refills of half a context
  CHECK(model.calls == 6);
  CHECK_FALSE(model.ran_training);
  CHECK_FALSE(model.ran_with_grad);
  CHECK(model.is_training());  // restored

  model.eval();
  lmlab::generate(model, greedy, {{0}}, options, at::kCPU);
  CHECK_FALSE(model.is_training());
}

TEST_CASE("generate: pads shorter prompts on the left and masks the padding", "[generate]") {
  Successor model(10, 8);
  lmlab::DecodingChain greedy = chain_of({"greedy"});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 3;
  options.pad_id = 9;
  CHECK(lmlab::generate(model, greedy, {{1, 2}, {5}}, options, at::kCPU) == Batch{{3, 4, 5}, {6, 7, 8}});
  REQUIRE(model.padding.defined());
  CHECK(at::equal(model.padding, at::tensor({1, 1, 0, 1}).to(at::kBool).view({2, 2})));
}

TEST_CASE("generate: rejects what it cannot decode", "[generate]") {
  Successor model(10, 8);
  lmlab::DecodingChain greedy = chain_of({"greedy"});
  const lmlab::GenerateOptions options;
  CHECK_THROWS_WITH(lmlab::generate(model, greedy, {{1}, {}}, options, at::kCPU), Contains("prompt 1 is empty"));
  Encoder encoder;
  CHECK_THROWS_WITH(lmlab::generate(encoder, greedy, {{1}}, options, at::kCPU), Contains("does not generate"));
}

TEST_CASE("generate: sampling is reproducible per seed and independent of the batch", "[generate]") {
  Mixer model;
  lmlab::DecodingChain sample = chain_of({"sample"});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 24;
  options.seed = 1234;
  const Tokens prompt = {3, 1, 4};

  options.first_index = 7;
  const Batch alone = lmlab::generate(model, sample, {prompt}, options, at::kCPU);
  REQUIRE(alone.size() == 1);
  REQUIRE(alone[0].size() == 24);
  CHECK(lmlab::generate(model, sample, {prompt}, options, at::kCPU) == alone);

  // The same prompt as the third of three, whose batch starts at index 5: it is sequence 7 again.
  options.first_index = 5;
  const Batch batch = lmlab::generate(model, sample, {{9, 9, 9}, {0, 2, 7}, prompt}, options, at::kCPU);
  REQUIRE(batch.size() == 3);
  CHECK(batch[2] == alone[0]);
  CHECK(batch[0] != alone[0]);

  // Another seed, or another index, gives another continuation.
  options.first_index = 7;
  options.seed = 1235;
  CHECK(lmlab::generate(model, sample, {prompt}, options, at::kCPU)[0] != alone[0]);
  options.seed = 1234;
  options.first_index = 8;
  CHECK(lmlab::generate(model, sample, {prompt}, options, at::kCPU)[0] != alone[0]);
}

TEST_CASE("generate: seeded sampling through a full chain is batch-invariant on real models", "[generate]") {
  // A prompt decoded alone (batch 1) and as the 5th of 7 prompts of other lengths: the same
  // sequence index, so the same stream, and padding that changes nothing it attends to.
  lmlab::DecodingChain chain = chain_of({"repetition_penalty", "top_k", "top_p", "temperature", "sample"});
  const Tokens prompt = {3, 1, 4, 1, 5};
  const Batch others = {{9}, {2, 6, 5, 3, 5, 8, 9}, {7, 9}, {3, 2, 3}, {8, 4, 6, 2, 6, 4}, {3, 3}};
  for (const auto& family : lmlab::test::generating_families) {
    DYNAMIC_SECTION(family) {
      const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 16);
      lmlab::GenerateOptions options;
      options.max_new_tokens = 20;  // past the context of 16: the cache refills
      options.seed = 99;
      options.decoder_start_id = 0;
      options.first_index = 4;
      const Batch alone = lmlab::generate(*model, chain, {prompt}, options, at::kCPU);
      Batch seven(others.begin(), others.begin() + 4);
      seven.push_back(prompt);
      seven.insert(seven.end(), others.begin() + 4, others.end());
      options.first_index = 0;
      const Batch batch = lmlab::generate(*model, chain, seven, options, at::kCPU);
      REQUIRE(batch.size() == 7);
      CHECK(batch[4] == alone[0]);
      // Not a constant: other streams give other text.
      CHECK((batch[0] != batch[4] || batch[1] != batch[4]));
    }
  }
}

TEST_CASE("generate: sequence generators are seeded from seed and index", "[generate]") {
  auto first_draws = [](at::Generator g) {
    return at::randint(1 << 30, {4}, g, at::kLong);
  };
  CHECK(at::equal(first_draws(lmlab::sequence_generator(3, 9)), first_draws(lmlab::sequence_generator(3, 9))));
  CHECK_FALSE(at::equal(first_draws(lmlab::sequence_generator(3, 9)), first_draws(lmlab::sequence_generator(3, 10))));
  CHECK_FALSE(at::equal(first_draws(lmlab::sequence_generator(3, 9)), first_draws(lmlab::sequence_generator(4, 9))));
  CHECK(lmlab::sequence_generator(0, 0).device().is_cpu());
}

}  // namespace generate_tests
