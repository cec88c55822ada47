// What lmlab reads of a model file's ModelProto straight from protobuf's wire format, since the
// library's calls do not tell it and Debian ships no header for the message: the model type and
// each piece's type.
#pragma once
#include <string>
#include <vector>

namespace lmlab_sentencepiece {

/// SentencePiece's piece types (ModelProto.SentencePiece.Type).
enum PieceType { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct ModelFacts {
  bool bpe = false;              // trainer_spec.model_type == BPE (unigram, word and char: false)
  std::vector<int> piece_types;  // one per piece, in id order; empty when the bytes do not parse
};

/// Never throws: bytes the library loaded parse; anything else gives empty facts.
ModelFacts read_model_facts(const std::string& bytes);

}  // namespace lmlab_sentencepiece
