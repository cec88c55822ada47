// sample: draws follow the softmax, and each sequence's draws depend on its own seed and index only
// (one generator per sequence).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/decoding_helpers.hpp"

namespace sample_tests {

using Catch::Matchers::Contains;
using lmlab::DecodeState;
using lmlab::DecodingChain;
using namespace lmlab::test;  // support/decoding_helpers.hpp

namespace {

StepPtr make_step(const std::string& name, const toml::table& options = {}) {
  return lmlab::test::decoding_step(name, options, 4);
}

}  // namespace

TEST_CASE("sample: frequencies follow the softmax", "[decoding][plugin]") {
  const int draws = 20000;
  // Binomial standard deviation is at most sqrt(0.25 / 20000) = 0.0035; 0.015 is above 4 sigma.
  const double tolerance = 0.015;
  const at::Tensor logits = at::log(at::tensor({0.1, 0.2, 0.3, 0.4}));
  DecodingChain plain({make_step("sample")});
  const std::vector<double> f = frequencies(plain, logits, draws, 11);
  const std::vector<double> expected = {0.1, 0.2, 0.3, 0.4};
  for (std::size_t i = 0; i < 4; ++i) CHECK(f[i] == Approx(expected[i]).margin(tolerance));

  // Through temperature 0.5: p^2 / sum(p^2).
  DecodingChain sharp({make_step("temperature", toml::table{{"value", 0.5}}), make_step("sample")});
  const std::vector<double> g = frequencies(sharp, logits, draws, 12);
  const std::vector<double> sharpened = {1.0 / 30, 4.0 / 30, 9.0 / 30, 16.0 / 30};
  for (std::size_t i = 0; i < 4; ++i) CHECK(g[i] == Approx(sharpened[i]).margin(tolerance));

  // A masked (-inf) token is never drawn.
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> h = frequencies(plain, at::tensor({0.0, -inf, 0.0, 0.0}), 3000, 13);
  CHECK(h[1] == 0.0);
  CHECK(h[0] + h[2] + h[3] == Approx(1.0));
}

TEST_CASE("sample: same seed, same draws, whatever the batch position", "[decoding][plugin]") {
  const StepPtr step = make_step("sample");
  const at::Tensor flat = at::zeros({4});  // uniform, so draws vary as much as possible
  const int steps = 64;

  auto draws_alone = [&](std::uint64_t seed, std::int64_t index) {
    std::vector<at::Generator> rngs{lmlab::sequence_generator(seed, index)};
    std::vector<std::int64_t> out;
    for (int i = 0; i < steps; ++i) {
      DecodeState state = state_for(flat.unsqueeze(0), &rngs);
      step->apply(state);
      out.push_back(ids(state.chosen)[0]);
    }
    return out;
  };
  const std::vector<std::int64_t> first = draws_alone(5, 7);
  CHECK(draws_alone(5, 7) == first);
  CHECK(draws_alone(6, 7) != first);
  CHECK(draws_alone(5, 8) != first);

  // Sequence 7 sitting at row 2 of a batch whose other rows have other distributions.
  std::vector<at::Generator> rngs;
  for (std::int64_t index = 5; index < 8; ++index) rngs.push_back(lmlab::sequence_generator(5, index));
  const at::Tensor batch = at::stack({at::tensor({5.0, 0.0, 0.0, 0.0}), at::tensor({0.0, 0.0, 0.0, 9.0}), flat});
  std::vector<std::int64_t> in_batch;
  for (int i = 0; i < steps; ++i) {
    DecodeState state = state_for(batch, &rngs);
    step->apply(state);
    in_batch.push_back(ids(state.chosen)[2]);
  }
  CHECK(in_batch == first);
}

TEST_CASE("sample: needs one generator per sequence", "[decoding][plugin]") {
  const StepPtr step = make_step("sample");
  DecodeState without = state_for(at::zeros({2, 4}));
  CHECK_THROWS_WITH(step->apply(without), Contains("one generator per sequence"));
  std::vector<at::Generator> one{lmlab::sequence_generator(0, 0)};
  DecodeState too_few = state_for(at::zeros({2, 4}), &one);
  CHECK_THROWS_WITH(step->apply(too_few), Contains("2 sequences, 1 generators"));
}

}  // namespace sample_tests
