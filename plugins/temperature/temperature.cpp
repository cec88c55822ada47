// Temperature: divides the next-token logits by T before selection. T < 1 sharpens the
// distribution towards the argmax, T > 1 flattens it towards uniform; greedy is unaffected.
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "lmlab/decoding.hpp"
#include "lmlab/plugin.hpp"

namespace {

struct TemperatureOptions {
  double value = 1.0;
};

lmlab::OptionSet<TemperatureOptions> options() {
  return lmlab::OptionSet<TemperatureOptions>{}
      .add("value", &TemperatureOptions::value, "the temperature T; logits are divided by it",
           {.min = 0.0, .exclusive_min = true});
}

class Temperature final : public lmlab::Cloneable<Temperature> {
 public:
  explicit Temperature(double value) : value_(value) {}

  void apply(lmlab::DecodeState& state) override {
    state.logits = state.logits / value_;  // (B, V)
  }

 private:
  double value_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::DecodingStep>("temperature", "divide the logits by a temperature T (T < 1 sharper, T > 1 flatter)",
                             options(), [](const TemperatureOptions& o, const lmlab::DecodingContext&) {
                               return std::make_shared<Temperature>(o.value);
                             });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
