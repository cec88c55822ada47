// The framework's own decoding pieces (framework/src/generation/decoding.cpp and the SDK's
// lmlab/decoding.hpp): the chain that composes steps, Cloneable and the registered name, and
// history_counts. Each built-in step's tests are in tests/<step>.tests.cpp.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace decoding_tests {

using lmlab::DecodeState;
using lmlab::DecodingChain;
using lmlab::DecodingStep;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

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

/// A step written as a plugin writes one: Cloneable gives it clone() and name(); it counts its calls.
class Tally final : public lmlab::Cloneable<Tally> {
 public:
  void apply(DecodeState& state) override {
    ++calls;
    state.logits = state.logits + 1.0;  // (B, V)
  }
  std::int64_t calls = 0;
};

/// A registry holding `make` as decoding step `name`, as a plugin's registration would add it.
lmlab::Registry registry_with(const std::string& name, std::function<StepPtr()> make) {
  lmlab::Registry registry;
  lmlab::Factory<DecodingStep> factory;
  factory.info.name = name;
  factory.info.library = "decoding.tests";
  factory.make = [make](const toml::table&, const lmlab::DecodingContext&) { return make(); };
  registry.add(std::move(factory));
  return registry;
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

TEST_CASE("decoding step: Cloneable clones the derived step; name() is the registered name", "[decoding]") {
  const lmlab::Registry registry = registry_with("tally", [] { return std::make_shared<Tally>(); });
  const StepPtr step = registry.get<DecodingStep>("tally").make(toml::table{}, lmlab::DecodingContext{4});
  CHECK(step->name() == "tally");
  DecodeState state = state_for(at::zeros({1, 4}));
  step->apply(state);

  // The copy is a Tally (not a DecodingStep sliced off one), with the original's state and name,
  // and independent of it afterwards.
  const StepPtr copy = step->clone();
  REQUIRE(dynamic_cast<const Tally*>(copy.get()) != nullptr);
  CHECK(copy->name() == "tally");
  CHECK(dynamic_cast<const Tally&>(*copy).calls == 1);
  copy->apply(state);
  CHECK(dynamic_cast<const Tally&>(*copy).calls == 2);
  CHECK(dynamic_cast<const Tally&>(*step).calls == 1);
  CHECK(at::equal(state.logits, at::full({1, 4}, 2.0f)));

  // Built outside a registry a step has no registered name; a step that names itself keeps its
  // own name whatever it is registered under.
  CHECK(Tally().name().empty());
  const lmlab::Registry renamed = registry_with("registered", [] { return affine("own"); });
  CHECK(renamed.get<DecodingStep>("registered").make(toml::table{}, lmlab::DecodingContext{4})->name() == "own");

  // A built-in plugin's step, and its clone, answer with the name the library registered.
  const StepPtr top_k = lmlab::test::decoding_step("top_k", {}, 4);
  CHECK(top_k->name() == "top_k");
  CHECK(top_k->clone()->name() == "top_k");
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

}  // namespace decoding_tests
