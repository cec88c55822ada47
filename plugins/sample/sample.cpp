// Ancestral sampling: one draw per sequence from the softmax of its (already warped) logits.
// Each row draws from its own generator in state.rngs, so a sequence's samples depend only on
// its seed and index, never on the other sequences in its batch.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct SampleOptions {};

class Sample final : public lmlab::Cloneable<Sample> {
 public:
  bool selects() const override { return true; }

  void apply(lmlab::DecodeState& state) override {
    const int64_t batch = state.logits.size(0);
    if (!state.rngs || static_cast<int64_t>(state.rngs->size()) != batch) {
      throw std::invalid_argument(fmt::format("sample needs one generator per sequence: {} sequences, {} generators",
                                              batch, state.rngs ? state.rngs->size() : 0));
    }
    // The generators are CPU generators, so the draw happens on the CPU whatever the model's device.
    const at::Tensor probs = at::softmax(state.logits.to(at::kFloat), -1).cpu();  // (B, V)
    std::vector<int64_t> ids(static_cast<std::size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) {
      const auto row = static_cast<std::size_t>(i);
      ids[row] = at::multinomial(probs[i], 1, /*replacement=*/false, (*state.rngs)[row]).item<int64_t>();
    }
    const at::Tensor chosen = at::tensor(ids, at::kLong);  // (B)
    state.chosen = chosen.to(state.logits.device());  // (B)
  }
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("sample", "draw the token from the softmax of the logits, one stream per sequence",
                             lmlab::OptionSet<SampleOptions>{},
                             [](const SampleOptions&, const lmlab::DecodingContext&) {
                               return std::make_shared<Sample>();
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
