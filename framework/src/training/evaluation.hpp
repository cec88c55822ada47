/// Held-out evaluation of a model under its objective: loss, perplexity and next-token accuracy.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "lmlab/architecture.hpp"
#include "lmlab/metric.hpp"
#include "lmlab/objective.hpp"

namespace lmlab {

struct EvalResult {
  double loss = 0.0;        // nats per predicted token
  double perplexity = 0.0;  // exp(loss): per byte for the byte tokenizer
  double accuracy = 0.0;    // fraction of predicted tokens whose argmax was right
  std::int64_t tokens = 0;
  std::vector<MetricValue> metrics;  // each validation metric's values, in metric order
};

/// Runs `objective` over `windows` (N, T+1) in batches of `batch_size`, in eval mode without
/// gradients (bf16 autocast when asked); the model's training mode is restored afterwards.
/// Each metric that declares validation values observes every batch whose targets are the
/// block's next tokens (causal, prefix and unlikelihood objectives); for other objectives its
/// values are NaN. Then each metric that declares probe values probes the model once (NaN for
/// a model with an encoder or without a left-to-right path). Values a metric reports but did not declare are dropped (the host's guarded
/// metrics refuse them, naming the plugin).
EvalResult evaluate(Architecture& model, Objective& objective, const at::Tensor& windows, std::int64_t batch_size,
                    const c10::Device& device, bool bf16, const std::vector<Metric*>& metrics = {});

}  // namespace lmlab
