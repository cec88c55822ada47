// greedy: the argmax, ties to the lowest id.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace greedy_tests {

using lmlab::DecodeState;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 4);
}

}  // namespace

TEST_CASE("greedy: picks the argmax, ties to the lowest id", "[decoding][plugin]") {
  const StepPtr step = make_step("greedy");
  CHECK(step->name() == "greedy");
  CHECK(step->selects());
  const double inf = std::numeric_limits<double>::infinity();
  DecodeState state = state_for(rows({{0.1, 2.5, -1.0, 2.4},        // clear maximum
                                      {3.0, 1.0, 3.0, 3.0},         // three-way tie
                                      {-inf, 1.0, 0.0, 1.0},        // tie after a masked token
                                      {-5.0, -4.0, -3.0, -2.0}}));  // all negative
  step->apply(state);
  CHECK(ids(state.chosen) == std::vector<std::int64_t>{1, 0, 1, 3});
  CHECK(state.chosen.scalar_type() == at::kLong);
}

}  // namespace greedy_tests
