/// Windows of a token stream: random ones for training (from a generator whose state the
/// checkpoint carries), fixed ones for evaluation, and generation prompts.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace lmlab {

class WindowSampler {
 public:
  /// Windows of `window` tokens from `tokens` (N) int64; throws DataError if N < window.
  WindowSampler(at::Tensor tokens, std::int64_t window, std::uint64_t seed);

  /// `batch` windows at uniformly random offsets: (batch, window).
  at::Tensor next(std::int64_t batch);

  at::Generator& generator() { return generator_; }

 private:
  at::Tensor tokens_;
  std::int64_t window_;
  at::Generator generator_;
};

/// `count` windows at evenly spaced offsets covering the stream: (count, window).
at::Tensor fixed_windows(const at::Tensor& tokens, std::int64_t window, std::int64_t count);

/// `count` prompts of `length` tokens at evenly spaced places, each moved to just after the next
/// newline (a paragraph start) when one is near, else to the next word.
std::vector<std::vector<std::int64_t>> prompt_windows(const at::Tensor& tokens, std::int64_t count,
                                                      std::int64_t length);

}  // namespace lmlab
