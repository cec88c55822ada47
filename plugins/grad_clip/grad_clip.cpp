// Gradient clipping before each optimizer step, so that a rare huge gradient cannot throw the
// optimizer off. By global norm (Pascanu et al. 2013): all gradients are rescaled together, which
// keeps their direction. By value: each element is clamped to [-max_value, max_value], which
// changes the direction but bounds every coordinate's step.
#include <memory>
#include <string>
#include <vector>

// clip_grad.h uses torch::Tensor without including its declaration.
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>

#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

struct GradClipOptions {
  std::string mode = "norm";
  double max_norm = 1.0;
  double max_value = 1.0;
};

lmlab::OptionSet<GradClipOptions> options() {
  return lmlab::OptionSet<GradClipOptions>{}
      .add("mode", &GradClipOptions::mode, "norm: rescale to a global L2 norm; value: clamp each element",
           {"norm", "value"})
      .add("max_norm", &GradClipOptions::max_norm, "largest global L2 norm of the gradients (mode = \"norm\")",
           {.min = 0.0, .exclusive_min = true})
      .add("max_value", &GradClipOptions::max_value, "largest magnitude of any gradient element (mode = \"value\")",
           {.min = 0.0, .exclusive_min = true});
}

class GradClip final : public lmlab::Regulariser {
 public:
  explicit GradClip(GradClipOptions o) : o_(std::move(o)) {}

  void before_step(lmlab::Architecture& model, const lmlab::StepInfo&) override {
    if (o_.mode == "norm") {
      torch::nn::utils::clip_grad_norm_(model.parameters(), o_.max_norm);
    } else {
      torch::nn::utils::clip_grad_value_(model.parameters(), o_.max_value);
    }
  }

 private:
  GradClipOptions o_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Regulariser>(
      "grad_clip", "clip the gradients (global norm or each value) before each optimizer step", options(),
      [](const GradClipOptions& o, const lmlab::RegulariserContext&) { return std::make_shared<GradClip>(o); },
      {.hooks = {.before_step = true}});
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
