/// Where a corpus's text is: a folder of train*.txt / valid*.txt [/ test*.txt] files (several
/// shards a split, taken in name order; train.txt and valid.txt alone as before), or one .jsonl
/// file with a "text" field per line. And the unigram baseline a model must beat.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/token_file.hpp"
#include "experiment/experiment.hpp"

namespace lmlab {

/// A .jsonl corpus's split: documents 0, N, 2N, ... (non-blank lines, counted from 0) are
/// validation text, the rest training text, with N = 100 (1%). Fixed, so that a corpus prepares
/// the same way everywhere.
inline constexpr std::int64_t jsonl_valid_every = 100;

/// The splits of a corpus in the order they are prepared.
inline constexpr const char* split_names[] = {"train", "valid", "test"};

struct CorpusFile {
  int split = 0;     // index into split_names
  std::string name;  // relative to CorpusSource::folder(): "train.txt", "train-003.txt", "web.jsonl"
  std::filesystem::path path;
};

struct CorpusSource {
  std::filesystem::path root;  // the corpus folder, or the .jsonl file
  bool jsonl = false;
  std::vector<CorpusFile> files;  // folders: train shards, valid shards, test shards, each in name order

  /// The folder the files' names start from.
  std::filesystem::path folder() const { return jsonl ? root.parent_path() : root; }
  /// True when a file of split `split` exists (a .jsonl has train and valid).
  bool has_split(int split) const;
};

/// The path data.corpus names: itself when it exists, else <data_dir>/<corpus>. Throws DataError
/// naming both and (for "brown") the script that fetches it when neither exists.
std::filesystem::path corpus_path(const DataSection& data);

/// The corpus at `path` (corpus_path's answer): a folder's shards or a .jsonl. Throws DataError
/// naming the folder and the split without files (and, for "brown", the fetch script).
CorpusSource find_corpus(const std::filesystem::path& path, const DataSection& data);

/// Both of the above.
CorpusSource find_corpus(const DataSection& data);

/// Cross-entropy (nats per token) of `eval` under the add-one-smoothed unigram distribution of
/// `train`: the baseline a model must beat. Counts in chunks, so a memory-mapped train split is
/// never held whole.
double unigram_cross_entropy(const TokenFile& train, const TokenFile& eval, std::int64_t vocab_size);
double unigram_cross_entropy(const at::Tensor& train, const at::Tensor& eval, std::int64_t vocab_size);

}  // namespace lmlab
