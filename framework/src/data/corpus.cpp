#include "data/corpus.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmlab/error.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

std::string fetch_hint(const DataSection& data) {
  return data.corpus == "brown" ? " (run ./scripts/fetch-brown from the repository root to download it)" : "";
}

std::string read_whole(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError("cannot open corpus file " + file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError("cannot read corpus file " + file.string());
  return text;
}

at::Tensor tokenize_file(const fs::path& file, const ByteTokenizer& tokenizer) {
  const std::vector<std::int64_t> ids = tokenizer.encode(read_whole(file));
  // from_blob borrows the vector's memory, so the clone gives the tensor its own storage.
  return at::from_blob(const_cast<std::int64_t*>(ids.data()), {static_cast<std::int64_t>(ids.size())},
                       at::TensorOptions().dtype(at::kLong))
      .clone();
}

}  // namespace

fs::path corpus_folder(const DataSection& data) {
  std::error_code ec;
  const fs::path folder = fs::is_directory(data.corpus, ec) ? fs::path(data.corpus) : fs::path(data.data_dir) / data.corpus;
  if (!fs::is_directory(folder, ec)) {
    throw DataError("corpus folder " + folder.string() + " does not exist (data.corpus = \"" + data.corpus +
                    "\", data.data_dir = \"" + data.data_dir + "\")" + fetch_hint(data));
  }
  for (const char* name : {"train.txt", "valid.txt"}) {
    if (!fs::is_regular_file(folder / name, ec)) {
      throw DataError("corpus folder " + folder.string() + " has no " + name + " (" + (folder / name).string() +
                      " is missing)" + fetch_hint(data));
    }
  }
  return folder;
}

Corpus load_corpus(const DataSection& data, const ByteTokenizer& tokenizer) {
  Corpus corpus;
  corpus.folder = corpus_folder(data);
  corpus.train = tokenize_file(corpus.folder / "train.txt", tokenizer);
  corpus.valid = tokenize_file(corpus.folder / "valid.txt", tokenizer);
  for (const auto& [name, tensor] : {std::pair{"train.txt", &corpus.train}, std::pair{"valid.txt", &corpus.valid}}) {
    if (tensor->numel() == 0) throw DataError("corpus file " + (corpus.folder / name).string() + " is empty");
  }
  std::error_code ec;
  const fs::path test = corpus.folder / "test.txt";
  corpus.test = fs::is_regular_file(test, ec) ? tokenize_file(test, tokenizer) : at::empty({0}, at::kLong);
  return corpus;
}

double unigram_cross_entropy(const at::Tensor& train, const at::Tensor& eval, std::int64_t vocab_size) {
  if (vocab_size <= 0) throw DataError("unigram baseline: vocabulary size must be positive");
  if (eval.numel() == 0) throw DataError("unigram baseline: the evaluation split is empty");
  const at::Tensor train_ids = train.to(at::kCPU, at::kLong).reshape({-1});
  const at::Tensor eval_ids = eval.to(at::kCPU, at::kLong).reshape({-1});
  for (const auto* ids : {&train_ids, &eval_ids}) {
    if (ids->numel() > 0 && (ids->min().item<std::int64_t>() < 0 || ids->max().item<std::int64_t>() >= vocab_size)) {
      throw DataError("unigram baseline: token ids outside 0.." + std::to_string(vocab_size - 1));
    }
  }
  // Add-one smoothing keeps tokens unseen in train (a byte only in valid) at a finite cost.
  const at::Tensor counts = train_ids.numel() > 0 ? at::bincount(train_ids, {}, vocab_size).to(at::kDouble)
                                                  : at::zeros({vocab_size}, at::kDouble);
  const at::Tensor log_probs = (counts + 1.0).log() - std::log(static_cast<double>(train_ids.numel() + vocab_size));
  return -log_probs.index_select(0, eval_ids).mean().item<double>();
}

}  // namespace lmlab
