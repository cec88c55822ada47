/// Objective plugins: turn a block of tokens into a training loss for a model.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lmlab/architecture.hpp"

namespace lmlab {

class Tokenizer;

class Objective;

/// The target id of a logits position that predicts nothing (at::cross_entropy's default).
inline constexpr std::int64_t ignore_index = -100;

/// One of a composite objective's tasks, built by the host from [objective.<name>].
struct NamedObjective {
  std::string name;
  std::shared_ptr<Objective> objective;
};

/// What the host gives an objective when it builds one.
struct ObjectiveContext {
  std::int64_t vocab_size = 0;          // of the model: at least the tokenizer's
  const Tokenizer* tokenizer = nullptr;  // the run's; its special() ids are the ones to use (pad, bos, mask, sentinels)
  std::vector<NamedObjective> tasks;  // a composite objective's tasks, in the order `tasks` lists them
};

/// A named term of the loss (mle, ul, ...), unweighted, as the trainer logs it: train/loss.<name>.
struct LossComponent {
  std::string name;
  at::Tensor value;  // ()
};

/// One batch's result: the loss to minimise and the counts the trainer logs.
struct LossOutput {
  at::Tensor loss;     // () mean loss over predicted tokens, what backward() is called on
  at::Tensor nll_sum;  // () summed negative log-likelihood of the predicted tokens (for perplexity)
  at::Tensor correct;  // () number of predicted tokens whose argmax was right
  std::int64_t tokens = 0;  // number of predicted tokens
  at::Tensor logits;   // (B, T, V) kept for regularisers that read them (z-loss, label smoothing)
  at::Tensor targets;  // (B, T) the id each logits position predicts, ignore_index where none
  std::vector<LossComponent> components;  // the named terms of `loss`, for the run file
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

  /// The names of the LossOutput::components this objective reports (the run file gets a
  /// train/loss.<name> column for each); reporting one not declared here is an error.
  virtual std::vector<std::string> components() const;
};

}  // namespace lmlab
