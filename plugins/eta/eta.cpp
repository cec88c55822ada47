// Eta sampling (Hewitt et al. 2022, "Truncation Sampling as Language Model Desmoothing",
// section 5): an entropy-dependent probability threshold per row,
//   eta = min(epsilon, sqrt(epsilon) * exp(-H)),   H = -sum_i p_i log p_i   (nats),
//   keep(i) = p_i >= eta  or  p_i = max_j p_j,
// so a confident (low-entropy) row is cut at epsilon and a flat (high-entropy) row at the lower
// sqrt(epsilon) e^-H. The argmax (every tied maximum) is always kept, so some token survives.
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct EtaOptions {
  double epsilon = 3e-4;
};

lmlab::OptionSet<EtaOptions> options() {
  return lmlab::OptionSet<EtaOptions>{}.add(
      "epsilon", &EtaOptions::epsilon, "the largest threshold; eta = min(epsilon, sqrt(epsilon) * exp(-entropy))",
      {.min = 0.0, .max = 1.0, .exclusive_min = true, .exclusive_max = true});
}

class Eta final : public lmlab::Cloneable<Eta> {
 public:
  explicit Eta(double epsilon) : epsilon_(epsilon) {}

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;                                   // (B, V)
    const at::Tensor log_probs = at::log_softmax(logits.to(at::kDouble), -1);  // (B, V)
    const at::Tensor probs = log_probs.exp();                                  // (B, V)
    // 0 * log 0 counts as 0: masked (-inf) tokens add nothing to the entropy instead of NaN.
    const at::Tensor terms = at::where(probs > 0, probs * log_probs, at::zeros_like(probs));  // (B, V)
    const at::Tensor entropy = -terms.sum(-1, /*keepdim=*/true);                              // (B, 1)
    const at::Tensor eta = at::clamp_max(std::sqrt(epsilon_) * at::exp(-entropy), epsilon_);  // (B, 1)
    const at::Tensor best = std::get<0>(logits.max(-1, /*keepdim=*/true));                    // (B, 1)
    const at::Tensor keep = (probs >= eta).logical_or(logits == best);                        // (B, V)
    state.logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  double epsilon_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("eta",
                             "eta sampling: keep tokens with probability >= min(epsilon, sqrt(epsilon) e^-entropy) "
                             "(and the argmax)",
                             options(), [](const EtaOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<Eta>(o.epsilon);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
