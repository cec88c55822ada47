// Byte-pair merging of one pre-tokenised piece: start from its bytes' ids and, while some
// adjacent pair has a merge, merge the pair of lowest rank (the leftmost of equal ones). This is
// what tiktoken and Hugging Face's tokenizers do, and it gives GPT-2's encoder.py's result for
// any merge list learned in order (a merge never outranks the merges that made its parts).
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "vocabulary.hpp"

namespace bpe_plugin {

/// Appends the ids of `piece` (raw bytes, not empty) to `out`.
void merge_piece(const Vocabulary& v, std::string_view piece, std::vector<std::int32_t>& out);

/// Pieces up to this many bytes are merged by a linear scan over their pairs, which beats a heap
/// on the short words text is made of; longer ones (a run of Chinese characters, a long number)
/// use a heap, so that no piece costs time quadratic in its length.
inline constexpr std::size_t linear_merge_limit = 128;

}  // namespace bpe_plugin
