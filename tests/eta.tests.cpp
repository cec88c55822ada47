// eta sampling on small hand-computed distributions: logits = log p, checked by the surviving
// tokens and the renormalised probabilities to 1e-6 (check_warp); the invariants every warper
// shares (batch rows, never emptying a row, clones, option ranges) are in warpers.tests.cpp.
#include <vector>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace eta_tests {

using lmlab::test::check_warp;

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

}  // namespace eta_tests
