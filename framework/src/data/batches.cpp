#include "data/batches.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"

namespace lmlab {

WindowSampler::WindowSampler(at::Tensor tokens, std::int64_t window, std::uint64_t seed)
    : tokens_(std::move(tokens)), window_(window), generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
  if (tokens_.numel() < window_) {
    throw DataError(fmt::format("the training split has {} tokens, fewer than one window of {} "
                                "(data.block_size + 1); lower data.block_size or use a larger corpus",
                                tokens_.numel(), window_));
  }
}

at::Tensor WindowSampler::next(std::int64_t batch) {
  const std::int64_t last_start = tokens_.numel() - window_;
  auto starts = at::randint(0, last_start + 1, {batch, 1}, generator_, at::kLong);  // (B, 1)
  auto index = starts + at::arange(window_, at::kLong).unsqueeze(0);              // (B, W)
  return tokens_.index_select(0, index.flatten()).view({batch, window_});          // (B, W)
}

at::Tensor fixed_windows(const at::Tensor& tokens, std::int64_t window, std::int64_t count) {
  const std::int64_t last_start = tokens.numel() - window;
  if (last_start < 0) {
    throw DataError(fmt::format("the validation split has {} tokens, fewer than one window of {} "
                                "(data.block_size + 1); lower data.block_size or use a larger corpus",
                                tokens.numel(), window));
  }
  auto starts = at::linspace(0, static_cast<double>(last_start), count, at::kDouble).to(at::kLong).unsqueeze(1);
  auto index = starts + at::arange(window, at::kLong).unsqueeze(0);         // (count, W)
  return tokens.index_select(0, index.flatten()).view({count, window});     // (count, W)
}

std::vector<std::vector<std::int64_t>> prompt_windows(const at::Tensor& tokens, std::int64_t count,
                                                      std::int64_t length) {
  std::vector<std::vector<std::int64_t>> prompts;
  const std::int64_t n = tokens.numel();
  if (count <= 0 || n < length) return prompts;
  const auto* ids = tokens.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t spot = (n - length) * i / count;
    std::int64_t start = spot, word_start = -1;
    for (std::int64_t j = spot; j + length <= n && j < spot + 4 * length; ++j) {
      if (j > 0 && ids[j - 1] == '\n') {
        start = j;
        word_start = -1;
        break;
      }
      if (word_start < 0 && j > 0 && ids[j - 1] == ' ') word_start = j;
    }
    if (start == spot && word_start >= 0) start = word_start;
    prompts.emplace_back(ids + start, ids + start + length);
  }
  return prompts;
}

}  // namespace lmlab
