// Gradient clipping: rescales all gradients together so that their global L2 norm is at most
// max_norm, which keeps a rare huge gradient from throwing the optimizer off.
#include <memory>
#include <vector>

// clip_grad.h uses torch::Tensor without including its declaration.
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>

#include "lmlab/plugin.hpp"
#include "lmlab/regulariser.hpp"

namespace {

struct GradClipOptions {
  double max_norm = 1.0;
};

lmlab::OptionSet<GradClipOptions> options() {
  return lmlab::OptionSet<GradClipOptions>{}
      .add("max_norm", &GradClipOptions::max_norm, "largest global L2 norm of the gradients",
           {.min = 0.0, .exclusive_min = true});
}

class GradClip final : public lmlab::Regulariser {
 public:
  explicit GradClip(double max_norm) : max_norm_(max_norm) {}

  void after_backward(lmlab::Architecture& model) override {
    torch::nn::utils::clip_grad_norm_(model.parameters(), max_norm_);
  }

 private:
  double max_norm_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Regulariser>("grad_clip", "clip the global gradient norm before each optimizer step", options(),
                            [](const GradClipOptions& o, const lmlab::RegulariserContext&) {
                              return std::make_shared<GradClip>(o.max_norm);
                            });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
