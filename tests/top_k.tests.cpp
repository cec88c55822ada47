// top_k on small hand-computed distributions: each takes logits = log p, and the test checks which
// tokens survive and the renormalised probabilities to 1e-6 (check_warp); the invariants every
// warper shares (batch rows, never emptying a row, clones, option ranges) are in warpers.tests.cpp.
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace top_k_tests {

using lmlab::DecodeState;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 6);
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

}  // namespace top_k_tests
