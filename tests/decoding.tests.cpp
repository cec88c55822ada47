#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "generated/test_paths.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/plugin_loader.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

using Catch::Matchers::Contains;
using lmlab::test::MessageContains;
using lmlab::DecodeState;
using lmlab::DecodingChain;
using lmlab::DecodingStep;
using StepPtr = std::shared_ptr<DecodingStep>;

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 4);
}

/// A warper that records its call order in a shared log and applies logits * scale + shift.
class Affine final : public DecodingStep {
 public:
  Affine(std::string name, double scale, double shift, std::shared_ptr<std::vector<std::string>> log)
      : name_(std::move(name)), scale_(scale), shift_(shift), log_(std::move(log)) {}
  std::string name() const override { return name_; }
  void apply(DecodeState& state) override {
    log_->push_back(name_);
    state.logits = state.logits * scale_ + shift_;
  }
  std::shared_ptr<DecodingStep> clone() const override { return std::make_shared<Affine>(*this); }

 private:
  std::string name_;
  double scale_, shift_;
  std::shared_ptr<std::vector<std::string>> log_;
};

/// A selector with per-batch state: picks token `calls % V` and counts its calls until reset.
class Counter final : public DecodingStep {
 public:
  std::string name() const override { return "counter"; }
  bool selects() const override { return true; }
  void apply(DecodeState& state) override {
    state.chosen = at::full({state.logits.size(0)}, calls % state.logits.size(1), at::kLong);
    ++calls;
  }
  void reset() override { calls = 0; }
  std::shared_ptr<DecodingStep> clone() const override { return std::make_shared<Counter>(*this); }
  std::int64_t calls = 0;
};

StepPtr affine(const std::string& name, double scale = 1.0, double shift = 0.0) {
  return std::make_shared<Affine>(name, scale, shift, std::make_shared<std::vector<std::string>>());
}

DecodeState state_for(const at::Tensor& logits, std::vector<at::Generator>* rngs = nullptr) {
  DecodeState state;
  state.logits = logits.to(at::kFloat);
  state.history = at::zeros({logits.size(0), 1}, at::kLong);
  state.prompt_length = 1;
  state.rngs = rngs;
  return state;
}

/// A float32 (rows, 4) tensor from nested lists (ATen's at::tensor takes flat lists only).
at::Tensor rows(const std::vector<std::vector<double>>& values) {
  std::vector<at::Tensor> out;
  for (const auto& row : values) out.push_back(at::tensor(row, at::kFloat));
  return at::stack(out);
}

std::vector<std::int64_t> ids(const at::Tensor& chosen) {
  const at::Tensor c = chosen.to(at::kLong).contiguous();
  return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
}

/// Token frequencies of `draws` single-row samples of `logits` (4 tokens) through `chain`.
std::vector<double> frequencies(DecodingStep& chain, const at::Tensor& logits, int draws, std::uint64_t seed) {
  std::vector<at::Generator> rngs{lmlab::sequence_generator(seed, 0)};
  std::vector<double> counts(4, 0.0);
  for (int i = 0; i < draws; ++i) {
    DecodeState state = state_for(logits.unsqueeze(0), &rngs);
    chain.apply(state);
    counts[static_cast<std::size_t>(state.chosen.item<std::int64_t>())] += 1.0;
  }
  for (double& c : counts) c /= draws;
  return counts;
}

}  // namespace

TEST_CASE("decoding chain: rejects chains that do not end in exactly one selector", "[decoding]") {
  CHECK_THROWS_MATCHES(DecodingChain(std::vector<StepPtr>{}), lmlab::ConfigError,
                       MessageContains("decoding chain []"));
  CHECK_THROWS_MATCHES(DecodingChain({affine("temperature")}), lmlab::ConfigError,
                       MessageContains("decoding chain [temperature]: the last step must select a token "
                                       "(greedy, sample) or search (beam_search, contrastive_search)"));
  CHECK_THROWS_MATCHES(DecodingChain({std::make_shared<Counter>(), affine("temperature")}), lmlab::ConfigError,
                       MessageContains("decoding chain [counter, temperature]") &&
                           MessageContains("step 1 ('counter') selects"));
  CHECK_THROWS_MATCHES(DecodingChain({std::make_shared<Counter>(), std::make_shared<Counter>()}), lmlab::ConfigError,
                       MessageContains("only the last step may select"));
  CHECK_THROWS_MATCHES(DecodingChain({affine("a"), nullptr, std::make_shared<Counter>()}), lmlab::ConfigError,
                       MessageContains("step 2 is missing"));
  CHECK_NOTHROW(DecodingChain({std::make_shared<Counter>()}));
}

TEST_CASE("decoding chain: runs its steps in order and is named after them", "[decoding]") {
  auto log = std::make_shared<std::vector<std::string>>();
  DecodingChain chain({std::make_shared<Affine>("plus1", 1.0, 1.0, log),
                       std::make_shared<Affine>("times2", 2.0, 0.0, log), std::make_shared<Counter>()});
  CHECK(chain.name() == "plus1>times2>counter");
  CHECK(chain.selects());
  REQUIRE(chain.steps().size() == 3);

  DecodeState state = state_for(at::tensor({1.0, 2.0, 3.0, 4.0}).unsqueeze(0));
  chain.apply(state);
  CHECK(*log == std::vector<std::string>{"plus1", "times2"});
  // (x + 1) * 2, not x * 2 + 1.
  CHECK(at::allclose(state.logits, at::tensor({4.0f, 6.0f, 8.0f, 10.0f}).unsqueeze(0)));
  CHECK(ids(state.chosen) == std::vector<std::int64_t>{0});
}

TEST_CASE("decoding chain: clone is deep and reset reaches every step", "[decoding]") {
  auto counter = std::make_shared<Counter>();
  DecodingChain chain({affine("identity"), counter});
  const StepPtr copy = chain.clone();
  REQUIRE(copy->name() == "identity>counter");

  DecodeState state = state_for(at::zeros({2, 4}));
  copy->apply(state);
  copy->apply(state);
  CHECK(ids(state.chosen) == std::vector<std::int64_t>{1, 1});
  CHECK(counter->calls == 0);  // the copy has its own counter

  chain.apply(state);
  chain.apply(state);
  chain.apply(state);
  CHECK(counter->calls == 3);
  chain.reset();
  CHECK(counter->calls == 0);
  chain.apply(state);
  CHECK(ids(state.chosen) == std::vector<std::int64_t>{0, 0});
}

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

TEST_CASE("greedy: picks the argmax, ties to the lowest id", "[decoding][plugin]") {
  const StepPtr step = make_step("greedy");
  CHECK(step->name() == "greedy");
  CHECK(step->selects());
  const double inf = std::numeric_limits<double>::infinity();
  DecodeState state = state_for(rows({{0.1, 2.5, -1.0, 2.4},        // clear maximum
                                      {3.0, 1.0, 3.0, 3.0},         // three-way tie
                                      {-inf, 1.0, 0.0, 1.0},        // tie after a masked token
                                      {-5.0, -4.0, -3.0, -2.0}}));  // all negative
  step->apply(state);
  CHECK(ids(state.chosen) == std::vector<std::int64_t>{1, 0, 1, 3});
  CHECK(state.chosen.scalar_type() == at::kLong);
}

TEST_CASE("sample: frequencies follow the softmax", "[decoding][plugin]") {
  const int draws = 20000;
  // Binomial standard deviation is at most sqrt(0.25 / 20000) = 0.0035; 0.015 is above 4 sigma.
  const double tolerance = 0.015;
  const at::Tensor logits = at::log(at::tensor({0.1, 0.2, 0.3, 0.4}));
  DecodingChain plain({make_step("sample")});
  const std::vector<double> f = frequencies(plain, logits, draws, 11);
  const std::vector<double> expected = {0.1, 0.2, 0.3, 0.4};
  for (std::size_t i = 0; i < 4; ++i) CHECK(f[i] == Approx(expected[i]).margin(tolerance));

  // Through temperature 0.5: p^2 / sum(p^2).
  DecodingChain sharp({make_step("temperature", toml::table{{"value", 0.5}}), make_step("sample")});
  const std::vector<double> g = frequencies(sharp, logits, draws, 12);
  const std::vector<double> sharpened = {1.0 / 30, 4.0 / 30, 9.0 / 30, 16.0 / 30};
  for (std::size_t i = 0; i < 4; ++i) CHECK(g[i] == Approx(sharpened[i]).margin(tolerance));

  // A masked (-inf) token is never drawn.
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> h = frequencies(plain, at::tensor({0.0, -inf, 0.0, 0.0}), 3000, 13);
  CHECK(h[1] == 0.0);
  CHECK(h[0] + h[2] + h[3] == Approx(1.0));
}

TEST_CASE("sample: same seed, same draws, whatever the batch position", "[decoding][plugin]") {
  const StepPtr step = make_step("sample");
  const at::Tensor flat = at::zeros({4});  // uniform, so draws vary as much as possible
  const int steps = 64;

  auto draws_alone = [&](std::uint64_t seed, std::int64_t index) {
    std::vector<at::Generator> rngs{lmlab::sequence_generator(seed, index)};
    std::vector<std::int64_t> out;
    for (int i = 0; i < steps; ++i) {
      DecodeState state = state_for(flat.unsqueeze(0), &rngs);
      step->apply(state);
      out.push_back(ids(state.chosen)[0]);
    }
    return out;
  };
  const std::vector<std::int64_t> first = draws_alone(5, 7);
  CHECK(draws_alone(5, 7) == first);
  CHECK(draws_alone(6, 7) != first);
  CHECK(draws_alone(5, 8) != first);

  // Sequence 7 sitting at row 2 of a batch whose other rows have other distributions.
  std::vector<at::Generator> rngs;
  for (std::int64_t index = 5; index < 8; ++index) rngs.push_back(lmlab::sequence_generator(5, index));
  const at::Tensor batch = at::stack({at::tensor({5.0, 0.0, 0.0, 0.0}), at::tensor({0.0, 0.0, 0.0, 9.0}), flat});
  std::vector<std::int64_t> in_batch;
  for (int i = 0; i < steps; ++i) {
    DecodeState state = state_for(batch, &rngs);
    step->apply(state);
    in_batch.push_back(ids(state.chosen)[2]);
  }
  CHECK(in_batch == first);
}

TEST_CASE("sample: needs one generator per sequence", "[decoding][plugin]") {
  const StepPtr step = make_step("sample");
  DecodeState without = state_for(at::zeros({2, 4}));
  CHECK_THROWS_WITH(step->apply(without), Contains("one generator per sequence"));
  std::vector<at::Generator> one{lmlab::sequence_generator(0, 0)};
  DecodeState too_few = state_for(at::zeros({2, 4}), &one);
  CHECK_THROWS_WITH(step->apply(too_few), Contains("2 sequences, 1 generators"));
}

TEST_CASE("history_counts: counts each id from a column on, padding never", "[decoding]") {
  lmlab::DecodeState state;
  state.logits = at::zeros({2, 5});
  // Row 0 is left-padded with the pad id 300, outside this 5-id vocabulary.
  state.history = at::tensor({300, 300, 1, 1, 3, 2, 2, 4, 0, 2}, at::kLong).view({2, 5});
  state.history_mask = at::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 5}).to(at::kBool);
  CHECK(at::equal(lmlab::history_counts(state, 0), at::tensor({0, 2, 0, 1, 0, 1, 0, 3, 0, 1}, at::kFloat).view({2, 5})));
  CHECK(at::equal(lmlab::history_counts(state, 3), at::tensor({0, 1, 0, 1, 0, 1, 0, 1, 0, 0}, at::kFloat).view({2, 5})));
  CHECK(at::equal(lmlab::history_counts(state, 9), at::zeros({2, 5})));  // past the end: nothing
  state.history_mask = at::Tensor();  // no mask: every column counts
  state.history = at::tensor({1, 1, 2}, at::kLong).view({1, 3});
  state.logits = at::zeros({1, 5});
  CHECK(at::equal(lmlab::history_counts(state, 0), at::tensor({0, 2, 1, 0, 0}, at::kFloat).view({1, 5})));
  CHECK_THROWS_WITH(lmlab::history_counts(lmlab::DecodeState{}, 0), Catch::Contains("needs the token history"));
}
