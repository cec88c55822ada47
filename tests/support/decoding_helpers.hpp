/// Helpers shared by the decoding steps' tests (tests/<step>.tests.cpp, warpers.tests.cpp,
/// decoding.tests.cpp): hand-written logits and histories in, a step applied to them as the host
/// applies it, and the result compared with hand-computed values, in the style of llama.cpp's
/// tests/test-sampling.cpp. Each test file builds its steps with its own make_step(), which
/// fixes the vocabulary size its hand-computed rows assume.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/generate.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace lmlab::test {

using StepPtr = std::shared_ptr<DecodingStep>;
using Rows = std::vector<std::vector<double>>;
using Ids = std::vector<std::vector<std::int64_t>>;

inline const double inf = std::numeric_limits<double>::infinity();

/// A float32 (rows, V) tensor from nested lists (ATen's at::tensor takes flat lists only).
inline at::Tensor rows(const Rows& values) {
  std::vector<at::Tensor> out;
  for (const auto& row : values) out.push_back(at::tensor(row, at::kFloat));
  return at::stack(out);
}

/// The (1, V) float32 logits log p of a probability vector.
inline at::Tensor log_row(const std::vector<double>& probs) {
  return at::log(at::tensor(probs, at::kFloat)).unsqueeze(0);
}

/// The chosen ids of a selector, as a vector.
inline std::vector<std::int64_t> ids(const at::Tensor& chosen) {
  const at::Tensor c = chosen.to(at::kLong).contiguous();
  return std::vector<std::int64_t>(c.data_ptr<std::int64_t>(), c.data_ptr<std::int64_t>() + c.numel());
}

// ---- Warpers and selectors: logits only, a one-column history. ----

/// A state of `logits` (B, V), each row's history one prompt token, with `rngs` for sampling.
inline DecodeState state_for(const at::Tensor& logits, std::vector<at::Generator>* rngs = nullptr) {
  DecodeState state;
  state.logits = logits.to(at::kFloat);
  state.history = at::zeros({logits.size(0), 1}, at::kLong);
  state.prompt_length = 1;
  state.rngs = rngs;
  return state;
}

inline at::Tensor warp(const StepPtr& step, const at::Tensor& logits) {
  DecodeState state = state_for(logits);
  step->apply(state);
  return state.logits;
}

/// Warps log p through warper `name` (built for a 6-token vocabulary, the warpers' tests') and
/// checks the result against hand-computed renormalised probabilities: the kept tokens are
/// exactly those expected above 0, their logits are unchanged, the others are -inf, and the
/// softmax matches to 1e-6.
inline void check_warp(const std::string& name, const toml::table& options, const std::vector<double>& probs,
                       const std::vector<double>& expected) {
  INFO(name << " " << options);
  REQUIRE(probs.size() == expected.size());
  const at::Tensor logits = log_row(probs);        // (1, V)
  const at::Tensor warped = warp(decoding_step(name, options, 6), logits);  // (1, V)
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

/// Token frequencies of `draws` single-row samples of `logits` (4 tokens) through `chain`.
inline std::vector<double> frequencies(DecodingStep& chain, const at::Tensor& logits, int draws, std::uint64_t seed) {
  std::vector<at::Generator> rngs{sequence_generator(seed, 0)};
  std::vector<double> counts(4, 0.0);
  for (int i = 0; i < draws; ++i) {
    DecodeState state = state_for(logits.unsqueeze(0), &rngs);
    chain.apply(state);
    counts[static_cast<std::size_t>(state.chosen.item<std::int64_t>())] += 1.0;
  }
  for (double& c : counts) c /= draws;
  return counts;
}

// ---- Penalties: logits and a history, with prompt and padding. ----

/// A state of logits and histories; `mask` (1 = real token) defaults to no padding.
inline DecodeState state_for(const Rows& logits, const Ids& history, std::int64_t prompt_length, const Ids& mask = {}) {
  DecodeState state;
  state.logits = rows(logits);
  std::vector<at::Tensor> h, m;
  for (const auto& row : history) h.push_back(at::tensor(row, at::kLong));
  for (const auto& row : mask) m.push_back(at::tensor(row, at::kLong).to(at::kBool));
  state.history = at::stack(h);
  state.history_mask = mask.empty() ? at::ones_like(state.history, state.history.options().dtype(at::kBool)) : at::stack(m);
  state.prompt_length = prompt_length;
  return state;
}

/// Applies `step` and returns the new logits.
inline at::Tensor run(const StepPtr& step, const Rows& logits, const Ids& history, std::int64_t prompt_length,
                      const Ids& mask = {}) {
  DecodeState state = state_for(logits, history, prompt_length, mask);
  step->apply(state);
  return state.logits;
}

/// Every entry equal to within 1e-6 (no relative slack); infinities must match exactly.
inline void check_logits(const at::Tensor& actual, const Rows& expected) {
  const at::Tensor e = rows(expected);
  REQUIRE(actual.sizes() == e.sizes());
  const at::Tensor a = actual.to(at::kDouble).contiguous(), d = e.to(at::kDouble).contiguous();
  for (std::int64_t i = 0; i < a.size(0); ++i) {
    for (std::int64_t j = 0; j < a.size(1); ++j) {
      INFO("row " << i << ", token " << j);
      const double got = a[i][j].item<double>(), want = d[i][j].item<double>();
      if (std::isinf(want)) CHECK(got == want);
      else CHECK(got == Approx(want).epsilon(0).margin(1e-6));
    }
  }
}

/// The penalties' tests' logits over a 5-token vocabulary.
inline const Rows logits5 = {{2.0, -1.0, 0.5, -3.0, 1.0}};

}  // namespace lmlab::test
