// Greedy selection: the most likely next token, ties broken towards the lowest id so that the
// choice never depends on the backend's argmax implementation.
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct GreedyOptions {};

class Greedy final : public lmlab::Cloneable<Greedy> {
 public:
  bool selects() const override { return true; }

  void apply(lmlab::DecodeState& state) override {
    const at::Tensor& logits = state.logits;                                  // (B, V)
    const int64_t vocab = logits.size(-1);
    const at::Tensor best = std::get<0>(logits.max(-1, /*keepdim=*/true));   // (B, 1)
    const at::Tensor ids = at::arange(vocab, logits.options().dtype(at::kLong));  // (V)
    const at::Tensor sentinel = at::full({}, vocab, ids.options());           // ()
    const at::Tensor candidates = at::where(logits == best, ids, sentinel);   // (B, V) id where maximal, else V
    state.chosen = std::get<0>(candidates.min(-1));                           // (B)
  }
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("greedy", "pick the most likely token (ties: the lowest id)",
                             lmlab::OptionSet<GreedyOptions>{},
                             [](const GreedyOptions&, const lmlab::DecodingContext&) {
                               return std::make_shared<Greedy>();
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
