// PaLM's auxiliary z-loss (Chowdhery et al. 2022, section 5): coefficient * log^2 Z, with Z the
// softmax normaliser of each position's logits, averaged over positions. It keeps log Z near 0,
// so the logits cannot drift to large magnitudes, which PaLM found made training more stable.
#include <memory>

#include <ATen/ATen.h>

#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

struct ZLossOptions {
  double coefficient = 1e-4;
};

lmlab::OptionSet<ZLossOptions> options() {
  return lmlab::OptionSet<ZLossOptions>{}.add("coefficient", &ZLossOptions::coefficient,
                                               "weight of mean(log^2 Z) in the loss (PaLM: 1e-4)", {.min = 0.0});
}

class ZLoss final : public lmlab::Regulariser {
 public:
  explicit ZLoss(double coefficient) : coefficient_(coefficient) {}

  at::Tensor extra_loss(const lmlab::LossOutput& out, lmlab::Architecture&) override {
    if (!out.logits.defined()) return {};
    const at::Tensor log_z = at::logsumexp(lmlab::at_least_float(out.logits), -1);  // (B, T)
    return coefficient_ * log_z.pow(2).mean();                              // ()
  }

 private:
  double coefficient_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Regulariser>("z_loss", "PaLM's z-loss: coefficient * mean(log^2 Z) of the logits' normaliser",
                            options(), [](const ZLossOptions& o, const lmlab::RegulariserContext&) {
                              return std::make_shared<ZLoss>(o.coefficient);
                            },
                            {.hooks = {.extra_loss = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
