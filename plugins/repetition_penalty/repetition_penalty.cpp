// Repetition penalty (CTRL: Keskar et al. 2019, "CTRL: A Conditional Transformer Language Model
// for Controllable Generation", sec. 4.1), with the sign rule of Hugging Face's
// RepetitionPenaltyLogitsProcessor. Every distinct token t in scope is penalised once:
//   logit'_t = logit_t < 0 ? logit_t * theta : logit_t / theta
// CTRL divides every logit by theta, which would *raise* a negative logit; multiplying those keeps
// theta > 1 a penalty whatever the sign. The scope is the last `window` columns of the history
// (prompt and generated alike; 0 = all of it); padding (history_mask false) never counts.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct RepetitionPenaltyOptions {
  double theta = 1.1;
  std::int64_t window = 0;
};

lmlab::OptionSet<RepetitionPenaltyOptions> options() {
  return lmlab::OptionSet<RepetitionPenaltyOptions>{}
      .add("theta", &RepetitionPenaltyOptions::theta,
           "the penalty; a seen token's negative logit is multiplied by it, a positive one divided "
           "(1 = off, > 1 discourages repeats)",
           {.min = 0.0, .exclusive_min = true})
      .add("window", &RepetitionPenaltyOptions::window,
           "how many of the most recent tokens (prompt or generated) count; 0 = the whole history",
           {.min = 0.0});
}

class RepetitionPenalty final : public lmlab::Cloneable<RepetitionPenalty> {
 public:
  explicit RepetitionPenalty(const RepetitionPenaltyOptions& o) : o_(o) {}

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    const std::int64_t length = state.history.defined() ? state.history.size(1) : 0;
    const std::int64_t start = o_.window > 0 ? std::max<std::int64_t>(0, length - o_.window) : 0;
    const at::Tensor counts = lmlab::history_counts(state, start);  // (B, V)
    // Presence, not count: a token seen five times is penalised as much as one seen once.
    const at::Tensor penalised = at::where(logits < 0, logits * o_.theta, logits / o_.theta);  // (B, V)
    state.logits = at::where(counts > 0, penalised, logits);  // (B, V)
  }

 private:
  RepetitionPenaltyOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>(
      "repetition_penalty", "CTRL's repetition penalty: seen tokens' logits divided (or, if negative, multiplied) by theta",
      options(), [](const RepetitionPenaltyOptions& o, const lmlab::DecodingContext&) {
        return std::make_shared<RepetitionPenalty>(o);
      });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
