// span_corruption: T5's noise density and span lengths, input and target reconstructing the
// original, the loss by hand, and training every family it supports.
#include <cmath>
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin_call.hpp"
#include "lmlab/tokenizer.hpp"

// Last: LibTorch brings in glog, whose one-argument CHECK must not replace Catch's.
#include "support/catch.hpp"
#include "support/models.hpp"
#include "support/recording_model.hpp"
#include "support/test_support.hpp"

namespace span_corruption_tests {

using lmlab::ByteTokenizer;
using lmlab::test::RecordingModel;

namespace {

constexpr std::int64_t V = ByteTokenizer::byte_vocab_size;

std::shared_ptr<lmlab::Objective> make(const toml::table& options = {}) {
  return lmlab::test::make_objective("span_corruption", options, V);
}

bool is_sentinel(std::int64_t id) { return id >= ByteTokenizer::first_sentinel_id; }

/// The original tokens from an input and a target: each sentinel in the input is replaced by
/// the tokens after the same sentinel in the target.
std::vector<std::int64_t> reconstruct(const at::Tensor& input, const at::Tensor& target) {
  std::vector<std::int64_t> out;
  const auto in = input.accessor<std::int64_t, 1>();
  const auto tg = target.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < input.size(0); ++i) {
    if (!is_sentinel(in[i])) {
      out.push_back(in[i]);
      continue;
    }
    std::int64_t j = 0;
    while (tg[j] != in[i]) ++j;
    for (++j; j < target.size(0) && !is_sentinel(tg[j]) && tg[j] != ByteTokenizer::eos_id; ++j) out.push_back(tg[j]);
  }
  return out;
}

}  // namespace

TEST_CASE("span_corruption: the encoder's input and the decoder's target reconstruct the block", "[span_corruption]") {
  at::manual_seed(1);
  const at::Tensor block = at::randint(ByteTokenizer::n_bytes, {200, 257}, at::kLong);
  RecordingModel model(V, {.generates = true, .bidirectional = true, .has_encoder = true});
  const lmlab::LossOutput out = make()->compute(model, block);
  const at::Tensor input = model.last.encoder_tokens, decoder = model.last.tokens;
  // Teacher forcing: the decoder reads <bos> then the target shifted right; the target ends in <eos>.
  CHECK(decoder.select(1, 0).eq(ByteTokenizer::bos_id).all().item<bool>());
  double noise = 0, spans = 0;
  for (std::int64_t b = 0; b < 200; ++b) {
    const at::Tensor target = at::cat({decoder[b].narrow(0, 1, decoder.size(1) - 1), at::full({1}, ByteTokenizer::eos_id, at::kLong)});
    const std::vector<std::int64_t> original(block[b].data_ptr<std::int64_t>(), block[b].data_ptr<std::int64_t>() + 257);
    REQUIRE(reconstruct(input[b], target) == original);
    const std::int64_t s = input[b].ge(ByteTokenizer::first_sentinel_id).sum().item<std::int64_t>();
    spans += static_cast<double>(s);
    noise += static_cast<double>(target.size(0) - s - 1);
  }
  CHECK(noise / (200 * 257) == Approx(0.15).epsilon(0.05));
  CHECK(noise / spans == Approx(3.0).epsilon(0.05));
  CHECK(out.tokens == 200 * decoder.size(1));
  // Targets: what the decoder reads next, then <eos>.
  const std::int64_t L = decoder.size(1);
  CHECK(at::equal(out.targets.narrow(1, 0, L - 1), decoder.narrow(1, 1, L - 1)));
  CHECK(out.targets.select(1, L - 1).eq(ByteTokenizer::eos_id).all().item<bool>());
}

TEST_CASE("span_corruption: spans vary in place and length between examples", "[span_corruption]") {
  at::manual_seed(2);
  const at::Tensor block = at::arange(65, at::kLong).expand({50, 65}).contiguous();
  RecordingModel model(V, {.generates = true, .bidirectional = true, .has_encoder = true});
  make()->compute(model, block);
  const at::Tensor input = model.last.encoder_tokens;  // (50, I)
  CHECK(input.size(1) < 65);
  // Identical blocks, different corruptions.
  CHECK_FALSE(at::equal(input[0], input[1]));
}

TEST_CASE("span_corruption: a decoder reads input and target as one sequence, scored on the target",
          "[span_corruption]") {
  at::manual_seed(3);
  const at::Tensor block = at::randint(ByteTokenizer::n_bytes, {4, 65}, at::kLong);  // T = 64
  RecordingModel model(V, {.generates = true, .bidirectional = true, .prefix = true});
  const lmlab::LossOutput out = make()->compute(model, block);
  const at::Tensor seq = model.last.tokens;  // (B, I + L - 1)
  CHECK(seq.size(1) <= 64);
  REQUIRE(model.last.prefix_lengths.defined());
  const std::int64_t I = model.last.prefix_lengths[0].item<std::int64_t>();
  // The input part ends with a sentinel or a kept byte; the target part starts with sentinel 0.
  CHECK(seq.select(1, I).eq(ByteTokenizer::sentinel(0)).all().item<bool>());
  CHECK(out.tokens == 4 * (seq.size(1) + 1 - I));
  // Targets: ignore_index while reading the input part, then the next token of the sequence.
  const std::int64_t N = seq.size(1);
  CHECK(out.targets.narrow(1, 0, I - 1).eq(lmlab::ignore_index).all().item<bool>());
  CHECK(at::equal(out.targets.narrow(1, I - 1, N - I), seq.narrow(1, I, N - I)));
  CHECK(out.targets.select(1, N - 1).eq(ByteTokenizer::eos_id).all().item<bool>());
  // Zero logits: every scored token costs log V, so the loss is log V exactly.
  CHECK(out.loss.item<double>() == Approx(std::log(static_cast<double>(V))).epsilon(1e-6));
}

TEST_CASE("span_corruption: trains every family that generates", "[span_corruption]") {
  const lmlab::Requirements needs =
      lmlab::test::builtin_plugins().get<lmlab::Objective>("span_corruption").info.traits.needs;
  at::manual_seed(4);
  const at::Tensor block = at::randint(97, 107, {8, 33}, at::kLong);
  for (const auto& family : lmlab::test::families) {
    DYNAMIC_SECTION(family) {
      const lmlab::Capabilities caps =
          lmlab::test::builtin_plugins().get<lmlab::Architecture>(family).info.traits.provides;
      CHECK(lmlab::unmet(needs, caps).has_value() == (family == "encoder_only"));
      if (family == "encoder_only") continue;
      const auto objective = make();
      const auto model = lmlab::test::make_model(family, toml::table{{"d_model", 32}, {"n_layers", 2}, {"n_heads", 4}}, V, 32);
      const auto [first, last] = lmlab::test::train_on(*objective, *model, block, 40, 1e-2);
      INFO(first << " -> " << last);
      CHECK(last < 0.5 * first);
    }
  }
}

}  // namespace span_corruption_tests
