/// Windows of a token stream: random ones for training (from a generator whose state the
/// checkpoint carries), fixed ones for evaluation, and generation prompts. The streams are token
/// files (data/token_file.hpp), memory-mapped or held in memory; the tensor forms wrap a tensor
/// in one and give the same windows.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "data/token_file.hpp"

namespace lmlab {

class WindowSampler {
 public:
  /// Windows of `window` tokens from `tokens`; throws DataError if it holds fewer than `window`.
  WindowSampler(TokenFile tokens, std::int64_t window, std::uint64_t seed);
  /// The same for a (N) integer tensor.
  WindowSampler(const at::Tensor& tokens, std::int64_t window, std::uint64_t seed);

  /// `batch` windows at uniformly random offsets: (batch, window) int64. The offsets are one
  /// at::randint draw on generator(), so a restored generator state replays the same windows.
  at::Tensor next(std::int64_t batch);

  at::Generator& generator() { return generator_; }

 private:
  TokenFile tokens_;
  std::int64_t window_;
  at::Generator generator_;
};

/// `count` windows at evenly spaced offsets covering the stream: (count, window).
at::Tensor fixed_windows(const TokenFile& tokens, std::int64_t window, std::int64_t count);
at::Tensor fixed_windows(const at::Tensor& tokens, std::int64_t window, std::int64_t count);

/// `count` prompts of `length` tokens at evenly spaced places, each moved to just after the next
/// newline id (a paragraph start) when one is near, else to just after the next space id (a
/// word start). Byte-level text: newline_ids {'\n'}, space_ids {' '}; from a tokenizer:
/// Tokenizer::newline_ids() and prompt_space_ids().
std::vector<std::vector<std::int64_t>> prompt_windows(const TokenFile& tokens, std::int64_t count, std::int64_t length,
                                                      std::span<const std::int64_t> newline_ids,
                                                      std::span<const std::int64_t> space_ids);
/// Byte-level ids in a tensor.
std::vector<std::vector<std::int64_t>> prompt_windows(const at::Tensor& tokens, std::int64_t count,
                                                      std::int64_t length);

class Tokenizer;
/// The id a lone space encodes to, when it encodes to exactly one; else none.
std::vector<std::int64_t> prompt_space_ids(const Tokenizer& tokenizer);

}  // namespace lmlab
