// Causal language modelling: predict every token of a block from the tokens before it. A block
// of T+1 tokens gives T (input, target) pairs, shifted by one position.
#include <memory>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct CausalLmOptions {};

class CausalLm final : public lmlab::Objective {
 public:
  explicit CausalLm(int64_t vocab_size) : vocab_size_(vocab_size) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    if (block.dim() != 2 || block.size(1) < 2) {
      throw std::invalid_argument(
          fmt::format("causal_lm needs a (B, T+1) block with T >= 1, got shape {}", fmt::join(block.sizes(), "x")));
    }
    const int64_t length = block.size(1) - 1;
    const at::Tensor input = block.narrow(1, 0, length);   // (B, T)
    const at::Tensor target = block.narrow(1, 1, length);  // (B, T)
    // Float32 whatever the model computed in (bf16 autocast included): a log-softmax over the
    // vocabulary loses too much precision in bf16.
    const at::Tensor logits = lmlab::at_least_float(model.forward(lmlab::ModelInput{input}).logits);  // (B, T, V)
    if (logits.dim() != 3 || logits.size(-1) != vocab_size_) {
      throw std::invalid_argument(fmt::format("causal_lm expects (B, T, {}) logits from the model, got {}",
                                              vocab_size_, fmt::join(logits.sizes(), "x")));
    }
    const at::Tensor flat_logits = logits.reshape({-1, vocab_size_});  // (B*T, V)
    const at::Tensor flat_target = target.reshape({-1});                // (B*T)
    const at::Tensor nll_sum = at::cross_entropy_loss(flat_logits, flat_target, {}, at::Reduction::Sum);  // ()

    lmlab::LossOutput out;
    out.tokens = flat_target.numel();
    out.loss = nll_sum / static_cast<double>(out.tokens);  // ()
    out.nll_sum = nll_sum.detach();                         // ()
    out.correct = (logits.detach().argmax(-1) == target).sum();  // ()
    out.logits = logits;
    out.targets = target;  // (B, T) every position predicts its next token
    return out;
  }

 private:
  int64_t vocab_size_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>("causal_lm", "next-token prediction: mean cross-entropy of every token given its prefix",
                          lmlab::OptionSet<CausalLmOptions>{},
                          [](const CausalLmOptions&, const lmlab::ObjectiveContext& context) {
                            if (context.vocab_size <= 0) {
                              throw std::invalid_argument("causal_lm needs the vocabulary size");
                            }
                            return std::make_shared<CausalLm>(context.vocab_size);
                          },
                          // Every position must be blind to its target: a causal single stack. A
                          // prefix decoder trained without a prefix is a causal decoder, yet would
                          // sample with its prompt as a bidirectional prefix it never learned.
                          {.needs = {.generates = true, .has_encoder = false, .prefix = false}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
