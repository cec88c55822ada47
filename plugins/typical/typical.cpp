// Locally typical sampling (Meister et al. 2023, "Locally Typical Sampling", TACL, section 5):
// rank each row's tokens by how far their information content is from the row's entropy,
//   score_i = | -log p_i - H |,   H = -sum_i p_i log p_i   (nats),
// ascending, and keep the smallest prefix whose probability mass reaches `mass`; the token whose
// probability crosses `mass` is kept:  keep(token at rank j) = sum_{i < j} p_(i) < mass.
// Rank 0 always passes, so at least one token survives. Equal scores are ranked lowest id first
// (a stable sort). mass = 1 keeps every token rather than letting rounding drop the tail.
#include <limits>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct TypicalOptions {
  double mass = 0.95;
};

lmlab::OptionSet<TypicalOptions> options() {
  return lmlab::OptionSet<TypicalOptions>{}.add(
      "mass", &TypicalOptions::mass, "the probability mass kept: the most typical tokens reaching it",
      {.min = 0.0, .max = 1.0, .exclusive_min = true});
}

class Typical final : public lmlab::Cloneable<Typical> {
 public:
  explicit Typical(double mass) : mass_(mass) {}

  void apply(lmlab::DecodeState& state) override {
    if (mass_ >= 1.0) return;
    const at::Tensor& logits = state.logits;                                   // (B, V)
    const at::Tensor log_probs = at::log_softmax(logits.to(at::kDouble), -1);  // (B, V)
    const at::Tensor probs = log_probs.exp();                                  // (B, V)
    // 0 * log 0 counts as 0: masked (-inf) tokens add nothing to the entropy instead of NaN.
    const at::Tensor terms = at::where(probs > 0, probs * log_probs, at::zeros_like(probs));  // (B, V)
    const at::Tensor entropy = -terms.sum(-1, /*keepdim=*/true);                              // (B, 1)
    // Masked tokens score +inf and sort last.
    const at::Tensor score = (-log_probs - entropy).abs();                          // (B, V)
    // (B, V) ids, most typical first
    const at::Tensor order = std::get<1>(at::sort(score, /*stable=*/true, -1, /*descending=*/false));
    const at::Tensor sorted = probs.gather(-1, order);  // (B, V)
    const at::Tensor before = at::cumsum(sorted, -1) - sorted;  // (B, V) mass of the more typical tokens
    const at::Tensor keep_sorted = before < mass_;              // (B, V) in sorted order
    const at::Tensor keep = at::zeros_like(keep_sorted).scatter_(-1, order, keep_sorted);  // (B, V) in id order
    state.logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  double mass_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("typical",
                             "locally typical sampling: keep the tokens whose surprisal is closest to the entropy, "
                             "up to probability mass `mass`",
                             options(), [](const TypicalOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<Typical>(o.mass);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
