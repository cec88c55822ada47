// Top-k truncation (Fan et al. 2018, "Hierarchical Neural Story Generation"): keep the k largest
// logits of each row and set the others to -inf, so that selection only sees the k most likely
// tokens:  keep(i) = rank(logit_i) < k.
// Ties at the boundary keep exactly k tokens, the lowest ids first (a stable descending sort), so
// the kept set never depends on the backend's topk tie order. k >= V keeps every token.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct TopKOptions {
  std::int64_t k = 40;
};

lmlab::OptionSet<TopKOptions> options() {
  return lmlab::OptionSet<TopKOptions>{}.add("k", &TopKOptions::k, "how many of the largest logits each row keeps",
                                             {.min = 1.0});
}

class TopK final : public lmlab::Cloneable<TopK> {
 public:
  explicit TopK(std::int64_t k) : k_(k) {}

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;  // (B, V)
    const std::int64_t vocab = logits.size(-1);
    if (k_ >= vocab) return;  // every token is among the k largest
    // Stable, so equal logits stay in id order and the lowest ids win a tie at rank k.
    const at::Tensor order = std::get<1>(at::sort(logits, /*stable=*/true, -1, /*descending=*/true));  // (B, V)
    const at::Tensor top = order.narrow(-1, 0, k_);                                  // (B, k) ids of the k largest
    const at::Tensor keep = at::zeros_like(logits, logits.options().dtype(at::kBool))  // (B, V)
                                .scatter_(-1, top, true);
    state.logits = logits.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());  // (B, V)
  }

 private:
  std::int64_t k_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("top_k", "keep the k largest logits (ties: the lowest ids), the rest to -inf",
                             options(), [](const TopKOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<TopK>(o.k);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
