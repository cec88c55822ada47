// typical (locally typical sampling) on small hand-computed distributions: logits = log p, checked
// by the surviving tokens and the renormalised probabilities to 1e-6 (check_warp); the invariants
// every warper shares (batch rows, never emptying a row, clones, option ranges) are in
// warpers.tests.cpp.
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace typical_tests {

using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 6);
}

}  // namespace

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

}  // namespace typical_tests
