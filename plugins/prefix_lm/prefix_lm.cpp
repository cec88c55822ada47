// Prefix language modelling (Raffel et al. 2020, section 3.2.3; Tay et al. 2022): split each
// example into a prefix, which is context, and a continuation, which is predicted; the loss is on
// the continuation only. How the prefix is read is the architecture's: a prefix decoder reads it
// bidirectionally, an encoder-decoder encodes it and decodes the continuation, a causal decoder
// reads it left to right (the baseline the other two are compared with).
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/tokenizer.hpp"

namespace {

struct PrefixLmOptions {
  std::string split = "random";
  double fraction = 0.5;
};

lmlab::OptionSet<PrefixLmOptions> options() {
  using O = PrefixLmOptions;
  return lmlab::OptionSet<O>{}
      .add("split", &O::split,
           "where each example is split: random (uniform over 1..T prefix tokens, per example) or fixed (at fraction)",
           {"random", "fixed"})
      .add("fraction", &O::fraction, "split = fixed: the prefix's share of the example",
           {.min = 0.0, .max = 1.0, .exclusive_min = true, .exclusive_max = true});
}

class PrefixLm final : public lmlab::Objective {
 public:
  PrefixLm(const PrefixLmOptions& o, std::int64_t vocab_size, const lmlab::SpecialIds& ids)
      : o_(o), vocab_size_(vocab_size), ids_(ids) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    if (block.dim() != 2 || block.size(1) < 2) {
      throw std::invalid_argument(
          fmt::format("prefix_lm needs a (B, T+1) block with T >= 1, got shape {}", fmt::join(block.sizes(), "x")));
    }
    const std::int64_t B = block.size(0), T = block.size(1) - 1;
    // Prefix lengths p in 1..T, drawn on the CPU from LibTorch's default generator (which
    // checkpoints carry), so that counting the predicted tokens needs no device sync.
    const at::Tensor p_cpu =
        o_.split == "random"
            ? at::randint(1, T + 1, {B}, at::kLong)
            : at::full({B}, std::clamp<std::int64_t>(std::llround(o_.fraction * static_cast<double>(T + 1)), 1, T), at::kLong);  // (B)
    const at::Tensor p = p_cpu.to(block.device());  // (B)
    const std::int64_t predicted = (B * (T + 1)) - p_cpu.sum().item<std::int64_t>();

    at::Tensor logits, target;  // (B, L, V), (B, L) with ignore_index where nothing is predicted
    if (model.capabilities().has_encoder) {
      std::tie(logits, target) =
          encoder_decoder(model, block, p, p_cpu.min().item<std::int64_t>(), p_cpu.max().item<std::int64_t>());
    } else {
      const at::Tensor input = block.narrow(1, 0, T);  // (B, T)
      const at::Tensor positions = at::arange(T, block.options()).unsqueeze(0);  // (1, T)
      // Position i predicts token i + 1, which is in the continuation when i + 1 >= p.
      target = block.narrow(1, 1, T).masked_fill(positions.add(1).lt(p.unsqueeze(1)), lmlab::ignore_index);  // (B, T)
      lmlab::ModelInput in{input};
      if (model.capabilities().prefix) in.prefix_lengths = p;
      logits = lmlab::at_least_float(model.forward(in).logits);  // (B, T, V)
    }
    if (logits.size(-1) != vocab_size_) {
      throw std::invalid_argument(fmt::format("prefix_lm expects (B, T, {}) logits from the model, got {}",
                                              vocab_size_, fmt::join(logits.sizes(), "x")));
    }
    const at::Tensor nll_sum = at::cross_entropy_loss(logits.reshape({-1, vocab_size_}), target.reshape({-1}), {},
                                                      at::Reduction::Sum, lmlab::ignore_index);  // ()
    lmlab::LossOutput out;
    out.tokens = predicted;
    out.loss = nll_sum / static_cast<double>(predicted);  // ()
    out.nll_sum = nll_sum.detach();                        // ()
    out.correct = logits.detach().argmax(-1).eq(target).sum();  // () ignored positions never match ignore_index
    out.logits = logits;
    out.targets = target;  // (B, L) ignore_index in the prefix and at padding
    return out;
  }

 private:
  /// The prefix to the encoder, the continuation to the decoder (after a start token), each
  /// right-padded to the batch's longest, so that a fixed split pads nothing.
  std::pair<at::Tensor, at::Tensor> encoder_decoder(lmlab::Architecture& model, const at::Tensor& block,
                                                    const at::Tensor& p, std::int64_t shortest_prefix,
                                                    std::int64_t longest_prefix) {
    const std::int64_t T = block.size(1) - 1;
    const std::int64_t P = longest_prefix, L = T + 1 - shortest_prefix;  // longest prefix, longest continuation
    const at::Tensor i = at::arange(P, block.options()).unsqueeze(0);                       // (1, P)
    const at::Tensor encoder_valid = i.lt(p.unsqueeze(1));                                   // (B, P)
    const at::Tensor encoder = block.narrow(1, 0, P).masked_fill(encoder_valid.logical_not(), ids_.pad);  // (B, P)
    const at::Tensor j = at::arange(L, block.options()).unsqueeze(0);                       // (1, L)
    const at::Tensor source = p.unsqueeze(1) + j;                                            // (B, L): index of target j
    const at::Tensor decoder_valid = source.le(T);                                           // (B, L)
    const at::Tensor target = block.gather(1, source.clamp_max(T)).masked_fill(decoder_valid.logical_not(), lmlab::ignore_index);  // (B, L)
    // Teacher forcing: the decoder reads the start token, then the continuation shifted right.
    const at::Tensor previous = block.gather(1, (source - 1).clamp(0, T));                   // (B, L)
    const at::Tensor decoder = at::where(j.eq(0), at::full_like(previous, ids_.bos), previous)
                                   .masked_fill(decoder_valid.logical_not(), ids_.pad);  // (B, L)
    lmlab::ModelInput in;
    in.tokens = decoder;
    in.padding_mask = decoder_valid;
    in.encoder_tokens = encoder;
    in.encoder_padding_mask = encoder_valid;
    return {lmlab::at_least_float(model.forward(in).logits), target};  // (B, L, V), (B, L)
  }

  PrefixLmOptions o_;
  std::int64_t vocab_size_;
  lmlab::SpecialIds ids_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>(
      "prefix_lm",
      "prefix LM: each example split into a context prefix and a predicted continuation; the prefix is read "
      "bidirectionally where the architecture can",
      options(),
      [](const PrefixLmOptions& o, const lmlab::ObjectiveContext& context) {
        if (!context.tokenizer) throw std::invalid_argument("prefix_lm needs the run's tokenizer");
        const lmlab::SpecialIds& ids = context.tokenizer->special();
        if (ids.pad < 0 || ids.bos < 0 || ids.pad >= context.vocab_size || ids.bos >= context.vocab_size) {
          throw std::invalid_argument(fmt::format("prefix_lm needs pad and bos ids within the model's {} ids; the "
                                                  "tokenizer's are pad {}, bos {}",
                                                  context.vocab_size, ids.pad, ids.bos));
        }
        return std::make_shared<PrefixLm>(o, context.vocab_size, ids);
      },
      // A causal path for the continuation: causal_decoder, prefix_decoder, encoder_decoder.
      {.needs = {.generates = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
