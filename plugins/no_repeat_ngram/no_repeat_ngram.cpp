// No-repeat n-gram blocking (Paulus et al. 2018, "A Deep Reinforced Model for Abstractive
// Summarization", sec. 2.5; fairseq's and Hugging Face's no_repeat_ngram_size): a token t is banned
// (logit -inf) when the last n-1 tokens followed by t form an n-gram that already occurs in the
// sequence:
//   logit'_t = -inf  if  exists j: h[j .. j+n-2] = h[L-n+1 .. L-1] and h[j+n-1] = t
// over the whole non-padding history (prompt and generated); n-grams that touch padding (history_mask
// false) never count. n = 1 bans every token already present.
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct NoRepeatNgramOptions {
  std::int64_t size = 3;
};

lmlab::OptionSet<NoRepeatNgramOptions> options() {
  return lmlab::OptionSet<NoRepeatNgramOptions>{}.add(
      "size", &NoRepeatNgramOptions::size, "n: no n-gram may occur twice (1 = no token may occur twice)",
      {.min = 1.0});
}

class NoRepeatNgram final : public lmlab::Cloneable<NoRepeatNgram> {
 public:
  explicit NoRepeatNgram(std::int64_t n) : n_(n) {}

  void apply(lmlab::DecodeState& state) override {
    if (!state.history.defined()) throw std::invalid_argument("no_repeat_ngram needs the token history");
    const at::Tensor& logits = state.logits;    // (B, V)
    const at::Tensor& history = state.history;  // (B, L)
    const std::int64_t length = history.size(1);
    // Fewer than n tokens hold no complete n-gram, so nothing can be repeated yet.
    if (length < n_) return;
    const at::Tensor valid = state.history_mask.defined()
                                 ? state.history_mask
                                 : at::ones_like(history, history.options().dtype(at::kBool));  // (B, L)
    // Every n-gram of the history, one per start position j = 0 .. L-n.
    const at::Tensor grams = history.unfold(1, n_, 1);                  // (B, G, n)
    const at::Tensor grams_valid = valid.unfold(1, n_, 1).all(-1);      // (B, G)
    // What the next token would extend: the last n-1 tokens (none when n = 1, which matches
    // every n-gram, so every present token is banned).
    const at::Tensor suffix = history.narrow(1, length - (n_ - 1), n_ - 1);            // (B, n-1)
    const at::Tensor suffix_valid = valid.narrow(1, length - (n_ - 1), n_ - 1).all(-1, /*keepdim=*/true);  // (B, 1)
    const at::Tensor prefix_match = (grams.narrow(2, 0, n_ - 1) == suffix.unsqueeze(1)).all(-1);  // (B, G)
    const at::Tensor match = prefix_match & grams_valid & suffix_valid;  // (B, G)
    // The token that completed each matching n-gram; non-matching ones go to id 0 with weight 0,
    // so padding ids outside a small vocabulary never index it.
    const at::Tensor last = at::where(match, grams.select(2, n_ - 1), at::zeros({}, history.options()));  // (B, G)
    const at::Tensor hits = at::zeros_like(logits).scatter_add_(1, last, match.to(logits.scalar_type()));  // (B, V)
    const at::Tensor banned = at::full({}, -std::numeric_limits<float>::infinity(), logits.options());   // ()
    state.logits = at::where(hits > 0, banned, logits);  // (B, V)
  }

 private:
  std::int64_t n_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("no_repeat_ngram", "ban every token that would repeat an n-gram of the sequence",
                             options(), [](const NoRepeatNgramOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<NoRepeatNgram>(o.size);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
