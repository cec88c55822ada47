/// Repetition in token sequences: which tokens belong to an n-gram that already occurred earlier
/// in the same sequence, the quantity sequence-level unlikelihood training penalises and the
/// seq-rep-n family of metrics measures (Welleck et al., ICLR 2020, section 5).
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace lmlab {

/// (B, L) bool, on the device of `tokens` (B, L) integer ids: true at every position j..j+n-1
/// of an n-gram starting at j whose same n tokens also start at some i < j of the same row.
/// Occurrences may overlap ([a a a a a], n = 2 marks positions 1..4); a row shorter than n has
/// no n-gram and nothing marked. Throws std::invalid_argument for n < 1 or tokens that are not
/// a 2-d integer tensor.
at::Tensor ngram_repeat_mask(const at::Tensor& tokens, std::int64_t n);

}  // namespace lmlab
