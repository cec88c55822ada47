// min_p on small hand-computed distributions: logits = log p, checked by the surviving tokens and
// the renormalised probabilities to 1e-6 (check_warp); the invariants every warper shares (batch
// rows, never emptying a row, clones, option ranges) are in warpers.tests.cpp.
#include <vector>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace min_p_tests {

using lmlab::test::check_warp;

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

}  // namespace min_p_tests
