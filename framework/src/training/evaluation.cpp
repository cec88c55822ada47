#include "training/evaluation.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "nn/eval_mode.hpp"
#include "training/runtime.hpp"

namespace lmlab {

EvalResult evaluate(Architecture& model, Objective& objective, const at::Tensor& windows, std::int64_t batch_size,
                    const c10::Device& device, bool bf16, const std::vector<Metric*>& metrics) {
  EvalModeScope eval_mode(model);
  torch::NoGradGuard no_grad;
  double nll = 0.0, correct = 0.0;
  std::int64_t tokens = 0;
  std::vector<Metric*> validating;
  for (Metric* m : metrics) {
    if (!m->validation_values().empty()) validating.push_back(m);
  }
  for (Metric* m : validating) m->reset();
  bool observed = false;
  for (std::int64_t start = 0; start < windows.size(0); start += batch_size) {
    const auto block = windows.slice(0, start, std::min(start + batch_size, windows.size(0))).to(device);  // (b, T+1)
    AutocastScope autocast(device, bf16);
    const LossOutput out = objective.compute(model, block);
    if (!validating.empty() && out.logits.defined() && out.targets.defined() &&
        out.targets.size(1) == block.size(1) - 1) {
      // The targets are the block's next tokens, so the block's first T columns are what the
      // model read before each of them.
      const Predictions batch{block.narrow(1, 0, out.targets.size(1)), out.targets, out.logits};
      for (Metric* m : validating) m->observe(batch);
      observed = true;
    }
    nll += out.nll_sum.item<double>();
    correct += out.correct.item<double>();
    tokens += out.tokens;
  }
  EvalResult r;
  r.tokens = tokens;
  r.loss = tokens ? nll / static_cast<double>(tokens) : 0.0;
  r.perplexity = std::exp(r.loss);
  r.accuracy = tokens ? correct / static_cast<double>(tokens) : 0.0;
  for (Metric* m : validating) {
    for (auto& v : in_declared_order(m->validation_values(), observed ? m->predicted() : std::vector<MetricValue>{})) {
      r.metrics.push_back(std::move(v));
    }
  }
  // Probes feed the model rows of their own, read left to right: a prefix decoder with no prefix
  // is causal, while an encoder (or an encoder-only model) has no such reading.
  const bool probing = std::any_of(metrics.begin(), metrics.end(), [](Metric* m) { return !m->probe_values().empty(); });
  if (!probing) return r;
  const Capabilities caps = model.capabilities();
  const bool probeable = caps.generates && !caps.has_encoder;
  ModelProbe probe;
  probe.text = windows.cpu();  // (N, T+1)
  probe.context_length = model.context_length();
  probe.next_token_logits = [&](const at::Tensor& tokens) {
    ModelInput input;
    input.tokens = tokens.to(device);  // (B, T)
    if (caps.prefix) input.prefix_lengths = at::zeros({tokens.size(0)}, tokens.options().device(device));  // (B)
    AutocastScope autocast(device, bf16);
    return model.forward(input).logits.to(at::kFloat);  // (B, T, V)
  };
  for (Metric* m : metrics) {
    if (m->probe_values().empty()) continue;
    for (auto& v : in_declared_order(m->probe_values(), probeable ? m->probe(probe) : std::vector<MetricValue>{})) {
      r.metrics.push_back(std::move(v));
    }
  }
  return r;
}

}  // namespace lmlab
