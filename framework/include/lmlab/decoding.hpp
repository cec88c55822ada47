/// Decoding plugins: steps that transform next-token logits (warpers) or pick the next token
/// (selectors), composed into an ordered chain that is itself a step.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace lmlab {

class SearchStrategy;

struct DecodingContext {
  std::int64_t vocab_size = 0;
};

/// What a step sees for one decoding position of a batch of sequences.
struct DecodeState {
  at::Tensor logits;   // (B, V) float32, warpers change it in place or replace it
  at::Tensor history;       // (B, L) int64, prompt followed by the tokens generated so far
  at::Tensor history_mask;  // (B, L) bool, false at the left padding of prompts shorter than the longest
  std::int64_t prompt_length = 0;  // columns of `history` that are prompt (padding included)
  at::Tensor chosen;   // (B) int64, set by the selection step
  std::vector<at::Generator>* rngs = nullptr;  // one stream per sequence, for sampling
};

/// How often each id occurs in history columns [start, L) of each sequence, padding
/// (history_mask false) not counted: (B, V) in the logits' dtype. The common ground of the
/// repetition, frequency and presence penalties. A pad id outside the vocabulary is fine: it is
/// never indexed.
at::Tensor history_counts(const DecodeState& state, std::int64_t start);

/// The interface every decoding step implements (after llama.cpp's sampler chain).
class DecodingStep {
 public:
  static constexpr std::string_view kind = "decoding";
  using Context = DecodingContext;

  virtual ~DecodingStep();

  virtual std::string name() const = 0;
  /// Transform state.logits, or (for a selector) set state.chosen.
  virtual void apply(DecodeState& state) = 0;
  /// True for steps that pick the token; a chain ends with exactly one of them.
  virtual bool selects() const { return false; }
  /// Forget per-sequence state before a new batch of prompts.
  virtual void reset() {}
  /// A fresh copy with the same options and state.
  virtual std::shared_ptr<DecodingStep> clone() const = 0;
  /// The search strategy this step is (beam, contrastive), or null for a warper or selector.
  virtual SearchStrategy* search() { return nullptr; }
};

/// An ordered chain of steps; validates that it ends in one selector (or search strategy).
class DecodingChain final : public DecodingStep {
 public:
  explicit DecodingChain(std::vector<std::shared_ptr<DecodingStep>> steps);
  std::string name() const override;
  void apply(DecodeState& state) override;
  bool selects() const override { return true; }
  void reset() override;
  std::shared_ptr<DecodingStep> clone() const override;
  /// The last step's search strategy, if it is one.
  SearchStrategy* search() override { return steps_.back()->search(); }
  /// Every step but the last (the selector or search): what a search applies to each row.
  void process(DecodeState& state);
  const std::vector<std::shared_ptr<DecodingStep>>& steps() const { return steps_; }

 private:
  std::vector<std::shared_ptr<DecodingStep>> steps_;
};

}  // namespace lmlab
