/// Decoding plugins: steps that transform next-token logits (warpers) or pick the next token
/// (selectors), composed into an ordered chain that is itself a step.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace lmlab {

class Registry;
class SearchStrategy;

struct DecodingContext {
  std::int64_t vocab_size = 0;
  std::int64_t eos_id = -1;  // the run's tokenizer's end of sequence; -1: none
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

  /// The name the step was registered under: the registry records it in every step it builds,
  /// so a plugin writes its name once, in its registration. A step whose name is not one
  /// registered name (a chain, a wrapper) overrides it.
  virtual std::string name() const { return registered_name_; }
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

 private:
  friend class Registry;  // records registered_name_ in each step its decoding factories build
  std::string registered_name_;
};

/// The base a decoding step derives from so that it writes neither name() nor clone():
///   class TopK final : public lmlab::Cloneable<TopK> { ... };
///   class Beam final : public lmlab::Cloneable<Beam, lmlab::SearchStrategy> { ... };
/// clone() copies the step with Derived's copy constructor, options and state alike (and the
/// registered name with them). That suffices while a step holds plain values; one holding
/// tensors overrides clone() to copy them deeply, or a clone and its original would share (and
/// corrupt) each other's state: start from the copy, `auto c = std::make_shared<X>(*this);`, so
/// the clone keeps the registered name, then replace its tensors with `.clone()`s. name() is
/// DecodingStep's: the registered name.
template <class Derived, class Base = DecodingStep>
class Cloneable : public Base {
  static_assert(std::is_base_of_v<DecodingStep, Base>, "Cloneable's Base is DecodingStep or one derived from it");

 public:
  using Base::Base;

  std::shared_ptr<DecodingStep> clone() const override {
    static_assert(std::is_base_of_v<Cloneable, Derived>, "use as class Derived : public Cloneable<Derived>");
    return std::make_shared<Derived>(static_cast<const Derived&>(*this));
  }
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
