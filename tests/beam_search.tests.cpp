// Beam search: hand-computed searches on a toy Markov model (a wider beam finds what greedy
// misses; the three early-stopping rules), an exhaustive check against every continuation of a
// tiny real model, then the identities it must keep on tiny real models of each generating
// family: width 1 is greedy decoding, the cache changes nothing, the chain's earlier steps
// apply, and a prompt's result does not depend on its batch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "lmlab/architecture.hpp"
#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/generate.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"
#include "lmlab/search.hpp"
#include "support/models.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace beam_search_tests {

using lmlab::Continuation;
using lmlab::DecodingStep;
using lmlab::test::MessageContains;
using StepPtr = std::shared_ptr<DecodingStep>;
using Tokens = std::vector<std::int64_t>;
using Batch = std::vector<Tokens>;

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 0);
}

lmlab::DecodingChain beam(const toml::table& options, std::vector<StepPtr> before = {}) {
  before.push_back(make_step("beam_search", options));
  return lmlab::DecodingChain(std::move(before));
}

lmlab::DecodingChain greedy() { return lmlab::DecodingChain({make_step("greedy")}); }

/// A toy model whose next-token distribution depends only on the last token: logits = log
/// next[last]. Nothing depends on the past, so it keeps nothing in the cache. It counts its calls.
class Markov final : public lmlab::Architecture {
 public:
  explicit Markov(const std::vector<std::vector<double>>& next) {
    std::vector<at::Tensor> rows;
    for (const auto& row : next) rows.push_back(at::log(at::tensor(row, at::kFloat)));
    table_ = at::stack(rows);  // (V, V)
  }

  lmlab::ModelOutput forward(const lmlab::ModelInput& input) override {
    ++calls;
    const std::int64_t B = input.tokens.size(0), T = input.tokens.size(1);
    lmlab::ModelOutput out;
    out.logits = table_.index_select(0, input.tokens.reshape({-1})).view({B, T, -1});  // (B, T, V)
    asked_hidden = asked_hidden || input.return_hidden;  // beam search never needs them
    return out;
  }
  std::int64_t context_length() const override { return 32; }
  lmlab::Capabilities capabilities() const override { return {.generates = true}; }
  lmlab::Accounting accounting() const override { return {}; }

  std::int64_t calls = 0;
  bool asked_hidden = false;

 private:
  at::Tensor table_;
};

/// Entropy in nats of a probability vector.
double entropy(const std::vector<double>& p) {
  double h = 0;
  for (double x : p) h -= x * std::log(x);
  return h;
}

lmlab::GenerateOptions toy_options(std::int64_t max_new_tokens) {
  lmlab::GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.eos_id = 3;
  return o;
}

/// Tokens of every continuation in a list, best first.
Batch tokens_of(const std::vector<Continuation>& list) {
  Batch out;
  for (const auto& c : list) out.push_back(c.tokens);
  return out;
}

const Batch family_prompts = {{5, 9, 2, 11, 4}, {7}, {1, 8, 3}};

lmlab::GenerateOptions family_options(std::int64_t max_new_tokens, std::int64_t eos_id = -1) {
  lmlab::GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.eos_id = eos_id;
  o.decoder_start_id = 0;  // ignored by the decoder-only families
  return o;
}

}  // namespace

// V = 4, eos = 3, prompt [0]. Greedy takes 1 (0.5), then ties at 0.3 and takes the lowest id, 0:
// [1, 0] with p = 0.15. Beam width 2 keeps [2] (0.4) too, whose eos follows with 0.8:
// [2, eos] with p = 0.32, score log(0.32) / 2^1.
TEST_CASE("beam_search: width 2 finds the sequence greedy misses", "[beam_search]") {
  const std::vector<std::vector<double>> next = {
      {0.05, 0.5, 0.4, 0.05}, {0.3, 0.3, 0.1, 0.3}, {0.05, 0.05, 0.1, 0.8}, {0.25, 0.25, 0.25, 0.25}};
  Markov model(next);
  const lmlab::GenerateOptions options = toy_options(2);
  lmlab::DecodingChain reference = greedy();
  CHECK(lmlab::generate(model, reference, {{0}}, options, at::kCPU) == Batch{{1, 0}});

  lmlab::DecodingChain two = beam(toml::table{{"width", 2}, {"n_best", 2}});
  const auto lists = lmlab::decode(model, two, {{0}}, options, at::kCPU);
  REQUIRE(lists.size() == 1);
  const auto& list = lists[0];
  // At step 1 the candidates are [2,eos] 0.32, then [1,0], [1,1], [1,eos] tied at 0.15: the
  // lower flat index wins, so [1,0] and [1,1] go on and [1,eos] (rank 3 >= W) is dropped. At
  // max_new_tokens the live beams finish; [1,1] ties the worst of a full list and stays out.
  REQUIRE(tokens_of(list) == Batch{{2, 3}, {1, 0}});
  CHECK(list[0].score == Approx(std::log(0.32) / 2).margin(1e-6));
  CHECK(list[1].score == Approx(std::log(0.15) / 2).margin(1e-6));
  // Without processors the untruncated log-probability is the sum the score divides.
  CHECK(list[0].logprob == Approx(std::log(0.32)).margin(1e-6));
  REQUIRE(list[0].entropy.size() == 2);
  CHECK(list[0].entropy[0] == Approx(entropy(next[0])).margin(1e-5));
  CHECK(list[0].entropy[1] == Approx(entropy(next[2])).margin(1e-5));
  CHECK(lmlab::generate(model, two, {{0}}, options, at::kCPU) == Batch{{2, 3}});

  // Width 1 is greedy, ties included.
  lmlab::DecodingChain one = beam(toml::table{{"width", 1}});
  const auto single = lmlab::decode(model, one, {{0}}, options, at::kCPU);
  REQUIRE(tokens_of(single[0]) == Batch{{1, 0}});
  CHECK(single[0][0].score == Approx(std::log(0.15) / 2).margin(1e-6));

  // alpha = 0 ranks by the raw sum: the same winner here, score log(0.32).
  lmlab::DecodingChain raw = beam(toml::table{{"width", 2}, {"length_penalty", 0.0}});
  const auto unpenalised = lmlab::decode(model, raw, {{0}}, options, at::kCPU);
  REQUIRE(tokens_of(unpenalised[0]) == Batch{{2, 3}});
  CHECK(unpenalised[0][0].score == Approx(std::log(0.32)).margin(1e-6));
}

// Width 2, alpha = 0, prompt [0]. Step 0 keeps [1] (0.5) and [2] (0.4). Step 1 ranks [1,eos]
// 0.25 (finished), [1,0] 0.225, [2,eos] 0.2, [2,0] 0.12: [2,eos] is rank 2 >= W, so it is dropped
// although it would beat what the search finishes later, [1,0,1] (0.1125): an eos counts only
// among the W best candidates of its step.
TEST_CASE("beam_search: an eos ranked below the width does not finish", "[beam_search]") {
  const std::vector<std::vector<double>> next = {
      {0.05, 0.5, 0.4, 0.05}, {0.45, 0.025, 0.025, 0.5}, {0.3, 0.1, 0.1, 0.5}, {0.25, 0.25, 0.25, 0.25}};
  Markov model(next);
  lmlab::DecodingChain chain = beam(toml::table{{"width", 2}, {"n_best", 2}, {"length_penalty", 0.0}});
  const auto lists = lmlab::decode(model, chain, {{0}}, toy_options(3), at::kCPU);
  REQUIRE(tokens_of(lists[0]) == Batch{{1, 3}, {1, 0, 1}});
  CHECK_FALSE(model.asked_hidden);  // only contrastive search makes the model return hidden states
  CHECK(lists[0][0].score == Approx(std::log(0.25)).margin(1e-6));
  CHECK(lists[0][1].score == Approx(std::log(0.1125)).margin(1e-6));
}

// Width 2, alpha = 1, prompt [0]. Step 0: 1 (0.6) and eos (0.3, rank 1 < W: finished, score
// log 0.3) and 0 (0.05, before 2 on the tie). Step 1: [1,1] 0.45, [1,eos] 0.12 (rank 1: finished,
// log(0.12)/2), [0,1] 0.03 go on. Two finished: "first" stops with [1,eos]; "heuristic" sees the
// live [1,1] scoring log(0.45)/2 > log(0.3), the worst finished, and goes on; at max_new_tokens
// [1,1] finishes and is best.
TEST_CASE("beam_search: early_stopping first stops once width sequences finished", "[beam_search]") {
  const std::vector<std::vector<double>> next = {
      {0.05, 0.6, 0.05, 0.3}, {0.02, 0.75, 0.03, 0.2}, {0.25, 0.25, 0.25, 0.25}, {0.25, 0.25, 0.25, 0.25}};
  Markov model(next);
  lmlab::DecodingChain first = beam(toml::table{{"width", 2}, {"n_best", 2}, {"early_stopping", "first"}});
  const auto stopped = lmlab::decode(model, first, {{0}}, toy_options(2), at::kCPU);
  REQUIRE(tokens_of(stopped[0]) == Batch{{1, 3}, {3}});
  CHECK(stopped[0][0].score == Approx(std::log(0.12) / 2).margin(1e-6));
  CHECK(stopped[0][1].score == Approx(std::log(0.3)).margin(1e-6));
  // With room to go on it still stops there: the prompt, then one step.
  model.calls = 0;
  CHECK(lmlab::generate(model, first, {{0}}, toy_options(10), at::kCPU) == Batch{{1, 3}});
  CHECK(model.calls == 2);

  for (const char* rule : {"heuristic", "never"}) {
    INFO(rule);
    lmlab::DecodingChain chain = beam(toml::table{{"width", 2}, {"n_best", 2}, {"early_stopping", rule}});
    const auto lists = lmlab::decode(model, chain, {{0}}, toy_options(2), at::kCPU);
    REQUIRE(tokens_of(lists[0]) == Batch{{1, 1}, {1, 3}});
    CHECK(lists[0][0].score == Approx(std::log(0.45) / 2).margin(1e-6));
  }
}

// Width 1, prompt [0]: eos is most likely at once (0.5, score log 0.5), so "first" and
// "heuristic" stop with [eos]. "never" with alpha = 1 bounds the live [1] (0.45) by
// log(0.45) / 4^1 > log 0.5 and goes on to [1, 2, eos] (0.3645, score log(0.3645) / 3); there the
// live [1, 2, 0] is bounded by log(0.02025) / 4 < that, and it stops. With alpha = 0 the exact
// bound is the sum itself, log 0.45 < log 0.5: it stops at once too.
TEST_CASE("beam_search: early_stopping never searches until no live beam can win", "[beam_search]") {
  const std::vector<std::vector<double>> next = {
      {0.025, 0.45, 0.025, 0.5}, {0.025, 0.025, 0.9, 0.05}, {0.05, 0.025, 0.025, 0.9}, {0.25, 0.25, 0.25, 0.25}};
  Markov model(next);
  const lmlab::GenerateOptions options = toy_options(4);
  for (const char* rule : {"first", "heuristic"}) {
    INFO(rule);
    lmlab::DecodingChain chain = beam(toml::table{{"width", 1}, {"early_stopping", rule}});
    const auto lists = lmlab::decode(model, chain, {{0}}, options, at::kCPU);
    REQUIRE(tokens_of(lists[0]) == Batch{{3}});
    CHECK(lists[0][0].score == Approx(std::log(0.5)).margin(1e-6));
  }
  lmlab::DecodingChain never = beam(toml::table{{"width", 1}, {"early_stopping", "never"}});
  model.calls = 0;
  const auto exact = lmlab::decode(model, never, {{0}}, options, at::kCPU);
  REQUIRE(tokens_of(exact[0]) == Batch{{1, 2, 3}});
  CHECK(exact[0][0].score == Approx(std::log(0.45 * 0.9 * 0.9) / 3).margin(1e-6));
  CHECK(model.calls == 3);  // done after step 2, before a fourth forward

  lmlab::DecodingChain never_raw =
      beam(toml::table{{"width", 1}, {"early_stopping", "never"}, {"length_penalty", 0.0}});
  CHECK(lmlab::generate(model, never_raw, {{0}}, options, at::kCPU) == Batch{{3}});
}

// Every continuation of up to 3 tokens over V = 5 (eos = 4 ends one early): 1 + 4 + 80 = 85.
// Each is scored from full forwards without the cache; a width above every step's candidate
// count (80) keeps them all, so the n-best list is the whole ranking.
TEST_CASE("beam_search: an exhaustive width returns the true ranking", "[beam_search]") {
  const std::int64_t V = 5, eos = 4, max_new = 3;
  const auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), V, 16, 7);
  const Tokens prompt = {1, 3, 0};

  struct Scored {
    Tokens tokens;
    double sum;
  };
  std::vector<Scored> all;
  {
    torch::NoGradGuard no_grad;
    std::vector<Scored> open = {{{}, 0.0}};
    for (std::int64_t t = 0; t < max_new; ++t) {
      std::vector<Scored> next_open;
      for (const auto& s : open) {
        Tokens input = prompt;
        input.insert(input.end(), s.tokens.begin(), s.tokens.end());
        lmlab::ModelInput in;
        in.tokens = at::tensor(input, at::kLong).unsqueeze(0);  // (1, T)
        const at::Tensor logp = at::log_softmax(model->forward(in).logits[0][-1].to(at::kDouble), -1);  // (V)
        for (std::int64_t id = 0; id < V; ++id) {
          Scored longer{s.tokens, s.sum + logp[id].item<double>()};
          longer.tokens.push_back(id);
          if (id == eos || t + 1 == max_new) all.push_back(longer);
          else next_open.push_back(longer);
        }
      }
      open = std::move(next_open);
    }
  }
  REQUIRE(all.size() == 85);

  lmlab::GenerateOptions options;
  options.max_new_tokens = max_new;
  options.eos_id = eos;
  for (const double alpha : {0.0, 1.0, 2.0}) {
    INFO("alpha = " << alpha);
    std::map<Tokens, double> truth;
    for (const auto& s : all) truth[s.tokens] = s.sum / std::pow(static_cast<double>(s.tokens.size()), alpha);
    std::vector<std::pair<double, Tokens>> ranked;
    for (const auto& [tokens, score] : truth) ranked.emplace_back(score, tokens);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });

    lmlab::DecodingChain wide =
        beam(toml::table{{"width", 100}, {"n_best", 100}, {"length_penalty", alpha}, {"early_stopping", "never"}});
    const auto lists = lmlab::decode(*model, wide, {prompt}, options, at::kCPU);
    const auto& list = lists.at(0);
    REQUIRE(list.size() == all.size());
    CHECK(list[0].tokens == ranked[0].second);
    for (std::size_t i = 0; i < list.size(); ++i) {
      INFO("rank " << i);
      REQUIRE(truth.count(list[i].tokens) == 1);
      CHECK(list[i].score == Approx(truth[list[i].tokens]).margin(1e-5));
      CHECK(list[i].score == Approx(ranked[i].first).margin(1e-5));  // the same ranking
      // No processors: the untruncated sum is the score's numerator.
      CHECK(list[i].logprob ==
            Approx(list[i].score * std::pow(static_cast<double>(list[i].tokens.size()), alpha)).margin(1e-5));
      CHECK(list[i].entropy.size() == list[i].tokens.size());
    }
    std::set<Tokens> distinct;
    for (const auto& c : list) distinct.insert(c.tokens);
    CHECK(distinct.size() == list.size());

    // A narrow beam is a heuristic: never better than the truth, and scored as the truth scores it.
    for (const std::int64_t width : {1, 2, 3}) {
      lmlab::DecodingChain narrow = beam(toml::table{{"width", width}, {"length_penalty", alpha}});
      const auto best = lmlab::decode(*model, narrow, {prompt}, options, at::kCPU).at(0).at(0);
      CHECK(best.score <= ranked[0].first + 1e-6);
      CHECK(best.score == Approx(truth.at(best.tokens)).margin(1e-5));
    }
  }
}

TEST_CASE("beam_search: width 1 is greedy decoding in every family", "[beam_search]") {
  for (const auto& family : lmlab::test::generating_families) {
    INFO(family);
    // A context of 6 with prompts up to 5 long and 12 new tokens: the cache window refills.
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 16, 6, 3);
    for (const std::int64_t eos : {-1, 2}) {
      INFO("eos = " << eos);
      const lmlab::GenerateOptions options = family_options(12, eos);
      lmlab::DecodingChain reference = greedy();
      const Batch expected = lmlab::generate(*model, reference, family_prompts, options, at::kCPU);
      lmlab::DecodingChain one = beam(toml::table{{"width", 1}});
      CHECK(lmlab::generate(*model, one, family_prompts, options, at::kCPU) == expected);
    }
  }
}

TEST_CASE("beam_search: the cache changes nothing", "[beam_search]") {
  for (const auto& family : lmlab::test::generating_families) {
    INFO(family);
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 16, 6, 4);
    lmlab::GenerateOptions options = family_options(10, 2);
    lmlab::DecodingChain chain = beam(toml::table{{"width", 3}, {"n_best", 3}});
    const auto cached = lmlab::decode(*model, chain, family_prompts, options, at::kCPU);
    options.use_cache = false;
    const auto uncached = lmlab::decode(*model, chain, family_prompts, options, at::kCPU);
    REQUIRE(cached.size() == uncached.size());
    for (std::size_t i = 0; i < cached.size(); ++i) {
      INFO("prompt " << i);
      CHECK(tokens_of(cached[i]) == tokens_of(uncached[i]));
      REQUIRE(cached[i].size() == uncached[i].size());
      for (std::size_t j = 0; j < cached[i].size(); ++j) {
        CHECK(cached[i][j].score == Approx(uncached[i][j].score).margin(1e-5));
      }
    }
  }
}

TEST_CASE("beam_search: the chain's earlier steps apply to every hypothesis", "[beam_search]") {
  const auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), 6, 32, 5);
  const lmlab::GenerateOptions options = family_options(14);
  const Batch prompts = {{1, 2}, {4}};
  const toml::table wide{{"width", 3}, {"n_best", 3}};

  // Over 6 ids and 14 new tokens bigrams must repeat, unless no_repeat_ngram forbids it.
  auto repeats_bigram = [](const Tokens& prompt, const Tokens& generated) {
    Tokens all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    std::set<std::pair<std::int64_t, std::int64_t>> seen;
    for (std::size_t i = 0; i + 1 < all.size(); ++i) {
      if (!seen.insert({all[i], all[i + 1]}).second) return true;
    }
    return false;
  };
  lmlab::DecodingChain plain = beam(wide);
  const auto unblocked = lmlab::decode(*model, plain, prompts, options, at::kCPU);
  bool any_repeat = false;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    for (const auto& c : unblocked[i]) any_repeat = any_repeat || repeats_bigram(prompts[i], c.tokens);
  }
  CHECK(any_repeat);

  lmlab::DecodingChain blocked = beam(wide, {make_step("no_repeat_ngram", toml::table{{"size", 2}})});
  const auto lists = lmlab::decode(*model, blocked, prompts, options, at::kCPU);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    REQUIRE(lists[i].size() == 3);
    for (const auto& c : lists[i]) {
      INFO("prompt " << i);
      CHECK(c.tokens.size() == 14);
      CHECK_FALSE(repeats_bigram(prompts[i], c.tokens));
      // The score ranks the processed (renormalised) distribution, the logprob is the model's own:
      // banning tokens only raises the others' processed log-probabilities.
      CHECK(c.score * 14 >= c.logprob - 1e-6);
    }
  }

  // A banned token (logit_bias -inf) is in no hypothesis, though the free search uses it.
  const std::int64_t banned = unblocked[0][0].tokens.at(0);
  const double inf = std::numeric_limits<double>::infinity();
  lmlab::DecodingChain biased =
      beam(wide, {make_step("logit_bias", toml::table{{"ids", toml::array{banned}}, {"biases", toml::array{-inf}}})});
  for (const auto& list : lmlab::decode(*model, biased, prompts, options, at::kCPU)) {
    REQUIRE(list.size() == 3);
    for (const auto& c : list) {
      CHECK(std::find(c.tokens.begin(), c.tokens.end(), banned) == c.tokens.end());
      CHECK(std::isfinite(c.score));
    }
  }
}

TEST_CASE("beam_search: a prompt's result does not depend on its batch", "[beam_search]") {
  for (const auto& family : lmlab::test::generating_families) {
    INFO(family);
    // A context of 8 with prompts up to 5 long and 8 new tokens: every row's window refills, each
    // on its own schedule (the stepper's windows are per row), so batch padding changes nothing.
    const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 16, 8, 6);
    const lmlab::GenerateOptions options = family_options(8, 2);
    lmlab::DecodingChain chain = beam(toml::table{{"width", 3}, {"n_best", 2}});
    const auto batch = lmlab::decode(*model, chain, family_prompts, options, at::kCPU);
    REQUIRE(batch.size() == family_prompts.size());
    for (std::size_t i = 0; i < family_prompts.size(); ++i) {
      INFO("prompt " << i);
      const auto alone = lmlab::decode(*model, chain, {family_prompts[i]}, options, at::kCPU);
      REQUIRE(alone.size() == 1);
      CHECK(tokens_of(alone[0]) == tokens_of(batch[i]));
      REQUIRE(alone[0].size() == batch[i].size());
      for (std::size_t j = 0; j < alone[0].size(); ++j) {
        CHECK(alone[0][j].score == Approx(batch[i][j].score).margin(1e-5));
      }
    }
  }
}

TEST_CASE("beam_search: bad options are rejected with what is accepted", "[beam_search]") {
  CHECK_THROWS_MATCHES(make_step("beam_search", toml::table{{"width", 2}, {"n_best", 5}}), lmlab::ConfigError,
                       MessageContains("n_best = 5 exceeds width = 2"));
  CHECK_THROWS_MATCHES(make_step("beam_search", toml::table{{"n_best", 5}}), lmlab::ConfigError,
                       MessageContains("n_best = 5 exceeds width = 4"));  // against the default width
  CHECK_NOTHROW(make_step("beam_search", toml::table{{"width", 2}, {"n_best", 2}}));
  CHECK_THROWS_MATCHES(make_step("beam_search", toml::table{{"early_stopping", "sometimes"}}), lmlab::ConfigError,
                       MessageContains("heuristic, first, never"));
  CHECK_THROWS_MATCHES(make_step("beam_search", toml::table{{"early_stopping", "sometimes"}}), lmlab::ConfigError,
                       MessageContains("decoding.beam_search.early_stopping"));
  CHECK_THROWS_MATCHES(make_step("beam_search", toml::table{{"width", 0}}), lmlab::ConfigError,
                       MessageContains("decoding.beam_search.width"));
  CHECK_THROWS_MATCHES(make_step("beam_search", toml::table{{"n_best", 0}}), lmlab::ConfigError,
                       MessageContains("decoding.beam_search.n_best"));

  // A search ends a chain; applied to one position's logits it refuses.
  const StepPtr search = make_step("beam_search");
  CHECK(search->selects());
  CHECK(search->search() != nullptr);
  CHECK(search->name() == "beam_search");
  lmlab::DecodeState state;
  CHECK_THROWS(search->apply(state));
  CHECK(search->clone()->search() != nullptr);

  // max_new_tokens = 0: one empty continuation per prompt.
  Markov model({{0.5, 0.5}, {0.5, 0.5}});
  lmlab::DecodingChain chain = beam({});
  lmlab::GenerateOptions options;
  options.max_new_tokens = 0;
  const auto none = lmlab::decode(model, chain, {{0}, {1}}, options, at::kCPU);
  REQUIRE(none.size() == 2);
  CHECK(none[0].at(0).tokens.empty());
  CHECK(none[1].at(0).tokens.empty());
}

}  // namespace beam_search_tests
