// Minimum length (Hugging Face's MinNewTokensLengthLogitsProcessor; fairseq's min_len): the
// end-of-sequence token is banned until `count` tokens have been generated:
//   logit'_eos = -inf  while  L - prompt_length < count
// where L - prompt_length is the number of history columns after the prompt. Without it a model
// that puts mass on eos early can stop before saying anything.
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/decoding.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct MinNewTokensOptions {
  std::int64_t count = 1;
  std::int64_t eos_id = -1;  // -1: the tokenizer's
};

lmlab::OptionSet<MinNewTokensOptions> options() {
  return lmlab::OptionSet<MinNewTokensOptions>{}
      .add("count", &MinNewTokensOptions::count, "end-of-sequence is banned until this many tokens are generated",
           {.min = 0.0})
      .add("eos_id", &MinNewTokensOptions::eos_id, "the end-of-sequence id; -1: the run's tokenizer's",
           {.min = -1.0});
}

class MinNewTokens final : public lmlab::Cloneable<MinNewTokens> {
 public:
  explicit MinNewTokens(const MinNewTokensOptions& o) : o_(o) {}

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    if (o_.eos_id >= logits.size(1)) {
      throw std::invalid_argument(
          fmt::format("min_new_tokens: eos_id {} is outside the vocabulary of {} ids", o_.eos_id, logits.size(1)));
    }
    // Every row has the same prompt_length (prompts are left-padded), so one count for the batch.
    const std::int64_t generated = state.history.defined() ? state.history.size(1) - state.prompt_length : 0;
    if (generated >= o_.count) return;
    // Out of place: the caller's logits tensor stays as it was.
    state.logits = logits.index_fill(1, at::full({1}, o_.eos_id, logits.options().dtype(at::kLong)),
                                     -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  MinNewTokensOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("min_new_tokens", "ban end-of-sequence until a minimum number of tokens is generated",
                             options(), [](const MinNewTokensOptions& o, const lmlab::DecodingContext& c) {
                               MinNewTokensOptions resolved = o;
                               if (resolved.eos_id < 0) resolved.eos_id = c.eos_id;
                               if (resolved.eos_id < 0) {
                                 throw lmlab::ConfigError(
                                     "min_new_tokens.eos_id: the tokenizer has no end-of-sequence id; set eos_id");
                               }
                               if (c.vocab_size > 0 && resolved.eos_id >= c.vocab_size) {
                                 throw lmlab::ConfigError(fmt::format(
                                     "min_new_tokens.eos_id: {} is outside the vocabulary of {} ids", resolved.eos_id,
                                     c.vocab_size));
                               }
                               return std::make_shared<MinNewTokens>(resolved);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
