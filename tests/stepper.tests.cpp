// The model stepper: what forward() feeds and returns, how append() and select() move rows and
// their cache, that the cached and the re-reading steppers produce the same logits through
// window refills, and entropy_of on hand-computed distributions.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "lmlab/stepper.hpp"
#include "support/models.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/test_support.hpp"

namespace stepper_tests {

using lmlab::test::MessageContains;
using Prompts = std::vector<std::vector<std::int64_t>>;

TEST_CASE("stepper: entropy_of hand-computed distributions, banned tokens included", "[stepper]") {
  const double inf = std::numeric_limits<double>::infinity();
  const at::Tensor log_probs =
      at::log(at::tensor({0.5, 0.25, 0.25, 0.0, 0.25, 0.25, 0.25, 0.25}, at::kDouble)).view({2, 4});  // (2, 4)
  CHECK(std::isinf(log_probs[0][3].item<double>()));
  const at::Tensor h = lmlab::entropy_of(log_probs);  // (2)
  CHECK(h[0].item<double>() == Approx(1.5 * std::log(2.0)).margin(1e-12));
  CHECK(h[1].item<double>() == Approx(std::log(4.0)).margin(1e-12));
  CHECK(lmlab::entropy_of(at::tensor({0.0, -inf}, at::kDouble).view({1, 2}))[0].item<double>() == 0.0);
}

TEST_CASE("stepper: cached and re-reading steppers give the same logits, through refills and row moves", "[stepper]") {
  // Left-padded prompts of different lengths, a context of 8 so the window refills, and a
  // select() that swaps and duplicates rows half way.
  const Prompts prompts = {{5, 9, 2, 7, 1, 3}, {8, 4}};
  torch::NoGradGuard no_grad;
  for (const auto& family : lmlab::test::generating_families) {
    DYNAMIC_SECTION(family) {
      const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 8);
      lmlab::StepperOptions options;
      options.decoder_start_id = 0;
      options.hidden = true;
      lmlab::ModelStepper cached(*model, prompts, options, at::kCPU);
      options.use_cache = false;
      lmlab::ModelStepper reread(*model, prompts, options, at::kCPU);
      for (int s = 0; s < 12; ++s) {
        if (s == 5) {
          const at::Tensor rows = at::tensor(std::vector<std::int64_t>{1, 0, 0}, at::kLong);
          cached.select(rows);
          reread.select(rows);
        }
        const lmlab::StepOutput a = cached.forward(), b = reread.forward();
        INFO("step " << s);
        REQUIRE(a.logits.size(0) == (s < 5 ? 2 : 3));
        CHECK(at::allclose(a.logits, b.logits, 1e-5, 1e-5));
        CHECK(at::allclose(a.entropy, b.entropy, 1e-5, 1e-5));
        CHECK(at::allclose(a.hidden.select(1, -1), b.hidden.select(1, -1), 1e-5, 1e-5));
        CHECK(a.fresh == (s == 0 ? a.hidden.size(1) : 1));
        const at::Tensor next = a.logits.argmax(-1);  // (R)
        cached.append(next);
        reread.append(next);
      }
      CHECK(at::equal(cached.history(), reread.history()));
      // Only the cached stepper holds keys and values between steps.
      CHECK(cached.cache().length() > 0);
      CHECK(reread.cache().empty());
    }
  }
}

TEST_CASE("stepper: history, padding and select", "[stepper]") {
  const auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), 40, 16);
  torch::NoGradGuard no_grad;
  lmlab::StepperOptions options;
  options.pad_id = 39;
  lmlab::ModelStepper stepper(*model, {{1, 2, 3}, {4}}, options, at::kCPU);
  CHECK(stepper.prompt_length() == 3);
  CHECK(at::equal(stepper.history(), at::tensor(std::vector<std::int64_t>{1, 2, 3, 39, 39, 4}, at::kLong).view({2, 3})));
  CHECK(at::equal(stepper.history_mask().to(at::kLong),
                  at::tensor(std::vector<std::int64_t>{1, 1, 1, 0, 0, 1}, at::kLong).view({2, 3})));
  const lmlab::StepOutput first = stepper.forward();
  stepper.append(at::tensor(std::vector<std::int64_t>{7, 8}, at::kLong));
  CHECK(stepper.history().size(1) == 4);
  // Row 1 alone continues as it does in the batch: its logits match a fresh stepper's.
  stepper.select(at::tensor(std::vector<std::int64_t>{1}, at::kLong));
  lmlab::ModelStepper alone(*model, {{4}}, options, at::kCPU);
  CHECK(at::allclose(alone.forward().logits[0], first.logits[1], 1e-5, 1e-5));
  alone.append(at::tensor(std::vector<std::int64_t>{8}, at::kLong));
  CHECK(at::allclose(stepper.forward().logits, alone.forward().logits, 1e-5, 1e-5));
  CHECK(at::equal(stepper.history().select(0, 0).narrow(0, 2, 2), alone.history().select(0, 0)));
}

TEST_CASE("stepper: appending a token moves the history O(log n) times, not every step", "[stepper]") {
  // A long generation once took quadratic time: every append concatenated the whole history.
  // The history now lives in a buffer with room, so it moves only when the buffer doubles, for
  // a decoder-only model's history and an encoder-decoder's decoded sequence alike.
  torch::NoGradGuard no_grad;
  for (const auto& family : lmlab::test::generating_families) {
    DYNAMIC_SECTION(family) {
      const auto model = lmlab::test::make_model(family, lmlab::test::tiny_options(), 40, 8);
      lmlab::StepperOptions options;
      options.decoder_start_id = 0;
      lmlab::ModelStepper stepper(*model, {{1, 2, 3}, {4, 5}}, options, at::kCPU);
      std::vector<std::int64_t> expected_row0 = {1, 2, 3};
      int moves = 0;
      const void* where = nullptr;
      for (std::int64_t s = 0; s < 600; ++s) {
        stepper.forward();
        stepper.append(at::tensor(std::vector<std::int64_t>{s % 37, (s + 1) % 37}, at::kLong));
        expected_row0.push_back(s % 37);
        if (stepper.history().data_ptr() != where) ++moves;
        where = stepper.history().data_ptr();
      }
      // 3 prompt columns + 600 appended: capacities 16, 32, ..., 1024 (7 buffers).
      CHECK(moves <= 8);
      CHECK(stepper.history().size(1) == 603);
      CHECK(at::equal(stepper.history().select(0, 0), at::tensor(expected_row0, at::kLong)));
      // Only row 1's one column of left padding is masked.
      CHECK(stepper.history_mask().sum().item<std::int64_t>() == 2 * 603 - 1);
      // A select (searches) moves it once more, and appending goes on from there.
      stepper.select(at::tensor(std::vector<std::int64_t>{1, 0}, at::kLong));
      stepper.forward();
      stepper.append(at::tensor(std::vector<std::int64_t>{9, 10}, at::kLong));
      expected_row0.push_back(10);
      CHECK(at::equal(stepper.history().select(0, 1), at::tensor(expected_row0, at::kLong)));
    }
  }
}

TEST_CASE("stepper: refuses calls out of order and bad input", "[stepper]") {
  const auto model = lmlab::test::make_model("causal_decoder", lmlab::test::tiny_options(), 40, 16);
  torch::NoGradGuard no_grad;
  lmlab::ModelStepper stepper(*model, {{1, 2}}, {}, at::kCPU);
  CHECK_THROWS_MATCHES(stepper.append(at::zeros({1}, at::kLong)), std::logic_error,
                       MessageContains("append() before the first forward()"));
  stepper.forward();
  CHECK_THROWS_MATCHES(stepper.forward(), std::logic_error, MessageContains("forward() twice"));
  CHECK_THROWS_MATCHES(stepper.append(at::zeros({2}, at::kLong)), std::invalid_argument,
                       MessageContains("one token per row (1)"));
  stepper.append(at::zeros({1}, at::kLong));
  CHECK_THROWS_MATCHES(stepper.append(at::zeros({1}, at::kLong)), std::logic_error,
                       MessageContains("append() twice"));
  CHECK_THROWS_MATCHES(lmlab::ModelStepper(*model, {{1}, {}}, {}, at::kCPU), std::invalid_argument,
                       MessageContains("prompt 1 is empty"));
  const auto t5 = lmlab::test::make_model("encoder_decoder", lmlab::test::tiny_options(), 40, 16);
  CHECK_THROWS_MATCHES(lmlab::ModelStepper(*t5, {{1}}, {}, at::kCPU), std::invalid_argument,
                       MessageContains("needs decoder_start_id"));
  const auto bert = lmlab::test::make_model("encoder_only", lmlab::test::tiny_options(), 40, 16);
  CHECK_THROWS_MATCHES(lmlab::ModelStepper(*bert, {{1}}, {}, at::kCPU), std::invalid_argument,
                       MessageContains("does not generate"));
}

}  // namespace stepper_tests
