// Nucleus (top-p) sampling (Holtzman et al. 2020, "The Curious Case of Neural Text
// Degeneration", section 3.1): sort each row's probabilities descending and keep the smallest
// prefix whose cumulative mass reaches p; the token whose probability crosses p is kept:
//   keep(token at sorted rank j) = sum_{i < j} p_(i) < p.
// Rank 0 always passes (its preceding mass is 0 < p), so at least one token survives (min_keep = 1).
// Equal probabilities are ranked lowest id first (a stable sort). p = 1 keeps every token rather
// than letting rounding in the cumulative sum drop the tail.
#include <limits>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct TopPOptions {
  double p = 0.9;
};

lmlab::OptionSet<TopPOptions> options() {
  return lmlab::OptionSet<TopPOptions>{}.add(
      "p", &TopPOptions::p, "the probability mass kept: the smallest most-likely set reaching it",
      {.min = 0.0, .max = 1.0, .exclusive_min = true});
}

class TopP final : public lmlab::Cloneable<TopP> {
 public:
  explicit TopP(double p) : p_(p) {}

  void apply(lmlab::DecodeState& state) override {
    if (p_ >= 1.0) return;
    const at::Tensor& logits = state.logits;  // (B, V)
    // Double precision, so the running sums of many small probabilities round as little as possible.
    const at::Tensor probs = at::softmax(logits.to(at::kDouble), -1);  // (B, V)
    auto [sorted, order] = at::sort(probs, /*stable=*/true, -1, /*descending=*/true);  // (B, V), (B, V)
    const at::Tensor before = at::cumsum(sorted, -1) - sorted;  // (B, V) mass of the more likely tokens
    const at::Tensor keep_sorted = before < p_;                 // (B, V) in sorted order
    const at::Tensor keep = at::zeros_like(keep_sorted).scatter_(-1, order, keep_sorted);  // (B, V) in id order
    state.logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  double p_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("top_p", "nucleus sampling: keep the most likely tokens up to probability mass p",
                             options(), [](const TopPOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<TopP>(o.p);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
