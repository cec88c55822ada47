// Frequency penalty (OpenAI's API, "Parameter details" of the text-generation guide): every
// occurrence of a token in scope lowers its logit by `value`:
//   logit'_t = logit_t - count_t * value
// Unlike the repetition penalty, a token seen five times is pushed down five times as hard; a
// negative value encourages repeats instead. The scope is the generated tokens (history columns
// from prompt_length on) or, with scope = "all", the prompt too, limited to the last `window`
// columns when window > 0; padding (history_mask false) never counts.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct FrequencyPenaltyOptions {
  double value = 0.5;
  std::string scope = "generated";
  std::int64_t window = 0;
};

lmlab::OptionSet<FrequencyPenaltyOptions> options() {
  return lmlab::OptionSet<FrequencyPenaltyOptions>{}
      .add("value", &FrequencyPenaltyOptions::value,
           "subtracted from a token's logit once per occurrence in scope (negative: encourage repeats)")
      .add("scope", &FrequencyPenaltyOptions::scope,
           "which tokens count: the generated ones only, or the prompt as well", {"generated", "all"})
      .add("window", &FrequencyPenaltyOptions::window,
           "only the last `window` tokens of the history count (within the scope); 0 = no limit", {.min = 0.0});
}

class FrequencyPenalty final : public lmlab::DecodingStep {
 public:
  explicit FrequencyPenalty(const FrequencyPenaltyOptions& o) : o_(o) {}

  std::string name() const override { return "frequency_penalty"; }

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    const std::int64_t length = state.history.defined() ? state.history.size(1) : 0;
    std::int64_t start = o_.scope == "generated" ? std::min(state.prompt_length, length) : 0;
    if (o_.window > 0) start = std::max(start, length - o_.window);
    const at::Tensor counts = lmlab::history_counts(state, start);  // (B, V)
    state.logits = logits - counts * o_.value;  // (B, V)
  }

  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<FrequencyPenalty>(*this); }

 private:
  FrequencyPenaltyOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("frequency_penalty",
                             "OpenAI's frequency penalty: subtract value times each token's count so far",
                             options(), [](const FrequencyPenaltyOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<FrequencyPenalty>(o);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
