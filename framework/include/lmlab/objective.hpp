/// Objective plugins: turn a block of tokens into a training loss for a model.
#pragma once
#include <cstdint>
#include <string_view>

#include <ATen/core/Tensor.h>

#include "lmlab/architecture.hpp"

namespace lmlab {

class ByteTokenizer;

/// What the host gives an objective when it builds one.
struct ObjectiveContext {
  std::int64_t vocab_size = 0;
  const ByteTokenizer* tokenizer = nullptr;
};

/// One batch's result: the loss to minimise and the counts the trainer logs.
struct LossOutput {
  at::Tensor loss;     // () mean loss over predicted tokens, what backward() is called on
  at::Tensor nll_sum;  // () summed negative log-likelihood of the predicted tokens (for perplexity)
  at::Tensor correct;  // () number of predicted tokens whose argmax was right
  std::int64_t tokens = 0;  // number of predicted tokens
  at::Tensor logits;   // (B, T, V) kept for regularisers that read them (z-loss)
};

/// Logits in at least float32 for the loss: bf16 and fp16 are upcast (their softmax loses too much),
/// float64 stays as it is, so that gradient tests can use exact finite differences.
inline at::Tensor at_least_float(const at::Tensor& logits) {
  const bool reduced = logits.scalar_type() == at::kHalf || logits.scalar_type() == at::kBFloat16;
  return reduced ? logits.to(at::kFloat) : logits;
}

/// The interface every objective implements.
class Objective {
 public:
  static constexpr std::string_view kind = "objective";
  using Context = ObjectiveContext;

  virtual ~Objective();

  /// Loss of `model` on `block`, a (B, T+1) slice of the token stream: the objective decides
  /// which part is input and which is target. Random choices use LibTorch's default generator,
  /// whose state checkpoints carry.
  virtual LossOutput compute(Architecture& model, const at::Tensor& block) = 0;
};

}  // namespace lmlab
