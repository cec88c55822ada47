// Presence penalty (OpenAI's API, "Parameter details" of the text-generation guide): a token that
// occurs at least once in scope has its logit lowered by `value`, once:
//   logit'_t = logit_t - [count_t > 0] * value
// It pushes towards new tokens without caring how often an old one came back (for that, see
// frequency_penalty); a negative value encourages repeats instead. The scope is the generated
// tokens (history columns from prompt_length on) or, with scope = "all", the prompt too, limited
// to the last `window` columns when window > 0; padding (history_mask false) never counts.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct PresencePenaltyOptions {
  double value = 0.5;
  std::string scope = "generated";
  std::int64_t window = 0;
};

lmlab::OptionSet<PresencePenaltyOptions> options() {
  return lmlab::OptionSet<PresencePenaltyOptions>{}
      .add("value", &PresencePenaltyOptions::value,
           "subtracted once from the logit of every token that occurs in scope (negative: encourage repeats)")
      .add("scope", &PresencePenaltyOptions::scope,
           "which tokens count: the generated ones only, or the prompt as well", {"generated", "all"})
      .add("window", &PresencePenaltyOptions::window,
           "only the last `window` tokens of the history count (within the scope); 0 = no limit", {.min = 0.0});
}

class PresencePenalty final : public lmlab::DecodingStep {
 public:
  explicit PresencePenalty(const PresencePenaltyOptions& o) : o_(o) {}

  std::string name() const override { return "presence_penalty"; }

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    const std::int64_t length = state.history.defined() ? state.history.size(1) : 0;
    std::int64_t start = o_.scope == "generated" ? std::min(state.prompt_length, length) : 0;
    if (o_.window > 0) start = std::max(start, length - o_.window);
    const at::Tensor counts = lmlab::history_counts(state, start);  // (B, V)
    // Presence only: how often the token occurred does not matter.
    state.logits = logits - (counts > 0).to(logits.scalar_type()) * o_.value;  // (B, V)
  }

  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<PresencePenalty>(*this); }

 private:
  PresencePenaltyOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("presence_penalty",
                             "OpenAI's presence penalty: subtract value from every token seen so far",
                             options(), [](const PresencePenaltyOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<PresencePenalty>(o);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
