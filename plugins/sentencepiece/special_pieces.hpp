// Which ids of a SentencePiece model play lmlab's special roles, and what is appended after the
// model's own pieces for the roles it lacks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lmlab/tokenizer.hpp"

namespace lmlab_sentencepiece {

class Model;

struct SpecialPieces {
  lmlab::SpecialIds ids;
  std::int64_t model_size = 0;         // the model's own pieces: ids 0..model_size-1
  std::vector<std::string> appended;   // the names of ids model_size, model_size+1, ...
};

/// The model's own unk/bos/eos/pad, <mask> and <extra_id_0..n-1> where it has them; the others
/// (and a whole block of `sentinels` when the model's own block is shorter or not contiguous)
/// appended in the order pad, bos, eos, mask, sentinels. Ordinary ids are the longest run of
/// normal pieces (`piece_types`, model_proto.hpp; not control, unknown, user-defined, unused or
/// byte ones, nor special). A non-empty `bos_piece` names the model's piece that plays bos instead
/// (T5's <pad>). Throws lmlab::DataError naming `file` when the model has no text pieces or no
/// such bos piece.
SpecialPieces find_special_pieces(const Model& sp, const std::vector<int>& piece_types, std::int64_t sentinels,
                                  const std::string& bos_piece, const std::string& file);

}  // namespace lmlab_sentencepiece
