// Causal language modelling: predict every token of a block from the tokens before it. A block
// of T+1 tokens gives T (input, target) pairs, shifted by one position, and the loss is their
// mean cross-entropy,
//   L = -1/(B*T) sum_b sum_t log p(x_{b,t+1} | x_{b,<=t}),
// computed by lmlab::next_token_loss (lmlab/next_token_loss.hpp), which the unlikelihood
// objectives share.
#include <memory>
#include <stdexcept>

#include "lmlab/next_token_loss.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct CausalLmOptions {};

class CausalLm final : public lmlab::Objective {
 public:
  explicit CausalLm(int64_t vocab_size) : vocab_size_(vocab_size) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    return lmlab::next_token_loss(model, block, vocab_size_, "causal_lm");
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
