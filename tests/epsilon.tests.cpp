// epsilon sampling on small hand-computed distributions: logits = log p, checked by the surviving
// tokens and the renormalised probabilities to 1e-6 (check_warp); the invariants every warper
// shares (batch rows, never emptying a row, clones, option ranges) are in warpers.tests.cpp.
#include <vector>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace epsilon_tests {

using lmlab::test::check_warp;

TEST_CASE("epsilon: keeps tokens with probability >= epsilon, and always the argmax", "[warpers]") {
  const std::vector<double> p = {0.6, 0.25, 0.1, 0.04, 0.01};
  check_warp("epsilon", toml::table{{"epsilon", 0.05}}, p, {0.6 / 0.95, 0.25 / 0.95, 0.1 / 0.95, 0, 0});
  check_warp("epsilon", toml::table{{"epsilon", 0.02}}, p, {0.6 / 0.99, 0.25 / 0.99, 0.1 / 0.99, 0.04 / 0.99, 0});
  check_warp("epsilon", {}, p, p);  // default 3e-4
  // No token reaches 0.5 (or 0.7): the argmax alone survives.
  check_warp("epsilon", toml::table{{"epsilon", 0.5}}, {0.1, 0.2, 0.3, 0.4}, {0, 0, 0, 1});
  check_warp("epsilon", toml::table{{"epsilon", 0.7}}, p, {1, 0, 0, 0, 0});
}

}  // namespace epsilon_tests
