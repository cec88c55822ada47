/// Training a SentencePiece model (`lmlab tokenizer train`) on a corpus's training text with the
/// library's own trainer, streaming the text to it sentence by sentence.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace lmlab {

struct SentencePieceTraining {
  std::string corpus = "brown";  // as data.corpus: a folder, a .jsonl, or a name under data/
  std::string type = "unigram";  // unigram | bpe
  std::int64_t vocab_size = 8000;
  std::filesystem::path out;     // <name>.model; <name>.vocab is written beside it
  double character_coverage = 0.9995;
  std::int64_t max_sentences = 0;  // 0: every sentence; else a uniform sample of this many
  // The unigram trainer's EM sums per thread, so its pieces depend on the thread count: fixed
  // here (the library's default) rather than taken from the machine, for the same model everywhere.
  std::int64_t threads = 16;
  std::string normalization = "identity";  // identity (lossless) | nmt_nfkc | nfkc | nmt_nfkc_cf | nfkc_cf
  bool byte_fallback = true;
  bool quiet = true;  // the library's informational log off
};

struct TrainedTokenizer {
  std::int64_t vocab_size = 0;  // the model's pieces
  std::int64_t sentences = 0;   // read from the corpus (before any sampling)
  std::int64_t bytes = 0;       // of those sentences
  double seconds = 0;
  std::filesystem::path model, vocab;
};

/// The pieces lmlab's objectives look for in a model it trained: ids 0-3 are <unk>, <s>, </s>,
/// <pad>; then the user-defined <mask> and <extra_id_0>..<extra_id_99>.
inline constexpr std::int64_t trained_sentinels = 100;

/// Trains and writes `out` and its .vocab, each atomically (a temporary file renamed into place).
/// Same inputs and options give the same bytes. Throws ConfigError for bad options and DataError
/// for a corpus that cannot be read or is too small for the vocabulary, naming what.
TrainedTokenizer train_sentencepiece(const SentencePieceTraining& options);

}  // namespace lmlab
