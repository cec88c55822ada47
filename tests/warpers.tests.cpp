// The logits warpers (top_k, top_p, typical, min_p, epsilon, eta) on small hand-computed
// distributions, in the style of llama.cpp's tests/test-sampling.cpp: each takes logits = log p,
// and the test checks which tokens survive and the renormalised probabilities (the softmax of
// the warped logits) to 1e-6, then the invariants shared by every warper.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/registry.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

using lmlab::DecodeState;
using lmlab::DecodingStep;
using lmlab::test::MessageContains;
using StepPtr = std::shared_ptr<DecodingStep>;

namespace {

const double inf = std::numeric_limits<double>::infinity();

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 6);
}

DecodeState state_for(const at::Tensor& logits) {
  DecodeState state;
  state.logits = logits.to(at::kFloat);
  state.history = at::zeros({logits.size(0), 1}, at::kLong);
  state.prompt_length = 1;
  return state;
}

/// The (1, V) float32 logits log p of a probability vector.
at::Tensor log_row(const std::vector<double>& probs) { return at::log(at::tensor(probs, at::kFloat)).unsqueeze(0); }

at::Tensor warp(const StepPtr& step, const at::Tensor& logits) {
  DecodeState state = state_for(logits);
  step->apply(state);
  return state.logits;
}

/// Warps log p and checks the result against hand-computed renormalised probabilities: the kept
/// tokens are exactly those expected above 0, their logits are unchanged, the others are -inf,
/// and the softmax matches to 1e-6.
void check_warp(const std::string& name, const toml::table& options, const std::vector<double>& probs,
                const std::vector<double>& expected) {
  INFO(name << " " << options);
  REQUIRE(probs.size() == expected.size());
  const at::Tensor logits = log_row(probs);        // (1, V)
  const at::Tensor warped = warp(make_step(name, options), logits);  // (1, V)
  REQUIRE(warped.sizes() == logits.sizes());
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const auto id = static_cast<std::int64_t>(i);
    INFO("token " << i);
    const float value = warped[0][id].item<float>();
    if (expected[i] > 0) {
      CHECK(value == logits[0][id].item<float>());
    } else {
      CHECK(value == -inf);
    }
  }
  const at::Tensor renormalised = at::softmax(warped, -1);            // (1, V)
  const at::Tensor want = at::tensor(expected, at::kFloat).unsqueeze(0);  // (1, V)
  CHECK(at::allclose(renormalised, want, /*rtol=*/0.0, /*atol=*/1e-6));
}

}  // namespace

TEST_CASE("top_k: keeps the k largest logits", "[warpers]") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  check_warp("top_k", toml::table{{"k", 1}}, p, {0, 0, 0, 1});
  check_warp("top_k", toml::table{{"k", 2}}, p, {0, 0, 3.0 / 7, 4.0 / 7});
  check_warp("top_k", toml::table{{"k", 3}}, p, {0, 2.0 / 9, 3.0 / 9, 4.0 / 9});
  check_warp("top_k", toml::table{{"k", 4}}, p, p);
  check_warp("top_k", toml::table{{"k", 100}}, p, p);  // k beyond V keeps all
  check_warp("top_k", {}, p, p);                       // default k = 40
  // Order in the vocabulary does not matter: the largest two of a shuffled 6-token row.
  check_warp("top_k", toml::table{{"k", 2}}, {0.05, 0.35, 0.1, 0.25, 0.15, 0.1}, {0, 0.35 / 0.6, 0, 0.25 / 0.6, 0, 0});
}

TEST_CASE("top_k: ties at the boundary keep exactly k, the lowest ids first", "[warpers]") {
  // Three tokens share the second-largest logit; k = 2 keeps the maximum and the lowest of them.
  const at::Tensor logits = at::tensor({1.0f, 2.0f, 3.0f, 2.0f, 2.0f}).unsqueeze(0);  // (1, 5)
  const at::Tensor warped = warp(make_step("top_k", toml::table{{"k", 2}}), logits);
  CHECK(at::equal(warped, at::tensor({-inf, 2.0, 3.0, -inf, -inf}, at::kFloat).unsqueeze(0)));
  const at::Tensor flat = warp(make_step("top_k", toml::table{{"k", 3}}), at::zeros({1, 5}));
  CHECK(at::equal(at::isfinite(flat), at::tensor({1, 1, 1, 0, 0}).to(at::kBool).unsqueeze(0)));
}

TEST_CASE("top_k: k = 1 keeps greedy's choice", "[warpers]") {
  const StepPtr greedy = make_step("greedy");
  const StepPtr top1 = make_step("top_k", toml::table{{"k", 1}});
  at::Tensor logits = at::sin(at::arange(96, at::kFloat).reshape({16, 6}) * 1.7) * 3;  // (16, 6) arbitrary
  logits[3] = at::tensor({2.0f, 5.0f, 5.0f, 1.0f, 5.0f, 0.0f});  // a tie: greedy takes id 1
  logits[7][0] = -inf;
  DecodeState chosen = state_for(logits);
  greedy->apply(chosen);
  const at::Tensor warped = warp(top1, logits);  // (16, 6)
  CHECK(at::equal(at::isfinite(warped).sum(-1), at::ones({16}, at::kLong)));
  CHECK(at::equal(at::isfinite(warped).to(at::kLong).argmax(-1), chosen.chosen));
}

TEST_CASE("top_p: keeps the smallest most-likely prefix reaching p, crossing token included", "[warpers]") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};  // sorted: 0.4, 0.3, 0.2, 0.1; mass before: 0, .4, .7, .9
  check_warp("top_p", toml::table{{"p", 0.35}}, p, {0, 0, 0, 1});
  check_warp("top_p", toml::table{{"p", 0.5}}, p, {0, 0, 3.0 / 7, 4.0 / 7});
  check_warp("top_p", toml::table{{"p", 0.75}}, p, {0, 2.0 / 9, 3.0 / 9, 4.0 / 9});
  check_warp("top_p", toml::table{{"p", 0.95}}, p, p);
  // Sorted: 0.35, 0.25, 0.15, 0.1 (id 2), 0.1 (id 5), 0.05; mass before: 0, .35, .6, .75, .85, .95.
  // Equal probabilities at the boundary (0.1 at ids 2 and 5): the lower id is ranked first.
  const std::vector<double> q = {0.05, 0.25, 0.1, 0.35, 0.15, 0.1};
  check_warp("top_p", {}, q, {0, 0.25 / 0.95, 0.1 / 0.95, 0.35 / 0.95, 0.15 / 0.95, 0.1 / 0.95});  // default 0.9
  check_warp("top_p", toml::table{{"p", 0.65}}, q, {0, 0.25 / 0.75, 0, 0.35 / 0.75, 0.15 / 0.75, 0});
  check_warp("top_p", toml::table{{"p", 0.8}}, q, {0, 0.25 / 0.85, 0.1 / 0.85, 0.35 / 0.85, 0.15 / 0.85, 0});
  // Exactly at p: a uniform row has probabilities of exactly 0.25, and the two first reach 0.5,
  // so the third, whose preceding mass equals p, is not kept (and the lowest ids win the tie).
  const at::Tensor uniform = warp(make_step("top_p", toml::table{{"p", 0.5}}), at::zeros({1, 4}));
  CHECK(at::equal(uniform, at::tensor({0.0, 0.0, -inf, -inf}, at::kFloat).unsqueeze(0)));
}

TEST_CASE("top_p: p -> 0 keeps only the argmax, p = 1 keeps all", "[warpers]") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  check_warp("top_p", toml::table{{"p", 1e-9}}, p, {0, 0, 0, 1});
  check_warp("top_p", toml::table{{"p", 1.0}}, p, p);
  // A tail too small for float32 softmax mass still survives p = 1.
  const at::Tensor logits = at::tensor({0.0f, -30.0f, -80.0f, -120.0f}).unsqueeze(0);
  CHECK(at::equal(warp(make_step("top_p", toml::table{{"p", 1.0}}), logits), logits));
}

TEST_CASE("typical: keeps the tokens whose surprisal is closest to the entropy", "[warpers]") {
  // H = 1.27985 nats; |-log p - H| = 1.0227, 0.3296, 0.0759, 0.3636, so the order is 2, 1, 3, 0
  // with mass before each 0, 0.3, 0.5, 0.9.
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  check_warp("typical", toml::table{{"mass", 0.25}}, p, {0, 0, 1, 0});  // not the argmax
  check_warp("typical", toml::table{{"mass", 0.4}}, p, {0, 0.4, 0.6, 0});
  check_warp("typical", toml::table{{"mass", 0.8}}, p, {0, 2.0 / 9, 3.0 / 9, 4.0 / 9});
  check_warp("typical", {}, p, p);  // default 0.95 > 0.9
  check_warp("typical", toml::table{{"mass", 1.0}}, p, p);
  // An already masked token adds nothing to the entropy: over {0.2, 0.3, 0.5}, H = 1.02965, the
  // order is 1 (0.174), 3 (0.337), 2 (0.580), so mass 0.7 keeps ids 1 and 3.
  check_warp("typical", toml::table{{"mass", 0.7}}, {0.0, 0.3, 0.2, 0.5}, {0, 0.375, 0, 0.625});
  // Exactly at `mass`: a uniform row (probabilities exactly 0.25, equal scores ranked by id) keeps
  // the two first tokens, which reach 0.5, and not the third, whose preceding mass equals it.
  const at::Tensor uniform = warp(make_step("typical", toml::table{{"mass", 0.5}}), at::zeros({1, 4}));
  CHECK(at::equal(uniform, at::tensor({0.0, 0.0, -inf, -inf}, at::kFloat).unsqueeze(0)));
}

TEST_CASE("min_p: keeps tokens at least p times as likely as the argmax", "[warpers]") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  check_warp("min_p", toml::table{{"p", 0.6}}, p, {0, 0, 3.0 / 7, 4.0 / 7});          // >= 0.24
  check_warp("min_p", toml::table{{"p", 0.4}}, p, {0, 2.0 / 9, 3.0 / 9, 4.0 / 9});  // >= 0.16
  check_warp("min_p", toml::table{{"p", 1.0}}, p, {0, 0, 0, 1});
  check_warp("min_p", toml::table{{"p", 0.0}}, p, p);
  check_warp("min_p", {}, p, p);  // default 0.05: >= 0.02
  check_warp("min_p", toml::table{{"p", 0.1}}, {0.5, 0.02, 0.3, 0.08, 0.1},  // >= 0.05
             {0.5 / 0.98, 0, 0.3 / 0.98, 0.08 / 0.98, 0.1 / 0.98});
}

TEST_CASE("epsilon: keeps tokens with probability >= epsilon, and always the argmax", "[warpers]") {
  const std::vector<double> p = {0.6, 0.25, 0.1, 0.04, 0.01};
  check_warp("epsilon", toml::table{{"epsilon", 0.05}}, p, {0.6 / 0.95, 0.25 / 0.95, 0.1 / 0.95, 0, 0});
  check_warp("epsilon", toml::table{{"epsilon", 0.02}}, p, {0.6 / 0.99, 0.25 / 0.99, 0.1 / 0.99, 0.04 / 0.99, 0});
  check_warp("epsilon", {}, p, p);  // default 3e-4
  // No token reaches 0.5 (or 0.7): the argmax alone survives.
  check_warp("epsilon", toml::table{{"epsilon", 0.5}}, {0.1, 0.2, 0.3, 0.4}, {0, 0, 0, 1});
  check_warp("epsilon", toml::table{{"epsilon", 0.7}}, p, {1, 0, 0, 0, 0});
}

TEST_CASE("eta: the threshold min(epsilon, sqrt(epsilon) exp(-H)) adapts to the entropy", "[warpers]") {
  // H = 1.05813; epsilon = 0.2 gives eta = min(0.2, 0.15523), epsilon = 0.05 gives eta = 0.05.
  const std::vector<double> p = {0.6, 0.25, 0.1, 0.04, 0.01};
  check_warp("eta", toml::table{{"epsilon", 0.2}}, p, {0.6 / 0.85, 0.25 / 0.85, 0, 0, 0});
  check_warp("eta", toml::table{{"epsilon", 0.05}}, p, {0.6 / 0.95, 0.25 / 0.95, 0.1 / 0.95, 0, 0});
  check_warp("eta", {}, p, p);  // default 3e-4
  // A flatter row (H = 1.54448): eta = sqrt(0.3) exp(-H) = 0.11690, far below epsilon = 0.3,
  // so 0.15 survives where epsilon sampling at 0.3 would keep the argmax alone.
  const std::vector<double> q = {0.3, 0.25, 0.2, 0.15, 0.1};
  check_warp("eta", toml::table{{"epsilon", 0.3}}, q, {0.3 / 0.9, 0.25 / 0.9, 0.2 / 0.9, 0.15 / 0.9, 0});
  check_warp("epsilon", toml::table{{"epsilon", 0.3}}, q, {1, 0, 0, 0, 0});
  // A masked token adds nothing to the entropy (over {0.2, 0.3, 0.5}: H = 1.02965,
  // eta = min(0.5, sqrt(0.5) exp(-H)) = 0.25253), so only 0.3 and 0.5 survive.
  check_warp("eta", toml::table{{"epsilon", 0.5}}, {0.0, 0.3, 0.2, 0.5}, {0, 0.375, 0, 0.625});
}

TEST_CASE("warpers: batch rows are independent", "[warpers]") {
  // Row 1 is shifted by +10, which changes no probability but would leak through any threshold
  // computed over the whole batch instead of per row.
  const at::Tensor a = log_row({0.05, 0.4, 0.3, 0.15, 0.1});       // (1, 5)
  const at::Tensor b = log_row({0.3, 0.25, 0.2, 0.15, 0.1}) + 10;  // (1, 5)
  const at::Tensor batch = at::cat({a, b});                          // (2, 5)
  const std::vector<std::pair<std::string, toml::table>> steps = {
      {"top_k", toml::table{{"k", 2}}},       {"top_p", toml::table{{"p", 0.6}}},
      {"typical", toml::table{{"mass", 0.5}}}, {"min_p", toml::table{{"p", 0.6}}},
      {"epsilon", toml::table{{"epsilon", 0.12}}}, {"eta", toml::table{{"epsilon", 0.3}}}};
  for (const auto& [name, options] : steps) {
    INFO(name);
    const StepPtr step = make_step(name, options);
    const at::Tensor together = warp(step, batch);  // (2, 5)
    CHECK(at::equal(together[0], warp(step, a)[0]));
    CHECK(at::equal(together[1], warp(step, b)[0]));
    // Neither row is left untouched, nor emptied, by these options.
    const at::Tensor kept = at::isfinite(together).sum(-1);  // (2)
    CHECK((kept >= 1).all().item<bool>());
    CHECK((kept < 5).all().item<bool>());
  }
}

TEST_CASE("warpers: never remove every token, and clones keep their options", "[warpers]") {
  // The most demanding settings on a flat and on a peaked row.
  const at::Tensor logits = at::stack({at::zeros({6}), at::tensor({0.0f, 9.0f, 1.0f, 2.0f, 3.0f, 4.0f})});  // (2, 6)
  const std::vector<std::pair<std::string, toml::table>> steps = {
      {"top_k", toml::table{{"k", 1}}},          {"top_p", toml::table{{"p", 1e-9}}},
      {"typical", toml::table{{"mass", 1e-9}}},  {"min_p", toml::table{{"p", 1.0}}},
      {"epsilon", toml::table{{"epsilon", 0.999}}}, {"eta", toml::table{{"epsilon", 0.999}}}};
  for (const auto& [name, options] : steps) {
    INFO(name);
    const StepPtr step = make_step(name, options);
    CHECK(step->name() == name);
    CHECK_FALSE(step->selects());
    const at::Tensor warped = warp(step, logits);  // (2, 6)
    CHECK((at::isfinite(warped).sum(-1) >= 1).all().item<bool>());
    CHECK(at::isfinite(warped[1][1]).item<bool>());  // the peak survives
    CHECK(at::equal(warp(step->clone(), logits), warped));
  }
}

TEST_CASE("warpers: options out of range are ConfigErrors naming the key", "[warpers]") {
  const std::vector<std::pair<std::string, toml::table>> bad = {
      {"top_k", toml::table{{"k", 0}}},          {"top_k", toml::table{{"k", -3}}},
      {"top_p", toml::table{{"p", 0.0}}},        {"top_p", toml::table{{"p", 1.5}}},
      {"typical", toml::table{{"mass", 0.0}}},   {"typical", toml::table{{"mass", 1.01}}},
      {"min_p", toml::table{{"p", -0.1}}},       {"min_p", toml::table{{"p", 1.1}}},
      {"epsilon", toml::table{{"epsilon", 0.0}}}, {"epsilon", toml::table{{"epsilon", 1.0}}},
      {"eta", toml::table{{"epsilon", 0.0}}},    {"eta", toml::table{{"epsilon", 1.0}}}};
  for (const auto& [name, options] : bad) {
    const std::string key = "decoding." + name + "." + std::string(options.begin()->first.str());
    INFO(key);
    CHECK_THROWS_MATCHES(make_step(name, options), lmlab::ConfigError,
                         MessageContains(key) && MessageContains("out of range"));
  }
  // The boundaries that are allowed.
  CHECK_NOTHROW(make_step("top_k", toml::table{{"k", 1}}));
  CHECK_NOTHROW(make_step("top_p", toml::table{{"p", 1.0}}));
  CHECK_NOTHROW(make_step("typical", toml::table{{"mass", 1.0}}));
  CHECK_NOTHROW(make_step("min_p", toml::table{{"p", 0.0}}));
  CHECK_NOTHROW(make_step("min_p", toml::table{{"p", 1.0}}));
}
