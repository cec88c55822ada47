/// Metric plugins: measurements taken at every evaluation, of the continuations each decoding
/// configuration generated (repetition, diversity) or of the model's teacher-forced next-token
/// predictions on validation text. A metric declares the values it reports; the host computes
/// generation metrics twice, on model tokens and on whitespace words (papers report words), and
/// writes every value to the run file under its declared name. Definitions: docs/metrics.md.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lmlab {

struct MetricContext {
  std::int64_t vocab_size = 0;  // of the model
};

/// One decoding configuration's continuations, in one unit. Ids are model token ids, or, for
/// words, indices into a vocabulary of the whitespace-separated words of these texts (and their
/// prompts), numbered in order of first appearance.
struct GeneratedText {
  std::string unit;                                       // "tokens" or "words"
  std::vector<std::vector<std::int64_t>> prompts;         // one per prompt
  std::vector<std::vector<std::int64_t>> continuations;   // the best continuation of each prompt, generated ids only
  std::int64_t vocab_size = 0;                            // every id is below it
};

/// One batch of teacher-forced predictions on validation text, on the model's device.
struct Predictions {
  at::Tensor inputs;   // (B, T) int64, the tokens the model read
  at::Tensor targets;  // (B, T) int64, the next token at each position (ignore_index: none)
  at::Tensor logits;   // (B, T, V) float, the model's next-token logits
};

/// The model under evaluation, for metrics that feed it inputs of their own (probes, such as Xu et
/// al. 2022's repeated sentences), in eval mode without gradients. Only models that read left to
/// right without an encoder are probed (causal and prefix decoders, the latter with no prefix).
struct ModelProbe {
  /// (B, T) int64 token ids -> (B, T, V) float logits of each next token, on the model's device.
  /// Valid only during the probe() call it is passed to: it refers to the host's model.
  std::function<at::Tensor(const at::Tensor&)> next_token_logits;
  at::Tensor text;                  // (N, T+1) int64, the fixed validation windows, on the CPU
  std::int64_t context_length = 0;  // the longest row next_token_logits takes
};

/// A value a metric reports.
struct MetricValue {
  std::string name;  // one of the names the metric declared
  double value = 0.0;
};

/// The interface every metric implements. A metric takes part in generation, in validation, or
/// both: it declares the value names of each (empty: it does not take part).
class Metric {
 public:
  static constexpr std::string_view kind = "metric";
  using Context = MetricContext;

  virtual ~Metric();

  /// The names generated() reports, e.g. {"seq_rep_1", ..., "seq_rep_4"}.
  virtual std::vector<std::string> generation_values() const;
  /// Values over one configuration's continuations, in one unit.
  virtual std::vector<MetricValue> generated(const GeneratedText& text);

  /// The names predicted() reports.
  virtual std::vector<std::string> validation_values() const;
  /// Called before the first batch of each evaluation.
  virtual void reset();
  /// One batch of validation predictions; accumulate.
  virtual void observe(const Predictions& batch);
  /// The values over every batch observed since reset().
  virtual std::vector<MetricValue> predicted();

  /// The names probe() reports (written beside the validation values, under /eval).
  virtual std::vector<std::string> probe_values() const;
  /// Values from inputs the metric builds itself, once per evaluation. Models that cannot be
  /// probed (an encoder, no left-to-right path) get NaN for every declared name instead.
  virtual std::vector<MetricValue> probe(const ModelProbe& model);
};

/// `values` in the order of `declared`, NaN for a declared name the metric did not report (the
/// run file then keeps one column per declared name at every evaluation). Names not declared are
/// dropped; the host's guarded metrics refuse them before this.
std::vector<MetricValue> in_declared_order(const std::vector<std::string>& declared,
                                           const std::vector<MetricValue>& values);

}  // namespace lmlab
