// prefix_lm: how each family is fed the prefix and the continuation, the loss by hand, and
// training every family it supports.
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

namespace prefix_lm_tests {

using lmlab::ByteTokenizer;
using lmlab::test::RecordingModel;

namespace {

constexpr std::int64_t V = ByteTokenizer::byte_vocab_size;

std::shared_ptr<lmlab::Objective> make(const toml::table& options) {
  return lmlab::test::make_objective("prefix_lm", options, V);
}

at::Tensor ids(std::initializer_list<std::int64_t> values) { return at::tensor(std::vector<std::int64_t>(values), at::kLong); }

const toml::table fixed_half{{"split", "fixed"}, {"fraction", 0.5}};

}  // namespace

TEST_CASE("prefix_lm: a decoder reads the whole block and is scored on the continuation", "[prefix_lm]") {
  // 9 tokens, fraction 0.5: a prefix of round(4.5) = 5 tokens, a continuation of 4.
  const at::Tensor block = ids({10, 11, 12, 13, 14, 15, 16, 17, 18}).unsqueeze(0);
  const auto objective = make(fixed_half);
  RecordingModel prefix_model(V, {.generates = true, .bidirectional = true, .prefix = true});
  const lmlab::LossOutput out = objective->compute(prefix_model, block);
  CHECK(out.tokens == 4);
  CHECK(at::equal(prefix_model.last.tokens, block.narrow(1, 0, 8)));
  REQUIRE(prefix_model.last.prefix_lengths.defined());
  CHECK(prefix_model.last.prefix_lengths.item<std::int64_t>() == 5);
  // A causal decoder gets no prefix lengths: it reads the prefix left to right.
  RecordingModel causal(V, {.generates = true});
  CHECK(objective->compute(causal, block).tokens == 4);
  CHECK_FALSE(causal.last.prefix_lengths.defined());
}

TEST_CASE("prefix_lm: an encoder-decoder encodes the prefix and decodes the continuation", "[prefix_lm]") {
  const at::Tensor block = ids({10, 11, 12, 13, 14, 15, 16, 17, 18}).unsqueeze(0);
  RecordingModel model(V, {.generates = true, .bidirectional = true, .has_encoder = true});
  const lmlab::LossOutput out = make(fixed_half)->compute(model, block);
  CHECK(out.tokens == 4);
  const lmlab::ModelInput& in = model.last;
  // Padded to the batch's longest prefix and continuation: here, not at all.
  CHECK(at::equal(in.encoder_tokens, ids({10, 11, 12, 13, 14}).unsqueeze(0)));
  CHECK(in.encoder_padding_mask.all().item<bool>());
  CHECK(at::equal(in.tokens, ids({ByteTokenizer::bos_id, 15, 16, 17}).unsqueeze(0)));  // predicts 15, 16, 17, 18
  CHECK(in.padding_mask.all().item<bool>());
  CHECK(at::equal(out.targets, ids({15, 16, 17, 18}).unsqueeze(0)));
}

TEST_CASE("prefix_lm: random splits vary per example and pad shorter ones", "[prefix_lm]") {
  at::manual_seed(3);
  const at::Tensor block = at::randint(ByteTokenizer::n_bytes, {64, 9}, at::kLong);
  RecordingModel model(V, {.generates = true, .bidirectional = true, .has_encoder = true});
  const lmlab::LossOutput out = make({})->compute(model, block);
  const at::Tensor prefix = model.last.encoder_padding_mask.sum(1);  // (B)
  CHECK(model.last.encoder_tokens.size(1) == prefix.max().item<std::int64_t>());
  CHECK(model.last.encoder_tokens.masked_select(model.last.encoder_padding_mask.logical_not())
            .eq(ByteTokenizer::pad_id)
            .all()
            .item<bool>());
  CHECK(prefix.min().item<std::int64_t>() >= 1);
  CHECK(prefix.max().item<std::int64_t>() <= 8);
  CHECK(at::bincount(prefix).gt(0).sum().item<std::int64_t>() > 4);  // distinct prefix lengths
  // Every token after the prefix is predicted once.
  CHECK(out.tokens == 64 * 9 - prefix.sum().item<std::int64_t>());
  CHECK(model.last.padding_mask.sum().item<std::int64_t>() == out.tokens);
}

TEST_CASE("prefix_lm: the loss by hand, and its gradient", "[prefix_lm]") {
  const at::Tensor block = ids({3, 4, 5, 6}).unsqueeze(0);  // fraction 0.5: prefix 3, 4; predict 5, 6
  RecordingModel model(V, {.generates = true});
  {
    at::NoGradGuard no_grad;
    model.table[4][5] = 1.5;  // after 4, favour 5
  }
  const auto objective = make(fixed_half);
  const lmlab::LossOutput out = objective->compute(model, block);
  // Position 1 (token 4) predicts 5: logits 1.5 there, 0 elsewhere; position 2 (token 5)
  // predicts 6 from all-zero logits.
  const double z = std::exp(1.5) + (V - 1);
  const double expected = (-std::log(std::exp(1.5) / z) + std::log(static_cast<double>(V))) / 2.0;
  CHECK(out.tokens == 2);
  // Positions 0..2 predict 4, 5, 6; the first is inside the prefix.
  CHECK(at::equal(out.targets, ids({lmlab::ignore_index, 5, 6}).unsqueeze(0)));
  CHECK(out.loss.item<double>() == Approx(expected).epsilon(1e-6));
  out.loss.backward();
  const double analytic = model.table.grad()[4][5].item<double>();
  auto loss_at = [&](double value) {
    at::NoGradGuard no_grad;
    model.table[4][5] = value;
    return objective->compute(model, block).loss.item<double>();
  };
  CHECK(analytic == Approx((loss_at(1.5 + 1e-3) - loss_at(1.5 - 1e-3)) / 2e-3).margin(1e-4));
  // Position 0 predicts 4, inside the prefix: no gradient reaches its row.
  CHECK(model.table.grad()[3].abs().sum().item<double>() == 0.0);
}

TEST_CASE("prefix_lm: trains every family that generates", "[prefix_lm]") {
  const lmlab::Requirements needs =
      lmlab::test::builtin_plugins().get<lmlab::Objective>("prefix_lm").info.traits.needs;
  at::manual_seed(4);
  const at::Tensor block = at::randint(97, 107, {8, 17}, at::kLong);  // a fixed batch to memorise
  for (const auto& family : lmlab::test::families) {
    DYNAMIC_SECTION(family) {
      const lmlab::Capabilities caps =
          lmlab::test::builtin_plugins().get<lmlab::Architecture>(family).info.traits.provides;
      CHECK(lmlab::unmet(needs, caps).has_value() == (family == "encoder_only"));
      if (family == "encoder_only") continue;
      const auto objective = make(fixed_half);
      const auto model = lmlab::test::make_model(family, toml::table{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}}, V, 16);
      const auto [first, last] = lmlab::test::train_on(*objective, *model, block, 40, 1e-2);
      INFO(first << " -> " << last);
      CHECK(last < 0.5 * first);
    }
  }
}

}  // namespace prefix_lm_tests
