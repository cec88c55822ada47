#include "lmlab/evaluation.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "lmlab/eval_mode.hpp"
#include "lmlab/runtime.hpp"

namespace lmlab {

EvalResult evaluate(Architecture& model, Objective& objective, const at::Tensor& windows, std::int64_t batch_size,
                    const c10::Device& device, bool bf16) {
  EvalModeScope eval_mode(model);
  torch::NoGradGuard no_grad;
  double nll = 0.0, correct = 0.0;
  std::int64_t tokens = 0;
  for (std::int64_t start = 0; start < windows.size(0); start += batch_size) {
    const auto block = windows.slice(0, start, std::min(start + batch_size, windows.size(0))).to(device);  // (b, T+1)
    AutocastScope autocast(device, bf16);
    const LossOutput out = objective.compute(model, block);
    nll += out.nll_sum.item<double>();
    correct += out.correct.item<double>();
    tokens += out.tokens;
  }
  EvalResult r;
  r.tokens = tokens;
  r.loss = tokens ? nll / static_cast<double>(tokens) : 0.0;
  r.perplexity = std::exp(r.loss);
  r.accuracy = tokens ? correct / static_cast<double>(tokens) : 0.0;
  return r;
}

}  // namespace lmlab
