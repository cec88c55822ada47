/// Next-token prediction, the loss that causal_lm is and that the unlikelihood objectives add
/// their penalties to: a (B, T+1) block gives T (input, target) pairs shifted by one position,
/// the model reads the inputs, and the logits at each position are scored against its target.
/// The pieces are separate so that an objective can add a term to the same forward (its loss),
/// or score the logits its own way (its nll_sum), and still report what causal_lm reports.
#pragma once
#include <cstdint>
#include <string_view>

#include <ATen/core/Tensor.h>

#include "lmlab/architecture.hpp"
#include "lmlab/objective.hpp"

namespace lmlab {

/// The model's next-token predictions on one block.
struct NextTokenPrediction {
  at::Tensor input;   // (B, T) the block less its last column, what the model read
  at::Tensor target;  // (B, T) the block less its first column, the token each position predicts
  at::Tensor logits;  // (B, T, V) at least float32
};

/// Throws std::invalid_argument, naming `objective`, unless `block` is (B, T+1) with T >= 1.
void check_next_token_block(const at::Tensor& block, std::string_view objective);

/// The model's logits `raw` in at least float32 (at_least_float: a log-softmax over the
/// vocabulary loses too much in bf16). Throws std::invalid_argument, naming `objective`, unless
/// they are (B, T, vocab_size).
at::Tensor next_token_logits(const at::Tensor& raw, std::int64_t vocab_size, std::string_view objective);

/// Checks `block`, splits it into inputs and targets, and runs `model` on the inputs.
NextTokenPrediction predict_next_tokens(Architecture& model, const at::Tensor& block, std::int64_t vocab_size,
                                        std::string_view objective);

/// What a next-token objective reports for `prediction`: `loss` to minimise, the summed negative
/// log-likelihood `nll_sum` of the targets (stored detached), the count of targets and of right
/// argmaxes, and the logits with their targets for regularisers. No components.
LossOutput next_token_output(const NextTokenPrediction& prediction, const at::Tensor& nll_sum, const at::Tensor& loss);

/// The mean next-token cross-entropy of `model` on `block`, a (B, T+1) slice of the token
/// stream: causal_lm's loss. Errors name `objective`.
LossOutput next_token_loss(Architecture& model, const at::Tensor& block, std::int64_t vocab_size,
                           std::string_view objective);

}  // namespace lmlab
