// masked_lm: BERT's choice of tokens and replacements, its loss by hand, and training an encoder.
#include <cmath>
#include <cstdint>

#include <ATen/ATen.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace masked_lm_tests {

using lmlab::ByteTokenizer;
using lmlab::test::RecordingModel;

namespace {

constexpr std::int64_t V = ByteTokenizer::byte_vocab_size;

std::shared_ptr<lmlab::Objective> make(const toml::table& options) {
  return lmlab::test::make_objective("masked_lm", options, V);
}

}  // namespace

TEST_CASE("masked_lm: chooses 15% of tokens, and masks 80%, randomises 10% and keeps 10% of those", "[masked_lm]") {
  at::manual_seed(1);
  const auto objective = make({});
  RecordingModel model(V, {.bidirectional = true});
  const at::Tensor block = at::randint(ByteTokenizer::n_bytes, {1000, 101}, at::kLong);  // 1e5 predicted positions
  const lmlab::LossOutput out = objective->compute(model, block);
  const at::Tensor original = block.narrow(1, 0, 100);
  const at::Tensor input = model.last.tokens;
  const double chosen = static_cast<double>(out.tokens);
  CHECK(chosen / 1e5 == Approx(0.15).margin(0.005));
  const double masked = input.eq(ByteTokenizer::mask_id).sum().item<double>();
  const double changed = input.ne(original).logical_and(input.ne(ByteTokenizer::mask_id)).sum().item<double>();
  CHECK(masked / chosen == Approx(0.8).margin(0.01));
  // A random byte equals the original one time in 256.
  CHECK(changed / chosen == Approx(0.1 * 255.0 / 256.0).margin(0.01));
  CHECK(input.ge(ByteTokenizer::n_bytes).logical_and(input.ne(ByteTokenizer::mask_id)).sum().item<int>() == 0);
  // Targets: the original token at the chosen positions, ignore_index at the others.
  REQUIRE(out.targets.sizes() == original.sizes());
  const at::Tensor chosen_at = out.targets.ne(lmlab::ignore_index);  // (B, T)
  CHECK(chosen_at.sum().item<std::int64_t>() == out.tokens);
  CHECK(at::equal(out.targets.masked_select(chosen_at), original.masked_select(chosen_at)));
}

TEST_CASE("masked_lm: the loss is the cross-entropy at the chosen positions, by hand", "[masked_lm]") {
  // Every token chosen and masked: each position reads the mask id's row of the bigram table.
  const auto objective = make(toml::table{{"mask_prob", 1.0}, {"replace_with_mask", 1.0}, {"replace_with_random", 0.0}});
  RecordingModel model(V, {.bidirectional = true}, at::kDouble);
  {
    at::NoGradGuard no_grad;
    model.table[ByteTokenizer::mask_id][7] = 2.0;  // the mask id's logits favour byte 7
  }
  const at::Tensor block = at::tensor({7, 7, 9, 0}, at::kLong).unsqueeze(0);  // predicts 7, 7, 9
  const lmlab::LossOutput out = objective->compute(model, block);
  // -log softmax: for 7, e^2 / (e^2 + 359); for 9, 1 / (e^2 + 359).
  const double z = std::exp(2.0) + 359.0;
  const double expected = (2 * -std::log(std::exp(2.0) / z) + -std::log(1.0 / z)) / 3.0;
  CHECK(out.tokens == 3);
  CHECK(at::equal(out.targets, at::tensor({7, 7, 9}, at::kLong).unsqueeze(0)));
  CHECK(out.loss.item<double>() == Approx(expected).epsilon(1e-6));
  CHECK(out.correct.item<std::int64_t>() == 2);
  // The gradient against finite differences, on the logit that matters.
  out.loss.backward();
  const double analytic = model.table.grad()[ByteTokenizer::mask_id][7].item<double>();
  const double h = 1e-3;
  auto loss_at = [&](double delta) {
    at::NoGradGuard no_grad;
    model.table[ByteTokenizer::mask_id][7] = 2.0 + delta;
    return objective->compute(model, block).loss.item<double>();
  };
  CHECK(analytic == Approx((loss_at(h) - loss_at(-h)) / (2 * h)).margin(1e-6));
}

TEST_CASE("masked_lm: needs a bidirectional single stack, and trains an encoder", "[masked_lm]") {
  const lmlab::Requirements needs =
      lmlab::test::builtin_plugins().get<lmlab::Objective>("masked_lm").info.traits.needs;
  for (const auto& family : lmlab::test::families) {
    const lmlab::Capabilities caps = lmlab::test::builtin_plugins().get<lmlab::Architecture>(family).info.traits.provides;
    CHECK(lmlab::unmet(needs, caps).has_value() == (family != "encoder_only"));
  }
  at::manual_seed(2);
  const auto objective = make({});
  const auto model = lmlab::test::make_model("encoder_only", toml::table{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}}, V, 32);
  // A repetitive text, so the masked bytes are predictable from their neighbours.
  const at::Tensor block = at::arange(33, at::kLong).remainder(5).add(97).expand({16, 33}).contiguous();
  const auto [first, last] = lmlab::test::train_on(*objective, *model, block, 40, 3e-3);
  INFO(first << " -> " << last);
  CHECK(last < 0.3 * first);
}

}  // namespace masked_lm_tests
