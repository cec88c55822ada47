// Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture", section 7;
// Müller et al. 2019, "When Does Label Smoothing Help?"): the one-hot target y is mixed with the
// uniform distribution u over the V ids, q = (1 - epsilon) y + epsilon u, and the loss is the
// cross-entropy with q. Since H(q, p) = (1 - epsilon) CE(y, p) + epsilon H(u, p), the objective's
// own cross-entropy stays and this plugin adds only the difference,
//   term = epsilon * mean over predicted positions of (H(u, p) - CE(y, p)),
//   H(u, p) = -(1/V) sum_v log p_v,
// so that objective + term is the label-smoothed cross-entropy. It keeps the model from pushing
// the target's logit ever further from the others, which improves calibration.
#include <algorithm>
#include <memory>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lmlab/objective.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

struct LabelSmoothingOptions {
  double epsilon = 0.1;
};

lmlab::OptionSet<LabelSmoothingOptions> options() {
  return lmlab::OptionSet<LabelSmoothingOptions>{}.add(
      "epsilon", &LabelSmoothingOptions::epsilon,
      "probability mass moved from the target to the uniform distribution (Szegedy et al.: 0.1)",
      {.min = 0.0, .max = 1.0, .exclusive_max = true});
}

class LabelSmoothing final : public lmlab::Regulariser {
 public:
  explicit LabelSmoothing(double epsilon) : epsilon_(epsilon) {}

  at::Tensor extra_loss(const lmlab::LossOutput& out, lmlab::Architecture&) override {
    // An objective that keeps no logits or no targets leaves nothing to smooth.
    if (!out.logits.defined() || !out.targets.defined()) return {};
    if (out.logits.dim() < 2 || out.targets.sizes() != out.logits.sizes().slice(0, out.logits.dim() - 1)) {
      throw std::invalid_argument(fmt::format("label_smoothing: targets of shape {} do not match logits of shape {}",
                                              fmt::join(out.targets.sizes(), "x"), fmt::join(out.logits.sizes(), "x")));
    }
    const std::int64_t V = out.logits.size(-1);
    const at::Tensor log_p = at::log_softmax(lmlab::at_least_float(out.logits).reshape({-1, V}), -1);  // (N, V)
    const at::Tensor targets = out.targets.reshape({-1});                                              // (N)
    const at::Tensor predicted = targets.ne(lmlab::ignore_index);                                      // (N)
    // Ignored positions read id 0 here and are masked out below: gather needs a valid index.
    const at::Tensor safe = targets.masked_fill(predicted.logical_not(), 0).unsqueeze(1);  // (N, 1)
    const at::Tensor ce = -log_p.gather(1, safe).squeeze(1);                               // (N) CE(y, p)
    const at::Tensor uniform = -log_p.mean(-1);                                            // (N) H(u, p)
    const at::Tensor difference = (uniform - ce).masked_fill(predicted.logical_not(), 0.0);  // (N)
    // Counted on the device, so no host sync; a batch that predicts nothing adds 0, not 0 / 0.
    const at::Tensor count = predicted.sum().clamp_min(1).to(difference.scalar_type());  // ()
    return epsilon_ * difference.sum() / count;                                          // ()
  }

 private:
  double epsilon_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Regulariser>(
      "label_smoothing",
      "label smoothing: the cross-entropy against (1 - epsilon) one-hot + epsilon uniform, added as "
      "epsilon * (H(u, p) - CE)",
      options(),
      [](const LabelSmoothingOptions& o, const lmlab::RegulariserContext&) {
        return std::make_shared<LabelSmoothing>(o.epsilon);
      },
      {.hooks = {.extra_loss = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
