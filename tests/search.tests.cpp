// Search strategies in a chain: the chain hands the model to its last step when that step is a
// search, after applying its other steps to every row's logits; a search is never applied to
// one position; what decode() checks of a search's answer.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/search.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace search_tests {

using lmlab::test::MessageContains;
using StepPtr = std::shared_ptr<lmlab::DecodingStep>;

namespace {

/// Logits that favour (last token + 1) % V, by 3 nats over the rest.
class Successor final : public lmlab::Architecture {
 public:
  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    const at::Tensor next = (input.tokens + 1).remainder(5);  // (B, T)
    lmlab::ModelOutput out;
    out.logits = at::one_hot(next, 5).to(at::kFloat) * 3.0;                       // (B, T, V)
    out.hidden = at::one_hot(input.tokens.remainder(5), 5).to(at::kFloat);       // (B, T, C)
    return out;
  }
  std::int64_t context_length() const override { return 16; }
  lmlab::Capabilities capabilities() const override { return {.generates = true}; }
  lmlab::Accounting accounting() const override { return {}; }
};

/// Adds 10 to token 0's logit: an easily seen processor.
class FavourZero final : public lmlab::DecodingStep {
 public:
  std::string name() const override { return "favour_zero"; }
  void apply(lmlab::DecodeState& state) override {
    ++calls;
    state.logits.select(1, 0).add_(10.0);
  }
  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<FavourZero>(*this); }
  int calls = 0;
};

/// A search that takes, `steps` times, the argmax of the processed logits, and records what it saw.
class ArgmaxSearch final : public lmlab::SearchStrategy {
 public:
  std::string name() const override { return "argmax_search"; }
  bool needs_hidden() const override { return true; }
  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<ArgmaxSearch>(*this); }
  std::vector<std::vector<lmlab::Continuation>> run(lmlab::SearchInput& input) override {
    max_new_tokens = input.max_new_tokens;
    std::vector<std::vector<lmlab::Continuation>> out(static_cast<std::size_t>(input.model.rows()),
                                                      std::vector<lmlab::Continuation>(1));
    for (std::int64_t s = 0; s < input.max_new_tokens; ++s) {
      const lmlab::StepOutput next = input.model.forward();
      had_hidden = next.hidden.defined();
      lmlab::DecodeState state;
      state.logits = next.logits;  // (R, V)
      state.history = input.model.history();
      input.process(state);
      const at::Tensor chosen = state.logits.argmax(-1);  // (R)
      for (std::int64_t r = 0; r < input.model.rows(); ++r) {
        out[static_cast<std::size_t>(r)][0].tokens.push_back(chosen[r].item<std::int64_t>());
      }
      input.model.append(chosen);
    }
    return drop_all ? std::vector<std::vector<lmlab::Continuation>>{} : out;
  }
  std::int64_t max_new_tokens = -1;
  bool had_hidden = false, drop_all = false;
};

}  // namespace

TEST_CASE("search: the chain's last step searches, its other steps process every row", "[search]") {
  auto favour = std::make_shared<FavourZero>();
  auto search = std::make_shared<ArgmaxSearch>();
  lmlab::DecodingChain chain({favour, search});
  CHECK(chain.search() == search.get());
  CHECK(lmlab::DecodingChain({std::make_shared<FavourZero>(), search}).selects());

  Successor model;
  lmlab::GenerateOptions options;
  options.max_new_tokens = 3;
  // FavourZero outweighs the model's 3 nats: every token is 0, however the prompt ends.
  CHECK(lmlab::generate(model, chain, {{2}, {4, 1}}, options, at::kCPU) ==
        std::vector<std::vector<std::int64_t>>{{0, 0, 0}, {0, 0, 0}});
  CHECK(favour->calls == 3);
  CHECK(search->max_new_tokens == 3);
  CHECK(search->had_hidden);  // a search may compare hidden states, so the stepper returns them

  // Alone, the search follows the model.
  ArgmaxSearch alone;
  CHECK(lmlab::generate(model, alone, {{2}}, options, at::kCPU) == std::vector<std::vector<std::int64_t>>{{3, 4, 0}});
}

TEST_CASE("search: process applies every step but the last", "[search]") {
  auto favour = std::make_shared<FavourZero>();
  lmlab::DecodingChain chain({favour, std::make_shared<ArgmaxSearch>()});
  lmlab::DecodeState state;
  state.logits = at::zeros({2, 5});
  chain.process(state);
  CHECK(favour->calls == 1);
  CHECK(state.logits[1][0].item<float>() == 10.0f);
}

TEST_CASE("search: is not applied to one position, and must answer every prompt", "[search]") {
  ArgmaxSearch search;
  lmlab::DecodeState state;
  state.logits = at::zeros({1, 5});
  CHECK_THROWS_MATCHES(search.apply(state), std::logic_error,
                       MessageContains("'argmax_search' is a search strategy"));
  Successor model;
  lmlab::GenerateOptions options;
  options.max_new_tokens = 2;
  search.drop_all = true;
  CHECK_THROWS_MATCHES(lmlab::generate(model, search, {{1}}, options, at::kCPU), std::logic_error,
                       MessageContains("returned 0 lists for 1 prompts"));
}

}  // namespace search_tests
