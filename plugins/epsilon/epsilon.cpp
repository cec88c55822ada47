// Epsilon sampling (Hewitt et al. 2022, "Truncation Sampling as Language Model Desmoothing",
// section 4): keep the tokens whose probability is at least epsilon,
//   keep(i) = p_i >= epsilon  or  p_i = max_j p_j,
// the argmax (every tied maximum) always kept so that a flat row over more than 1/epsilon
// tokens never loses every token.
#include <limits>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct EpsilonOptions {
  double epsilon = 3e-4;
};

lmlab::OptionSet<EpsilonOptions> options() {
  return lmlab::OptionSet<EpsilonOptions>{}.add(
      "epsilon", &EpsilonOptions::epsilon, "keep tokens with probability >= epsilon (and the argmax)",
      {.min = 0.0, .max = 1.0, .exclusive_min = true, .exclusive_max = true});
}

class Epsilon final : public lmlab::Cloneable<Epsilon> {
 public:
  explicit Epsilon(double epsilon) : epsilon_(epsilon) {}

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;                               // (B, V)
    const at::Tensor probs = at::softmax(logits.to(at::kDouble), -1);      // (B, V)
    const at::Tensor best = std::get<0>(logits.max(-1, /*keepdim=*/true));  // (B, 1)
    const at::Tensor keep = (probs >= epsilon_).logical_or(logits == best);  // (B, V)
    state.logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  double epsilon_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("epsilon", "truncation sampling: keep tokens with probability >= epsilon (and the argmax)",
                             options(), [](const EpsilonOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<Epsilon>(o.epsilon);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
