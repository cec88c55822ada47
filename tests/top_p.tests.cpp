// top_p (nucleus sampling) on small hand-computed distributions: logits = log p, checked by the
// surviving tokens and the renormalised probabilities to 1e-6 (check_warp); the invariants every
// warper shares (batch rows, never emptying a row, clones, option ranges) are in warpers.tests.cpp.
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace top_p_tests {

using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 6);
}

}  // namespace

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

}  // namespace top_p_tests
