#include "data/corpus.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lmlab/error.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

std::string fetch_hint(const DataSection& data) {
  return data.corpus == "brown" ? " (run ./scripts/fetch-brown from the repository root to download it)" : "";
}

bool is_jsonl(const fs::path& path) {
  std::error_code ec;
  return path.extension() == ".jsonl" && fs::is_regular_file(path, ec);
}

// "train.txt", "train-00.txt", "train_b.txt": the split's prefix and .txt.
int split_of(const std::string& name) {
  if (name.size() < 4 || name.compare(name.size() - 4, 4, ".txt") != 0) return -1;
  for (int s = 0; s < 3; ++s) {
    if (name.rfind(split_names[s], 0) == 0) return s;
  }
  return -1;
}

}  // namespace

bool CorpusSource::has_split(int split) const {
  return std::any_of(files.begin(), files.end(),
                     [&](const CorpusFile& f) { return jsonl ? split < 2 : f.split == split; });
}

fs::path corpus_path(const DataSection& data) {
  std::error_code ec;
  if (fs::is_directory(data.corpus, ec) || is_jsonl(data.corpus)) return data.corpus;
  const fs::path named = fs::path(data.data_dir) / data.corpus;
  if (fs::is_directory(named, ec) || is_jsonl(named)) return named;
  throw DataError(fmt::format("corpus folder {} does not exist (data.corpus = \"{}\", data.data_dir = \"{}\"){}",
                              named.string(), data.corpus, data.data_dir, fetch_hint(data)));
}

CorpusSource find_corpus(const fs::path& path, const DataSection& data) {
  CorpusSource source;
  source.root = path;
  if (is_jsonl(path)) {
    source.jsonl = true;
    source.files.push_back({0, path.filename().string(), path});
    return source;
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    const int split = split_of(name);
    if (split >= 0 && entry.is_regular_file(ec)) source.files.push_back({split, name, entry.path()});
  }
  if (ec) throw DataError(fmt::format("cannot list corpus folder {}: {}", path.string(), ec.message()));
  std::sort(source.files.begin(), source.files.end(), [](const CorpusFile& a, const CorpusFile& b) {
    return a.split != b.split ? a.split < b.split : a.name < b.name;
  });
  for (const int split : {0, 1}) {
    if (!source.has_split(split)) {
      const std::string file = std::string(split_names[split]) + ".txt";
      throw DataError(fmt::format("corpus folder {} has no {} ({} is missing, and no {}*.txt shards){}", path.string(),
                                  file, (path / file).string(), split_names[split], fetch_hint(data)));
    }
  }
  return source;
}

CorpusSource find_corpus(const DataSection& data) { return find_corpus(corpus_path(data), data); }

namespace {

// Add-one counts of `tokens`, read a million ids at a time.
std::vector<double> unigram_counts(const TokenFile& tokens, std::int64_t vocab_size, const char* what) {
  std::vector<double> counts(static_cast<std::size_t>(vocab_size), 1.0);
  constexpr std::int64_t block = 1 << 20;
  std::vector<std::int64_t> ids(static_cast<std::size_t>(std::min(block, std::max<std::int64_t>(tokens.size(), 1))));
  for (std::int64_t start = 0; start < tokens.size(); start += block) {
    const std::int64_t n = std::min(block, tokens.size() - start);
    tokens.copy(start, n, ids.data());
    tokens.release(start, n);
    for (std::int64_t i = 0; i < n; ++i) {
      if (ids[i] >= vocab_size) {
        throw DataError(
            fmt::format("unigram baseline: the {} split holds id {}, outside 0..{}", what, ids[i], vocab_size - 1));
      }
      counts[static_cast<std::size_t>(ids[i])] += 1.0;
    }
  }
  return counts;
}

}  // namespace

double unigram_cross_entropy(const TokenFile& train, const TokenFile& eval, std::int64_t vocab_size) {
  if (vocab_size <= 0) throw DataError("unigram baseline: vocabulary size must be positive");
  if (eval.size() == 0) throw DataError("unigram baseline: the evaluation split is empty");
  // Add-one smoothing keeps tokens unseen in train (a byte only in valid) at a finite cost.
  const std::vector<double> train_counts = unigram_counts(train, vocab_size, "training");
  const std::vector<double> eval_counts = unigram_counts(eval, vocab_size, "evaluation");
  const double log_total = std::log(static_cast<double>(train.size() + vocab_size));
  double nats = 0.0;
  for (std::size_t id = 0; id < eval_counts.size(); ++id) {
    if (eval_counts[id] > 1.0) nats += (eval_counts[id] - 1.0) * (log_total - std::log(train_counts[id]));
  }
  return nats / static_cast<double>(eval.size());
}

double unigram_cross_entropy(const at::Tensor& train, const at::Tensor& eval, std::int64_t vocab_size) {
  return unigram_cross_entropy(TokenFile::from_tensor(train), TokenFile::from_tensor(eval), vocab_size);
}

}  // namespace lmlab
