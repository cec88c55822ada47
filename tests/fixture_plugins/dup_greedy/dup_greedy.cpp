// A well-formed plugin that registers a decoding step under a built-in's name ("greedy"):
// loading it beside the built-ins must fail naming both libraries.
#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct Options {};

class FirstToken final : public lmlab::DecodingStep {
 public:
  std::string name() const override { return "greedy"; }
  bool selects() const override { return true; }
  void apply(lmlab::DecodeState& state) override {
    state.chosen = at::zeros({state.logits.size(0)}, at::kLong);  // (B)
  }
  std::shared_ptr<lmlab::DecodingStep> clone() const override { return std::make_shared<FirstToken>(*this); }
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("greedy", "always token 0 (a clash for tests)", lmlab::OptionSet<Options>{},
                             [](const Options&, const lmlab::DecodingContext&) {
                               return std::make_shared<FirstToken>();
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
