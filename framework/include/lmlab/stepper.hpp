/// Drives a model one token at a time over a batch of rows: the prompts first, then whatever the
/// decoder appends, with the key/value cache (or, for comparison, re-reading the window). Sampling
/// chains and search strategies share it, so the cache, its window refills, left padding and the
/// encoder-decoder's encoded prompt are handled in one place; a search expands and reorders rows.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "lmlab/architecture.hpp"
#include "lmlab/kv_cache.hpp"

namespace lmlab {

struct StepperOptions {
  std::int64_t pad_id = 0;             // fills the left of shorter prompts in the history
  std::int64_t decoder_start_id = -1;  // encoder-decoders: the decoder's first input
  bool use_cache = true;               // false: every forward re-reads the whole window
  bool hidden = false;                 // also return the final hidden states (contrastive search)
  // Time one-token steps on all intra-op threads and on one, and run them the faster way (the
  // host's decode() sets it; see framework/src/generation/step_threads.hpp).
  bool adapt_threads = false;
};

class StepThreads;

/// The model's output at the positions a forward fed.
struct StepOutput {
  at::Tensor logits;     // (R, V) float32, a copy: the last position's next-token logits
  at::Tensor log_probs;  // (R, V) float32, log-softmax of `logits`: the untruncated distribution
  at::Tensor entropy;    // (R) float32, nats, of that distribution
  at::Tensor hidden;     // (R, t, C) when asked: every position fed, the last one is the newest
  std::int64_t fresh = 0;  // how many of the t positions are new (the prompt at first, then 1)
};

class ModelStepper {
 public:
  /// Nothing runs yet. Throws std::invalid_argument for an empty prompt, a model that does not
  /// generate, or an encoder-decoder without decoder_start_id. The caller holds eval mode and
  /// no-grad for the stepper's lifetime.
  ModelStepper(Architecture& model, const std::vector<std::vector<std::int64_t>>& prompts,
               const StepperOptions& options, const c10::Device& device);
  ~ModelStepper();
  ModelStepper(const ModelStepper&) = delete;
  ModelStepper& operator=(const ModelStepper&) = delete;

  /// Runs the model over what is new: the prompts on the first call, the appended token after.
  /// When a row's window would exceed the context, the model re-reads every row's window, that
  /// row's cut to its most recent half context (the windows a no-cache stepper reads too, so
  /// both emit the same ids). Windows are per row, so a row's output never depends on its batch.
  StepOutput forward();
  /// Appends one token per row, (R) int64; exactly one append between forwards.
  void append(const at::Tensor& tokens);
  /// Keeps rows `rows` (R') in that order, repeats allowed: history, cache and pending tokens.
  void select(const at::Tensor& rows);

  std::int64_t rows() const { return history_.size(0); }
  /// (R, L) int64: prompt (left-padded) then the appended tokens.
  const at::Tensor& history() const { return history_; }
  /// (R, L) bool: false at left padding.
  const at::Tensor& history_mask() const { return history_valid_; }
  /// Columns of history() that are prompt, padding included.
  std::int64_t prompt_length() const { return prompt_length_; }
  const c10::Device& device() const { return device_; }
  const KvCache& cache() const { return cache_; }

 private:
  Architecture& model_;
  StepperOptions options_;
  c10::Device device_;
  Capabilities caps_;
  std::int64_t context_ = 0, prompt_length_ = 0;
  // The histories are views of the first L columns of buffers with room to grow (R, capacity),
  // so that appending a token copies one column, not the whole history (see append()).
  at::Tensor history_, history_valid_;    // (R, L)
  at::Tensor decoded_, decoded_valid_;    // (R, Ld) the decoder's own sequence
  at::Tensor history_room_, history_valid_room_, decoded_room_, decoded_valid_room_;  // (R, capacity)
  at::Tensor encoder_tokens_, encoder_valid_;  // (R, S) encoder-decoders
  at::Tensor pending_;                    // (R, 1) appended since the last forward
  KvCache cache_;
  std::vector<std::int64_t> window_start_;  // per row: the first decoded column its model input holds
  bool started_ = false;
  std::unique_ptr<StepThreads> threads_;  // with adapt_threads on a CPU
};

/// Entropy in nats of each row's distribution given its log-probabilities (R, V) -> (R); -inf
/// entries (banned tokens) contribute nothing.
at::Tensor entropy_of(const at::Tensor& log_probs);

}  // namespace lmlab
