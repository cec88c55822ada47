// Token-level unlikelihood training (Welleck et al., ICLR 2020, section 4): next-token
// cross-entropy plus a penalty on the probability the model gives, at each position t, to
// tokens it has already seen in its context, the negative candidates
//   C_t = {x_0, ..., x_t} \ {x_{t+1}},
//   L = L_MLE + alpha * mean_t sum_{c in C_t} -log(1 - p(c | x_<=t)).
// The penalty pushes probability away from repeating the context, one of the fixes for the
// repetition that maximum likelihood training leaves in greedy and beam decoding.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/next_token_loss.hpp"
#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct UnlikelihoodOptions {
  double alpha = 1.0;
  double min_complement = 1e-5;
};

lmlab::OptionSet<UnlikelihoodOptions> options() {
  using O = UnlikelihoodOptions;
  return lmlab::OptionSet<O>{}
      .add("alpha", &O::alpha, "weight of the unlikelihood term against the likelihood term", {.min = 0.0})
      .add("min_complement", &O::min_complement,
           "1 - p(c) is clamped to at least this before its log, so a candidate the model is sure of costs at most "
           "-log(min_complement)",
           {.min = 0.0, .max = 1.0, .exclusive_min = true, .exclusive_max = true});
}

class UnlikelihoodToken final : public lmlab::Objective {
 public:
  UnlikelihoodToken(const UnlikelihoodOptions& o, std::int64_t vocab_size) : o_(o), vocab_size_(vocab_size) {}

  lmlab::LossOutput compute(lmlab::Architecture& model, const at::Tensor& block) override {
    const lmlab::NextTokenPrediction p = lmlab::predict_next_tokens(model, block, vocab_size_, "unlikelihood_token");
    // One log-softmax for both terms: the likelihood reads the targets' entries, the penalty the candidates'.
    const at::Tensor log_probs = at::log_softmax(p.logits, -1);  // (B, T, V)
    const at::Tensor nll_sum = at::nll_loss(log_probs.reshape({-1, vocab_size_}), p.target.reshape({-1}), {},
                                            at::Reduction::Sum);  // ()

    // C_t: every token of x_0..x_t, once however often it occurred, less the target x_{t+1}.
    // Built from the context's T positions rather than the vocabulary's V ids: each position j
    // stands for its token, in C_t when j <= t, when it is the token's first occurrence (so a
    // token counts once), and when it is not the target. (B, T, T) instead of (B, T, V), which
    // at a subword vocabulary is the difference between kilobytes and a quarter gigabyte.
    const std::int64_t T = p.input.size(1);
    const at::Tensor same = p.input.unsqueeze(2) == p.input.unsqueeze(1);                      // (B, T, T) x_j == x_k
    const at::Tensor earlier = at::ones({T, T}, same.options()).tril(-1);                        // (T, T) k < j
    const at::Tensor first = same.logical_and(earlier).any(2).logical_not();                     // (B, T) x_j new at j
    const at::Tensor visible = at::ones({T, T}, same.options()).tril();                          // (T, T) j <= t
    const at::Tensor context = p.input.unsqueeze(1).expand({-1, T, -1});                         // (B, T, T) x_j at row t
    const at::Tensor candidates = visible.logical_and(first.unsqueeze(1))
                                      .logical_and(context != p.target.unsqueeze(2));            // (B, T, T)
    const at::Tensor candidate_log_probs = log_probs.gather(2, context);                         // (B, T, T)
    const at::Tensor complement = (1.0 - candidate_log_probs.exp()).clamp_min(o_.min_complement);  // (B, T, T)
    const at::Tensor ul_sum = -(at::log(complement) * candidates).sum();                         // ()

    const double n = static_cast<double>(p.target.numel());
    // Perplexity stays the model's: nll_sum is the likelihood term alone.
    lmlab::LossOutput out = lmlab::next_token_output(p, nll_sum, (nll_sum + o_.alpha * ul_sum) / n);  // loss: ()
    // Unweighted per-token means, so that train/loss.mle and train/loss.ul compare across alpha.
    out.components = {{"mle", nll_sum.detach() / n}, {"ul", ul_sum.detach() / n}};  // () each
    return out;
  }

  std::vector<std::string> components() const override { return {"mle", "ul"}; }

 private:
  UnlikelihoodOptions o_;
  std::int64_t vocab_size_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Objective>(
      "unlikelihood_token",
      "token-level unlikelihood (Welleck et al. 2020): next-token likelihood plus alpha times -log(1 - p) of the "
      "context's earlier tokens",
      options(),
      [](const UnlikelihoodOptions& o, const lmlab::ObjectiveContext& context) {
        if (context.vocab_size <= 0) throw std::invalid_argument("unlikelihood_token needs the vocabulary size");
        return std::make_shared<UnlikelihoodToken>(o, context.vocab_size);
      },
      // Next-token prediction over one stream, as causal_lm.
      {.needs = {.generates = true, .has_encoder = false, .prefix = false}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
