#include "lmlab/repetition.hpp"

#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <unordered_set>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace lmlab {

at::Tensor ngram_repeat_mask(const at::Tensor& tokens, std::int64_t n) {
  if (n < 1) throw std::invalid_argument(fmt::format("ngram_repeat_mask: n must be >= 1, got {}", n));
  if (!tokens.defined() || tokens.dim() != 2) {
    throw std::invalid_argument(fmt::format("ngram_repeat_mask needs (B, L) token ids, got shape {}",
                                            tokens.defined() ? fmt::format("{}", fmt::join(tokens.sizes(), "x"))
                                                             : std::string("undefined")));
  }
  if (at::isFloatingType(tokens.scalar_type()) || at::isComplexType(tokens.scalar_type()) ||
      tokens.scalar_type() == at::kBool) {
    throw std::invalid_argument(
        fmt::format("ngram_repeat_mask needs integer token ids, got dtype {}", c10::toString(tokens.scalar_type())));
  }
  // Sequences are at most a few hundred tokens: a pass over each row on the CPU costs far less
  // than the forward that produced them, and is exact where a vectorised rolling hash could
  // collide.
  const at::Tensor ids = tokens.to(at::kCPU, at::kLong).contiguous();  // (B, L)
  const std::int64_t rows = ids.size(0), length = ids.size(1);
  at::Tensor mask = at::zeros({rows, length}, at::kBool);  // (B, L)
  if (length < n) return mask.to(tokens.device());
  bool* marked = mask.data_ptr<bool>();
  const std::int64_t* data = ids.data_ptr<std::int64_t>();
  const auto bytes = static_cast<std::size_t>(n) * sizeof(std::int64_t);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t* row = data + r * length;
    // Each n-gram is keyed by a view of its own bytes in the row: equality compares the ids
    // exactly, so a hash collision can never mark a token that was not repeated.
    std::unordered_set<std::string_view> seen;
    seen.reserve(static_cast<std::size_t>(length - n + 1));
    for (std::int64_t j = 0; j + n <= length; ++j) {
      const std::string_view gram(reinterpret_cast<const char*>(row + j), bytes);
      // Looked up before it is inserted, so an n-gram is a repeat only of strictly earlier starts,
      // overlapping ones included.
      if (!seen.insert(gram).second) std::fill_n(marked + r * length + j, n, true);
    }
  }
  return mask.to(tokens.device());
}

NgramCounter::NgramCounter(std::size_t n) : n_(n) {
  if (n == 0) throw std::invalid_argument("NgramCounter: n must be >= 1, got 0");
}

void NgramCounter::add(std::span<const std::int64_t> ids) {
  if (ids.size() < n_) return;
  const std::size_t count = ids.size() - n_ + 1;
  for (std::size_t i = 0; i < count; ++i) distinct_.emplace(ids.begin() + i, ids.begin() + i + n_);
  total_ += count;
}

}  // namespace lmlab
