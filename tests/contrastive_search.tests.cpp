// Contrastive search (Su et al. 2022): hand-computed choices on a toy model whose hidden states
// and next-token distributions are lookup tables, then the identities it must keep on tiny real
// models of each generating family: alpha = 0 and k = 1 are greedy decoding, the cache changes
// nothing, a prompt's continuation does not depend on its batch, the chain's earlier steps
// apply, and the degeneration penalty reduces repetition.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/repetition.hpp"
#include "lmlab/search.hpp"
#include "support/models.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace contrastive_search_tests {

using lmlab::DecodingStep;
using lmlab::test::MessageContains;
using StepPtr = std::shared_ptr<DecodingStep>;
using Tokens = std::vector<std::int64_t>;
using Batch = std::vector<Tokens>;

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 0);
}

lmlab::DecodingChain chain_of(std::vector<StepPtr> steps) { return lmlab::DecodingChain(std::move(steps)); }

lmlab::DecodingChain contrastive(std::int64_t k, double alpha) {
  return chain_of({make_step("contrastive_search", toml::table{{"k", k}, {"alpha", alpha}})});
}

lmlab::DecodingChain greedy() { return chain_of({make_step("greedy")}); }

/// A toy model read from two tables: token t's hidden state is embeddings[t] wherever it
/// stands, and the next-token distribution after it is next[t] (logits = log p), whatever came
/// before. Nothing depends on the past, so it keeps nothing in the cache.
class Lookup final : public lmlab::Architecture {
 public:
  Lookup(const std::vector<std::vector<double>>& next, const std::vector<std::vector<double>>& embeddings) {
    for (const auto& row : next) next_.push_back(at::log(at::tensor(row, at::kFloat)));
    for (const auto& row : embeddings) embeddings_.push_back(at::tensor(row, at::kFloat));
  }

  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    const at::Tensor flat = input.tokens.reshape({-1});  // (B*T)
    const std::int64_t B = input.tokens.size(0), T = input.tokens.size(1);
    lmlab::ModelOutput out;
    out.logits = at::stack(next_).index_select(0, flat).view({B, T, -1});  // (B, T, V)
    if (input.return_hidden) out.hidden = at::stack(embeddings_).index_select(0, flat).view({B, T, -1});  // (B, T, C)
    return out;
  }
  std::int64_t context_length() const override { return 16; }
  lmlab::Capabilities capabilities() const override { return {.generates = true}; }
  lmlab::Accounting accounting() const override { return {}; }

 private:
  std::vector<at::Tensor> next_, embeddings_;
};

// V = 4, C = 2. Tokens 0 and 1 share a hidden state; 3 is halfway between 0 and 2.
const std::vector<std::vector<double>> toy_embeddings = {{1, 0}, {1, 0}, {0, 1}, {1, 1}};
const std::vector<std::vector<double>> toy_next = {
    {0.10, 0.50, 0.30, 0.10},   // after 0
    {0.35, 0.35, 0.20, 0.10},   // after 1: 0 and 1 tie in p and in hidden state
    {0.05, 0.40, 0.10, 0.45},   // after 2
    {0.70, 0.10, 0.10, 0.10}};  // after 3

double entropy(const std::vector<double>& p) {
  double h = 0;
  for (double x : p) h -= x * std::log(x);
  return h;
}

/// How many positions of `tokens` belong to a 4-gram that occurred earlier in it.
std::int64_t repeated_4grams(const Tokens& tokens) {
  if (tokens.size() < 4) return 0;
  const at::Tensor row = at::tensor(tokens, at::kLong).unsqueeze(0);  // (1, L)
  return lmlab::ngram_repeat_mask(row, 4).sum().item<std::int64_t>();
}

lmlab::GenerateOptions family_options(std::int64_t max_new_tokens) {
  lmlab::GenerateOptions options;
  options.max_new_tokens = max_new_tokens;
  options.decoder_start_id = 0;  // read by the encoder-decoder only
  return options;
}

// Left-padded prompts of different lengths; with a context of 8 and 12 new tokens the cache
// window refills during the generation (the decoder-only prompt of 6 at once).
const Batch family_prompts = {{3, 1, 4, 1, 5, 9}, {26, 5}, {35}};

}  // namespace

TEST_CASE("contrastive_search: picks by (1 - alpha) p - alpha max cos, by hand", "[contrastive_search]") {
  Lookup model(toy_next, toy_embeddings);
  const double alpha = 0.5, c = std::sqrt(0.5);  // c: cos between token 3 and tokens 0 or 2
  const auto score = [&](double p, double max_cos) { return (1 - alpha) * p - alpha * max_cos; };
  lmlab::DecodingChain chain = contrastive(2, alpha);
  lmlab::GenerateOptions options;
  options.max_new_tokens = 3;

  // Prompt [0], context {h0}.
  // Step 1, after 0: candidates 1 (p .5, a copy of h0: cos 1) and 2 (p .3, cos 0).
  CHECK(score(0.3, 0.0) > score(0.5, 1.0));  // 0.15 > -0.25: 2, not greedy's 1
  // Step 2, context {h0, h2}, after 2: candidates 3 (p .45, cos c) and 1 (p .4, cos 1).
  CHECK(score(0.45, c) > score(0.4, 1.0));  // -0.129 > -0.3: 3
  // Step 3, context {h0, h2, h3}, after 3: candidates 0 (p .7, cos 1) and 1 (p .1, the lowest
  // id of three equal ones, cos 1).
  CHECK(score(0.7, 1.0) > score(0.1, 1.0));  // -0.15 > -0.45: 0
  const auto lists = lmlab::decode(model, chain, {{0}}, options, at::kCPU);
  REQUIRE(lists.size() == 1);
  REQUIRE(lists[0].size() == 1);
  const lmlab::Continuation& best = lists[0][0];
  CHECK(best.tokens == Tokens{2, 3, 0});
  // The untruncated log-probabilities and entropies of the distributions each token came from.
  const double logprob = std::log(0.3) + std::log(0.45) + std::log(0.7);
  CHECK(best.logprob == Approx(logprob).margin(1e-5));
  CHECK(best.score == best.logprob);
  REQUIRE(best.entropy.size() == 3);
  CHECK(best.entropy[0] == Approx(entropy(toy_next[0])).margin(1e-5));
  CHECK(best.entropy[1] == Approx(entropy(toy_next[2])).margin(1e-5));
  CHECK(best.entropy[2] == Approx(entropy(toy_next[3])).margin(1e-5));
  // Greedy decoding, and alpha = 0: 1, then 0 (tied with 1: the lowest id, the better rank), then 1.
  lmlab::DecodingChain reference = greedy();
  CHECK(lmlab::generate(model, reference, {{0}}, options, at::kCPU) == Batch{{1, 0, 1}});
  lmlab::DecodingChain plain = contrastive(2, 0.0);
  CHECK(lmlab::generate(model, plain, {{0}}, options, at::kCPU) == Batch{{1, 0, 1}});

  // The prompt's tokens are context too. Prompt [2, 0], context {h2, h0}.
  // Step 1: 1 (p .5, cos 1 with h0) against 2 (p .3, cos 1 with h2).
  CHECK(score(0.5, 1.0) > score(0.3, 1.0));  // 1
  // Step 2, after 1: 0 and 1 tie in p and cos: the better rank, 0. Step 3 is step 1 again: 1.
  CHECK(lmlab::generate(model, chain, {{2, 0}}, options, at::kCPU) == Batch{{1, 0, 1}});

  // Left padding is not context: padded with 2, prompt [0] must still see {h0} alone (a padding
  // h2 would make candidate 2 a copy and turn step 1 to 1). Row 1 stops at eos 3, row 0 goes on.
  options.pad_id = 2;
  CHECK(lmlab::generate(model, chain, {{0}, {2, 0}}, options, at::kCPU) == Batch{{2, 3, 0}, {1, 0, 1}});
  options.eos_id = 3;
  CHECK(lmlab::generate(model, chain, {{0}, {2, 0}}, options, at::kCPU) == Batch{{2, 3}, {1, 0, 1}});

  options.max_new_tokens = 0;
  const auto none = lmlab::decode(model, chain, {{0}, {1}}, options, at::kCPU);
  REQUIRE(none.size() == 2);
  CHECK(none[0].at(0).tokens.empty());
  CHECK(none[1].at(0).tokens.empty());
}

TEST_CASE("contrastive_search: alpha = 0 and k = 1 are greedy decoding in every family", "[contrastive_search]") {
  for (const auto& family : lmlab::test::generating_families) {
    INFO(family);
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 8, 3);
    const lmlab::GenerateOptions options = family_options(12);
    lmlab::DecodingChain reference = greedy();
    const Batch expected = lmlab::generate(*model, reference, family_prompts, options, at::kCPU);
    lmlab::DecodingChain no_penalty = contrastive(4, 0.0);
    CHECK(lmlab::generate(*model, no_penalty, family_prompts, options, at::kCPU) == expected);
    lmlab::DecodingChain one_candidate = contrastive(1, 0.6);
    CHECK(lmlab::generate(*model, one_candidate, family_prompts, options, at::kCPU) == expected);
  }
}

TEST_CASE("contrastive_search: the cache changes nothing", "[contrastive_search]") {
  for (const auto& family : lmlab::test::generating_families) {
    INFO(family);
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 8, 3);
    lmlab::GenerateOptions options = family_options(12);
    lmlab::DecodingChain chain = contrastive(4, 0.6);
    const Batch cached = lmlab::generate(*model, chain, family_prompts, options, at::kCPU);
    options.use_cache = false;
    CHECK(lmlab::generate(*model, chain, family_prompts, options, at::kCPU) == cached);
    // And the penalty does change something, or this would only test greedy decoding again.
    lmlab::DecodingChain reference = greedy();
    CHECK(lmlab::generate(*model, reference, family_prompts, options, at::kCPU) != cached);
  }
}

TEST_CASE("contrastive_search: a prompt's continuation does not depend on its batch", "[contrastive_search]") {
  const Tokens prompt = {7, 21, 3, 30};
  for (const auto& family : lmlab::test::generating_families) {
    INFO(family);
    // A context of 8: every row's window refills within the 12 tokens, each on its own schedule
    // (the stepper's windows are per row), so padding from longer prompts changes nothing.
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 8, 5);
    const lmlab::GenerateOptions options = family_options(12);
    lmlab::DecodingChain chain = contrastive(4, 0.6);
    const Batch alone = lmlab::generate(*model, chain, {prompt}, options, at::kCPU);
    const Batch batch = lmlab::generate(*model, chain, {{1, 2, 3, 4, 5, 6, 7, 8}, prompt, {12}}, options, at::kCPU);
    REQUIRE(batch.size() == 3);
    CHECK(alone[0].size() == 12);
    CHECK(batch[1] == alone[0]);
    CHECK(batch[0] != alone[0]);
  }
}

TEST_CASE("contrastive_search: the chain's earlier steps shape the candidates", "[contrastive_search]") {
  const auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), 40, 8, 3);
  const lmlab::GenerateOptions options = family_options(12);
  lmlab::DecodingChain plain = contrastive(4, 0.6);
  const Batch free = lmlab::generate(*model, plain, family_prompts, options, at::kCPU);
  // Ban the token emitted first: it never appears.
  const std::int64_t banned = free[0].at(0);
  const double inf = std::numeric_limits<double>::infinity();
  lmlab::DecodingChain biased = chain_of(
      {make_step("logit_bias", toml::table{{"ids", toml::array{banned}}, {"biases", toml::array{-inf}}}),
       make_step("contrastive_search")});
  const Batch out = lmlab::generate(*model, biased, family_prompts, options, at::kCPU);
  REQUIRE(out.size() == family_prompts.size());
  for (const Tokens& row : out) {
    CHECK(row.size() == 12);
    for (std::int64_t id : row) CHECK(id != banned);
  }
  // Candidates a warper cut (-inf) are never chosen, whatever their penalty: after top_k = 1
  // only the most probable is left, which is greedy decoding.
  lmlab::DecodingChain top1 = chain_of({make_step("top_k", toml::table{{"k", 1}}), make_step("contrastive_search")});
  lmlab::DecodingChain reference = greedy();
  CHECK(lmlab::generate(*model, top1, family_prompts, options, at::kCPU) ==
        lmlab::generate(*model, reference, family_prompts, options, at::kCPU));
}

TEST_CASE("contrastive_search: the degeneration penalty reduces repetition", "[contrastive_search]") {
  // Tiny random models' greedy continuations fall into loops. Not a lucky seed: on seeds 0-7 of
  // each family, greedy decoding's 120 tokens had 32-114 positions in a repeated 4-gram and
  // contrastive search's 0-8, so the margin checked here (4x) holds with room to spare.
  const Batch prompts = {{1, 2, 3}, {10, 20}, {33, 4, 17, 8}};
  for (const auto& family : lmlab::test::generating_families) {
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 32, 0);
    const lmlab::GenerateOptions options = family_options(40);
    lmlab::DecodingChain reference = greedy();
    lmlab::DecodingChain chain = contrastive(4, 0.6);
    std::int64_t greedy_repeats = 0, contrastive_repeats = 0;
    for (const Tokens& row : lmlab::generate(*model, reference, prompts, options, at::kCPU)) {
      greedy_repeats += repeated_4grams(row);
    }
    for (const Tokens& row : lmlab::generate(*model, chain, prompts, options, at::kCPU)) {
      contrastive_repeats += repeated_4grams(row);
    }
    INFO(family << ": positions in a repeated 4-gram, greedy " << greedy_repeats << ", contrastive "
                << contrastive_repeats);
    CHECK(greedy_repeats >= 30);
    CHECK(contrastive_repeats * 4 < greedy_repeats);
  }
}

TEST_CASE("contrastive_search: options out of range are ConfigErrors naming the key and value",
          "[contrastive_search]") {
  CHECK_THROWS_MATCHES(make_step("contrastive_search", toml::table{{"alpha", 1.5}}), lmlab::ConfigError,
                       MessageContains("decoding.contrastive_search.alpha") && MessageContains("1.5") &&
                           MessageContains("out of range"));
  CHECK_THROWS_MATCHES(make_step("contrastive_search", toml::table{{"alpha", -0.25}}), lmlab::ConfigError,
                       MessageContains("decoding.contrastive_search.alpha") && MessageContains("-0.25") &&
                           MessageContains("out of range"));
  CHECK_THROWS_MATCHES(make_step("contrastive_search", toml::table{{"k", 0}}), lmlab::ConfigError,
                       MessageContains("decoding.contrastive_search.k") && MessageContains("out of range"));
  CHECK_NOTHROW(make_step("contrastive_search", toml::table{{"alpha", 0.0}}));
  CHECK_NOTHROW(make_step("contrastive_search", toml::table{{"alpha", 1.0}, {"k", 1}}));
  const StepPtr step = make_step("contrastive_search");
  CHECK(step->name() == "contrastive_search");
  CHECK(step->selects());
  CHECK(step->search() != nullptr);
  CHECK(step->clone()->search() != nullptr);
}

}  // namespace contrastive_search_tests
