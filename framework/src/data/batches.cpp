#include "data/batches.hpp"

#include <algorithm>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

WindowSampler::WindowSampler(TokenFile tokens, std::int64_t window, std::uint64_t seed)
    : tokens_(std::move(tokens)), window_(window), generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
  if (tokens_.size() < window_) {
    throw DataError(
        fmt::format("the training split has {} tokens, fewer than one window of {} "
                    "(data.block_size + 1); lower data.block_size or use a larger corpus",
                    tokens_.size(), window_));
  }
}

WindowSampler::WindowSampler(const at::Tensor& tokens, std::int64_t window, std::uint64_t seed)
    : WindowSampler(TokenFile::from_tensor(tokens), window, seed) {}

at::Tensor WindowSampler::next(std::int64_t batch) {
  const std::int64_t last_start = tokens_.size() - window_;
  // The draw that sampling from an int64 tensor made before token files: the same generator
  // state gives the same windows, so checkpoints of earlier runs resume unchanged.
  const auto starts = at::randint(0, last_start + 1, {batch, 1}, generator_, at::kLong);  // (B, 1)
  return tokens_.windows(starts, window_);                                                // (B, W)
}

at::Tensor fixed_windows(const TokenFile& tokens, std::int64_t window, std::int64_t count) {
  const std::int64_t last_start = tokens.size() - window;
  if (last_start < 0) {
    throw DataError(
        fmt::format("the validation split has {} tokens, fewer than one window of {} "
                    "(data.block_size + 1); lower data.block_size or use a larger corpus",
                    tokens.size(), window));
  }
  const auto starts = at::linspace(0, static_cast<double>(last_start), count, at::kDouble).to(at::kLong);
  return tokens.windows(starts, window);  // (count, W)
}

at::Tensor fixed_windows(const at::Tensor& tokens, std::int64_t window, std::int64_t count) {
  return fixed_windows(TokenFile::from_tensor(tokens), window, count);
}

std::vector<std::vector<std::int64_t>> prompt_windows(const TokenFile& tokens, std::int64_t count, std::int64_t length,
                                                      std::span<const std::int64_t> newline_ids,
                                                      std::span<const std::int64_t> space_ids) {
  std::vector<std::vector<std::int64_t>> prompts;
  const std::int64_t n = tokens.size();
  if (count <= 0 || n < length) return prompts;
  const auto is_in = [](std::span<const std::int64_t> set, std::int64_t id) {
    return std::find(set.begin(), set.end(), id) != set.end();
  };
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t spot = (n - length) * i / count;
    // The ids the search below may look at: [spot - 1, spot + 4 * length), within the stream.
    const std::int64_t from = std::max<std::int64_t>(spot - 1, 0);
    const std::int64_t to = std::min(n, spot + 4 * length);
    std::vector<std::int64_t> near(static_cast<std::size_t>(to - from));
    tokens.copy(from, to - from, near.data());
    const auto id = [&](std::int64_t j) { return near[static_cast<std::size_t>(j - from)]; };
    std::int64_t start = spot, word_start = -1;
    for (std::int64_t j = spot; j + length <= n && j < spot + 4 * length; ++j) {
      if (j > 0 && is_in(newline_ids, id(j - 1))) {
        start = j;
        word_start = -1;
        break;
      }
      if (word_start < 0 && j > 0 && is_in(space_ids, id(j - 1))) word_start = j;
    }
    if (start == spot && word_start >= 0) start = word_start;
    std::vector<std::int64_t> prompt(static_cast<std::size_t>(length));
    tokens.copy(start, length, prompt.data());
    prompts.push_back(std::move(prompt));
  }
  return prompts;
}

std::vector<std::vector<std::int64_t>> prompt_windows(const at::Tensor& tokens, std::int64_t count,
                                                      std::int64_t length) {
  const std::int64_t newline[] = {'\n'}, space[] = {' '};
  return prompt_windows(TokenFile::from_tensor(tokens), count, length, newline, space);
}

std::vector<std::int64_t> prompt_space_ids(const Tokenizer& tokenizer) {
  std::vector<std::int64_t> ids = tokenizer.encode(" ");
  if (ids.size() != 1) ids.clear();
  return ids;
}

}  // namespace lmlab
