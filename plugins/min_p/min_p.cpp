// Min-p sampling (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling for Creative and
// Coherent LLM Outputs"): keep the tokens at least p times as likely as the most likely one,
//   keep(i) = p_i >= p * max_j p_j   <=>   logit_i >= max_j logit_j + log p,
// compared in logit space so that no probability underflows. The argmax always passes (p <= 1),
// so at least one token survives; p = 0 keeps every token (log 0 = -inf), p = 1 only the maxima.
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct MinPOptions {
  double p = 0.05;
};

lmlab::OptionSet<MinPOptions> options() {
  return lmlab::OptionSet<MinPOptions>{}.add(
      "p", &MinPOptions::p, "keep tokens with probability >= p times the largest probability",
      {.min = 0.0, .max = 1.0});
}

class MinP final : public lmlab::Cloneable<MinP> {
 public:
  explicit MinP(double p) : p_(p) {}

  void apply(lmlab::DecodeState& state) override {
    if (p_ <= 0.0) return;  // every probability is >= 0
    const at::Tensor& logits = state.logits;                                   // (B, V)
    const at::Tensor wide = logits.to(at::kDouble);                            // (B, V)
    const at::Tensor best = std::get<0>(wide.max(-1, /*keepdim=*/true));       // (B, 1)
    const at::Tensor keep = wide >= best + std::log(p_);                       // (B, V)
    state.logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  double p_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("min_p", "keep tokens at least p times as likely as the most likely one", options(),
                             [](const MinPOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<MinP>(o.p);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
