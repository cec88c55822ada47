/// Search strategies: the decoding steps that end a chain by driving the model themselves (beam
/// search, contrastive search) instead of picking one token from one position's logits. The
/// chain's earlier steps still apply, to every row's logits, before the search scores them.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Generator.h>

#include "lmlab/decoding.hpp"
#include "lmlab/stepper.hpp"

namespace lmlab {

/// One generated continuation of a prompt.
struct Continuation {
  std::vector<std::int64_t> tokens;  // generated ids, eos included when it was emitted
  std::vector<double> entropy;       // nats: the model's untruncated next-token distribution at each generated position
  double logprob = 0.0;              // sum of log p(token) under that untruncated distribution
  double score = 0.0;                // what the strategy ranked by (beam: length-penalised); else logprob
};

/// What a search is given: the prompts loaded into a stepper (not yet run; with hidden states
/// when needs_hidden()), and the rest of the chain.
struct SearchInput {
  ModelStepper& model;
  /// The chain's steps before the search, in order, applied to a DecodeState's logits; never
  /// empty (the identity when the chain has none).
  std::function<void(DecodeState&)> process;
  std::int64_t max_new_tokens = 0;
  std::int64_t eos_id = -1;  // -1: no sequence ends before max_new_tokens
  std::vector<at::Generator>* rngs = nullptr;  // one per prompt (a search that expands rows gives its processors none)
};

class SearchStrategy : public DecodingStep {
 public:
  ~SearchStrategy() override;
  bool selects() const final { return true; }
  /// A search is never applied to one position: throws std::logic_error.
  void apply(DecodeState& state) final;
  SearchStrategy* search() final { return this; }
  /// True when run() reads StepOutput::hidden (contrastive search); the stepper asks the model
  /// for hidden states only then.
  virtual bool needs_hidden() const { return false; }
  /// One list per prompt, best first: beam search's n-best, one continuation otherwise. Runs
  /// in the caller's eval mode and no-grad scope.
  virtual std::vector<std::vector<Continuation>> run(SearchInput& input) = 0;
};

}  // namespace lmlab
