// Frequency and presence penalties (OpenAI's API, "Parameter details" of the text-generation
// guide), two steps registered from one source because they differ in one line: a token that
// occurs in scope has its logit lowered by `value`,
//   frequency_penalty:  logit'_t = logit_t - count_t * value          (once per occurrence)
//   presence_penalty:   logit'_t = logit_t - [count_t > 0] * value    (once, however often)
// Unlike the repetition penalty, frequency pushes a token seen five times down five times as
// hard; presence pushes towards new tokens without caring how often an old one came back. A
// negative value encourages repeats instead. The scope is the generated tokens (history columns
// from prompt_length on) or, with scope = "all", the prompt too, limited to the last `window`
// columns when window > 0; padding (history_mask false) never counts.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct CountPenaltyOptions {
  double value = 0.5;
  std::string scope = "generated";
  std::int64_t window = 0;
};

/// What a token's count in scope costs it: `value` per occurrence, or `value` once.
enum class Charge { per_occurrence, once };

// The two penalties' options differ only in what `value` is said to do.
lmlab::OptionSet<CountPenaltyOptions> options(const char* value_help) {
  return lmlab::OptionSet<CountPenaltyOptions>{}
      .add("value", &CountPenaltyOptions::value, value_help)
      .add("scope", &CountPenaltyOptions::scope,
           "which tokens count: the generated ones only, or the prompt as well", {"generated", "all"})
      .add("window", &CountPenaltyOptions::window,
           "only the last `window` tokens of the history count (within the scope); 0 = no limit", {.min = 0.0});
}

class CountPenalty final : public lmlab::Cloneable<CountPenalty> {
 public:
  CountPenalty(const CountPenaltyOptions& o, Charge charge) : o_(o), charge_(charge) {}

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    const std::int64_t length = state.history.defined() ? state.history.size(1) : 0;
    std::int64_t start = o_.scope == "generated" ? std::min(state.prompt_length, length) : 0;
    if (o_.window > 0) start = std::max(start, length - o_.window);
    const at::Tensor counts = lmlab::history_counts(state, start);  // (B, V)
    // Presence: how often the token occurred does not matter, only that it did.
    const at::Tensor charged = charge_ == Charge::once ? (counts > 0).to(logits.scalar_type()) : counts;  // (B, V)
    state.logits = logits - charged * o_.value;  // (B, V)
  }

 private:
  CountPenaltyOptions o_;
  Charge charge_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>(
      "frequency_penalty", "OpenAI's frequency penalty: subtract value times each token's count so far",
      options("subtracted from a token's logit once per occurrence in scope (negative: encourage repeats)"),
      [](const CountPenaltyOptions& o, const lmlab::DecodingContext&) {
        return std::make_shared<CountPenalty>(o, Charge::per_occurrence);
      });
  r.add<lmlab::DecodingStep>(
      "presence_penalty", "OpenAI's presence penalty: subtract value from every token seen so far",
      options("subtracted once from the logit of every token that occurs in scope (negative: encourage repeats)"),
      [](const CountPenaltyOptions& o, const lmlab::DecodingContext&) {
        return std::make_shared<CountPenalty>(o, Charge::once);
      });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
