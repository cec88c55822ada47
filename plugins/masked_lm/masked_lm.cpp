// BERT's masked language modelling (Devlin et al. 2019, section 3.1): choose `mask_prob` of the
// tokens; replace 80% of those with the mask id, 10% with a random token and leave 10% as they
// are; predict the original token at every chosen position, from both sides. Replacing some
// chosen tokens by random ones or by themselves keeps the model from learning that only mask ids
// need predicting, since no mask id appears when it is used downstream.
#include <memory>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/tokenizer.hpp"

namespace {

struct MaskedLmOptions {
  double mask_prob = 0.15;
  double replace_with_mask = 0.8;
  double replace_with_random = 0.1;
};

lmlab::OptionSet<MaskedLmOptions> options() {
  using O = MaskedLmOptions;
  const lmlab::Limits probability{.min = 0.0, .max = 1.0};
  return lmlab::OptionSet<O>{}
      .add("mask_prob", &O::mask_prob, "fraction of tokens chosen for prediction, each independently",
           {.min = 0.0, .max = 1.0, .exclusive_min = true})
      .add("replace_with_mask", &O::replace_with_mask, "of the chosen tokens, the fraction replaced by the mask id",
           probability)
      .add("replace_with_random", &O::replace_with_random,
           "of the chosen tokens, the fraction replaced by a random text token (the rest stay as they are)", probability)
      .check("replace_with_mask + replace_with_random must be at most 1",
             [](const O& o) { return o.replace_with_mask + o.replace_with_random <= 1.0; });
}

class MaskedLm final : public lmlab::Objective {
 public:
  MaskedLm(const MaskedLmOptions& o, std::int64_t vocab_size, const lmlab::SpecialIds& ids)
      : o_(o), vocab_size_(vocab_size), ids_(ids) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    if (block.dim() != 2 || block.size(1) < 2) {
      throw std::invalid_argument(
          fmt::format("masked_lm needs a (B, T+1) block with T >= 1, got shape {}", fmt::join(block.sizes(), "x")));
    }
    // The first T tokens, so that the model sees as many as a causal objective feeds it.
    const at::Tensor original = block.narrow(1, 0, block.size(1) - 1);  // (B, T)
    // Drawn from LibTorch's default generator, whose state checkpoints carry.
    const at::Tensor chosen = at::rand(original.sizes(), original.options().dtype(at::kFloat)).lt(o_.mask_prob);  // (B, T)
    const at::Tensor how = at::rand(original.sizes(), original.options().dtype(at::kFloat));                       // (B, T)
    const at::Tensor to_mask = chosen.logical_and(how.lt(o_.replace_with_mask));                                 // (B, T)
    const at::Tensor to_random =
        chosen.logical_and(how.ge(o_.replace_with_mask)).logical_and(how.lt(o_.replace_with_mask + o_.replace_with_random));  // (B, T)
    // Random replacements are text ids only: a control id in the input would teach nothing.
    const at::Tensor random =
        at::randint(ids_.ordinary_begin, ids_.ordinary_end, original.sizes(), original.options());  // (B, T)
    const at::Tensor input = at::where(to_random, random, original.masked_fill(to_mask, ids_.mask));  // (B, T)

    // Float32 whatever the model computed in: a log-softmax over the vocabulary loses too much in bf16.
    const at::Tensor logits = lmlab::at_least_float(model.forward(lmlab::ModelInput{input}).logits);  // (B, T, V)
    if (logits.dim() != 3 || logits.size(-1) != vocab_size_) {
      throw std::invalid_argument(fmt::format("masked_lm expects (B, T, {}) logits from the model, got {}",
                                              vocab_size_, fmt::join(logits.sizes(), "x")));
    }
    const at::Tensor target = original.masked_fill(chosen.logical_not(), lmlab::ignore_index);  // (B, T)
    const at::Tensor nll_sum = at::cross_entropy_loss(logits.reshape({-1, vocab_size_}), target.reshape({-1}), {},
                                                      at::Reduction::Sum, lmlab::ignore_index);  // ()
    lmlab::LossOutput out;
    out.tokens = chosen.sum().item<std::int64_t>();
    // A batch that happens to choose nothing contributes no loss rather than 0 / 0.
    out.loss = nll_sum / static_cast<double>(std::max<std::int64_t>(out.tokens, 1));  // ()
    out.nll_sum = nll_sum.detach();                                                    // ()
    out.correct = logits.detach().argmax(-1).eq(original).logical_and(chosen).sum();   // ()
    out.logits = logits;
    out.targets = target;  // (B, T) ignore_index at the positions not chosen
    return out;
  }

 private:
  MaskedLmOptions o_;
  std::int64_t vocab_size_;
  lmlab::SpecialIds ids_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>(
      "masked_lm", "BERT's masked LM: predict chosen tokens (80% masked, 10% random, 10% kept) from both sides",
      options(),
      [](const MaskedLmOptions& o, const lmlab::ObjectiveContext& context) {
        if (!context.tokenizer) throw std::invalid_argument("masked_lm needs the run's tokenizer");
        const lmlab::SpecialIds& ids = context.tokenizer->special();
        if (ids.mask < 0 || ids.mask >= context.vocab_size) {
          throw std::invalid_argument(fmt::format("masked_lm needs a mask id within the model's {} ids; the "
                                                  "tokenizer's is {}",
                                                  context.vocab_size, ids.mask));
        }
        return std::make_shared<MaskedLm>(o, context.vocab_size, ids);
      },
      // Both sides of every position, from one stack: an encoder.
      {.needs = {.bidirectional = true, .has_encoder = false, .prefix = false}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
