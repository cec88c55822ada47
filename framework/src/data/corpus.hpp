/// A corpus as token streams: train, validation and (optionally) test text, tokenized whole.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "experiment/experiment.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

struct Corpus {
  std::filesystem::path folder;
  at::Tensor train;  // (N_train) int64 token ids
  at::Tensor valid;  // (N_valid)
  at::Tensor test;   // (N_test), empty when the corpus has no test split
};

/// The folder a [data] section names: `corpus` itself when it is a folder, else
/// <data_dir>/<corpus>. Throws DataError naming the folder and what is missing (and, for
/// "brown", the script that fetches it).
std::filesystem::path corpus_folder(const DataSection& data);

/// Reads train.txt, valid.txt and test.txt (if present) from the corpus folder and tokenizes them.
Corpus load_corpus(const DataSection& data, const ByteTokenizer& tokenizer);

/// Cross-entropy (nats per token) of `eval` under the add-one-smoothed unigram distribution of
/// `train`: the baseline a model must beat.
double unigram_cross_entropy(const at::Tensor& train, const at::Tensor& eval, std::int64_t vocab_size);

}  // namespace lmlab
