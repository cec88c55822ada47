// T5's span corruption (Raffel et al. 2020, section 3.1.4): drop `noise_density` of the tokens
// in spans of mean length `mean_span_length`; the input keeps the rest with one sentinel in
// place of each span, and the target lists each sentinel followed by the tokens it replaced,
// then <eos>. An encoder-decoder encodes the input and decodes the target. A decoder-only model
// reads input and target concatenated, with the loss on the target part (section 3.2); a prefix
// decoder reads the input part bidirectionally.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/tokenizer.hpp"

namespace {

struct SpanCorruptionOptions {
  double noise_density = 0.15;
  double mean_span_length = 3.0;
};

lmlab::OptionSet<SpanCorruptionOptions> options() {
  using O = SpanCorruptionOptions;
  return lmlab::OptionSet<O>{}
      .add("noise_density", &O::noise_density, "fraction of the tokens dropped from the input",
           {.min = 0.0, .max = 1.0, .exclusive_min = true, .exclusive_max = true})
      .add("mean_span_length", &O::mean_span_length, "mean length of a dropped span", {.min = 1.0});
}

/// How many tokens of a length-n example are noise, and in how many spans (T5's rounding).
struct Layout {
  std::int64_t noise = 0, spans = 0;
};

Layout layout_of(std::int64_t n, const SpanCorruptionOptions& o, std::int64_t n_sentinels) {
  Layout l;
  l.noise = std::clamp<std::int64_t>(std::llround(static_cast<double>(n) * o.noise_density), 1, n - 1);
  l.spans = std::clamp<std::int64_t>(std::llround(static_cast<double>(l.noise) / o.mean_span_length), 1,
                                     std::min({l.noise, n - l.noise, n_sentinels}));
  return l;
}

/// `total` split into `parts` positive lengths, uniformly at random (LibTorch's generator).
std::vector<std::int64_t> random_partition(std::int64_t total, std::int64_t parts) {
  std::vector<std::int64_t> cuts{0};
  if (parts > 1) {
    const at::Tensor chosen = std::get<0>(at::randperm(total - 1, at::kLong).narrow(0, 0, parts - 1).add(1).sort());
    for (std::int64_t i = 0; i < parts - 1; ++i) cuts.push_back(chosen[i].item<std::int64_t>());
  }
  cuts.push_back(total);
  std::vector<std::int64_t> lengths;
  for (std::size_t i = 1; i < cuts.size(); ++i) lengths.push_back(cuts[i] - cuts[i - 1]);
  return lengths;
}

class SpanCorruption final : public lmlab::Objective {
 public:
  SpanCorruption(const SpanCorruptionOptions& o, std::int64_t vocab_size, const lmlab::SpecialIds& ids)
      : o_(o), vocab_size_(vocab_size), ids_(ids) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    if (block.dim() != 2 || block.size(1) < 3) {
      throw std::invalid_argument(
          fmt::format("span_corruption needs a (B, T+1) block with T >= 2, got shape {}", fmt::join(block.sizes(), "x")));
    }
    const lmlab::Capabilities caps = model.capabilities();
    const std::int64_t T = block.size(1) - 1;
    // An encoder-decoder corrupts the whole block; a decoder-only model reads input and target
    // in one sequence of at most T tokens, so it corrupts the longest prefix that fits.
    std::int64_t n = T + 1;
    while (!caps.has_encoder && n > 2 && concatenated_length(n) - 1 > T) --n;
    const Layout l = layout_of(n, o_, ids_.n_sentinels);
    const at::Tensor source = block.narrow(1, 0, n).to(at::kCPU);  // (B, n)
    std::vector<at::Tensor> inputs, targets;
    for (std::int64_t b = 0; b < block.size(0); ++b) {
      auto [input, target] = corrupt(source[b], l);
      inputs.push_back(input);
      targets.push_back(target);
    }
    const at::Tensor input = at::stack(inputs).to(block.device());    // (B, n - noise + spans)
    const at::Tensor target = at::stack(targets).to(block.device());  // (B, noise + spans + 1)
    const std::int64_t B = block.size(0), I = input.size(1), L = target.size(1);

    at::Tensor logits, labels;  // (B, L', V), (B, L')
    if (caps.has_encoder) {
      lmlab::ModelInput in;
      in.encoder_tokens = input;
      // Teacher forcing: <bos>, then the target shifted right.
      in.tokens = at::cat({at::full({B, 1}, ids_.bos, target.options()), target.narrow(1, 0, L - 1)}, 1);  // (B, L)
      logits = lmlab::at_least_float(model.forward(in).logits);  // (B, L, V)
      labels = target;                                   // (B, L)
    } else {
      const at::Tensor sequence = at::cat({input, target}, 1);  // (B, I + L)
      lmlab::ModelInput in{sequence.narrow(1, 0, I + L - 1)};   // (B, I + L - 1)
      if (caps.prefix) in.prefix_lengths = at::full({B}, I, input.options());  // (B)
      logits = lmlab::at_least_float(model.forward(in).logits);  // (B, I + L - 1, V)
      // Position t predicts token t + 1: only the target's tokens are scored.
      labels = sequence.narrow(1, 1, I + L - 1).clone();  // (B, I + L - 1)
      labels.narrow(1, 0, I - 1).fill_(lmlab::ignore_index);
    }
    if (logits.size(-1) != vocab_size_) {
      throw std::invalid_argument(fmt::format("span_corruption expects (B, T, {}) logits from the model, got {}",
                                              vocab_size_, fmt::join(logits.sizes(), "x")));
    }
    const at::Tensor nll_sum = at::cross_entropy_loss(logits.reshape({-1, vocab_size_}), labels.reshape({-1}), {},
                                                      at::Reduction::Sum, lmlab::ignore_index);  // ()
    lmlab::LossOutput out;
    out.tokens = B * L;
    out.loss = nll_sum / static_cast<double>(out.tokens);         // ()
    out.nll_sum = nll_sum.detach();                                // ()
    out.correct = logits.detach().argmax(-1).eq(labels).sum();    // ()
    out.logits = logits;
    out.targets = labels;  // (B, L') ignore_index where the decoder-only input part is read
    return out;
  }

 private:
  std::int64_t concatenated_length(std::int64_t n) const {
    const Layout l = layout_of(n, o_, ids_.n_sentinels);
    return (n - l.noise + l.spans) + (l.noise + l.spans + 1);
  }

  /// One example's input (kept tokens, a sentinel per span) and target (each sentinel and the
  /// tokens it replaced, then <eos>). Spans and the gaps before them alternate, a gap first.
  std::pair<at::Tensor, at::Tensor> corrupt(const at::Tensor& tokens, const Layout& l) const {
    const std::int64_t n = tokens.size(0);
    const std::vector<std::int64_t> noise = random_partition(l.noise, l.spans);
    const std::vector<std::int64_t> kept = random_partition(n - l.noise, l.spans);
    const auto* t = tokens.data_ptr<std::int64_t>();
    std::vector<std::int64_t> input, target;
    std::int64_t at = 0;
    for (std::int64_t s = 0; s < l.spans; ++s) {
      input.insert(input.end(), t + at, t + at + kept[static_cast<std::size_t>(s)]);
      at += kept[static_cast<std::size_t>(s)];
      input.push_back(ids_.sentinel(s));
      target.push_back(ids_.sentinel(s));
      target.insert(target.end(), t + at, t + at + noise[static_cast<std::size_t>(s)]);
      at += noise[static_cast<std::size_t>(s)];
    }
    target.push_back(ids_.eos);
    return {at::tensor(input, at::kLong), at::tensor(target, at::kLong)};
  }

  SpanCorruptionOptions o_;
  std::int64_t vocab_size_;
  lmlab::SpecialIds ids_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>(
      "span_corruption",
      "T5's span corruption: spans of the input replaced by sentinels, the target lists what each replaced",
      options(),
      [](const SpanCorruptionOptions& o, const lmlab::ObjectiveContext& context) {
        if (!context.tokenizer) throw std::invalid_argument("span_corruption needs the run's tokenizer");
        const lmlab::SpecialIds& ids = context.tokenizer->special();
        if (ids.n_sentinels < 1 || ids.bos < 0 || ids.eos < 0) {
          throw std::invalid_argument(fmt::format("span_corruption needs sentinel, bos and eos ids; the tokenizer has "
                                                  "{} sentinels, bos {}, eos {}",
                                                  ids.n_sentinels, ids.bos, ids.eos));
        }
        if (context.vocab_size < context.tokenizer->vocab_size()) {
          throw std::invalid_argument(fmt::format("span_corruption: the model's {} ids are fewer than the tokenizer's {}",
                                                  context.vocab_size, context.tokenizer->vocab_size()));
        }
        return std::make_shared<SpanCorruption>(o, context.vocab_size, ids);
      },
      // A causal path for the target: causal_decoder, prefix_decoder, encoder_decoder.
      {.needs = {.generates = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
