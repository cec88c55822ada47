// Encoding a long text a part at a time with the ids the library gives the whole text. The
// library's BPE slows down on long texts (a 4 MB text at a quarter of the speed of the same text
// in 16 KB parts), so prepare's multi-megabyte chunks are cut at line breaks and the parts encoded
// one by one. BPE only: a unigram model's Viterbi path sums float scores from the text's start,
// and between tied segmentations ("5" "55" or "55" "5") the rounding of that sum picks, so parts
// can differ from the whole text (169 of 1.27M ids on Brown); unigram texts are encoded whole.
#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

namespace lmlab_sentencepiece {

class Model;

class PartEncoder {
 public:
  /// Probes `model`: parts are used only for a BPE model where they give exactly the whole
  /// text's ids.
  PartEncoder(const Model& model, bool bpe);

  /// The library's ids of `text`. Throws lmlab::Error with the library's message.
  std::vector<int> encode(std::string_view text) const;

  /// Whether parts are used (false for unigram models and those whose normaliser rewrites line breaks).
  bool splits() const { return dummy_ >= 0; }

  static constexpr std::size_t part_bytes = 16 * 1024;

 private:
  std::vector<int> whole(std::string_view text) const;
  std::vector<int> in_parts(std::string_view text, std::size_t part) const;

  const Model& model_;
  int dummy_ = -1;  // the id of "▁", the dummy prefix the library puts before every text
};

}  // namespace lmlab_sentencepiece
