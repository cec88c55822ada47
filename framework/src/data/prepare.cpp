#include "data/prepare.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <sched.h>

#include <fmt/format.h>

#include "build_info.hpp"
#include "data/corpus_chunks.hpp"
#include "lmlab/error.hpp"
#include "util/format.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

using PrepareClock = std::chrono::steady_clock;

int encoding_threads(int requested) {
  if (requested > 0) return requested;
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
  return std::clamp(cpus, 1, 8);
}

// Progress lines for long work: nothing during the first quiet_seconds, then one every 5 s.
class PrepareProgress {
 public:
  PrepareProgress(std::ostream* out, double quiet_seconds, std::uint64_t total)
      : out_(out), quiet_(quiet_seconds), total_(total), start_(PrepareClock::now()), last_(start_) {}

  void update(std::uint64_t done) {
    if (out_ == nullptr) return;
    const auto now = PrepareClock::now();
    const double elapsed = seconds(start_, now);
    if (elapsed < quiet_ || (printed_ && seconds(last_, now) < 5.0)) return;
    last_ = now;
    printed_ = true;
    const double rate = static_cast<double>(done) / std::max(elapsed, 1e-9);
    const double left = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0.0;
    *out_ << fmt::format("prepare: {:.1f} of {:.1f} MB ({:.0f}%), {:.1f} MB/s, ETA {}\n", done / 1e6, total_ / 1e6,
                         total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0,
                         rate / 1e6, format_duration(left))
          << std::flush;
  }
  double elapsed() const { return seconds(start_, PrepareClock::now()); }

 private:
  static double seconds(PrepareClock::time_point a, PrepareClock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }
  std::ostream* out_;
  double quiet_;
  std::uint64_t total_;
  PrepareClock::time_point start_, last_;
  bool printed_ = false;
};

struct EncodedChunk {
  int split = 0;
  std::string packed;
  std::uint64_t source_bytes_done = 0;
};

EncodedChunk encode_chunk(const Tokenizer& tokenizer, const TextChunk& chunk, TokenDtype dtype, std::int64_t vocab,
                          const std::string& what) {
  const std::vector<std::int64_t> ids = tokenizer.encode(chunk.text);
  return {chunk.split, pack_ids(ids, dtype, vocab, what), chunk.source_bytes_done};
}

std::uint64_t corpus_bytes(const CorpusSource& corpus) {
  std::uint64_t total = 0;
  for (const auto& file : corpus.files) total += stat_source(file.path, file.name).size;
  return total;
}

// "train.txt" or "train-0.txt, train-1.txt", for messages.
std::string split_files(const CorpusSource& corpus, int split) {
  std::string names;
  for (const auto& file : corpus.files) {
    if (corpus.jsonl || file.split == split)
      names += (names.empty() ? "" : ", ") + (corpus.folder() / file.name).string();
  }
  return names;
}

}  // namespace

TokenManifest prepare_corpus(const CorpusSource& corpus, const Tokenizer& tokenizer, const fs::path& folder,
                             const PrepareOptions& options) {
  TokenManifest manifest;
  manifest.lmlab_version = build_info::version;
  manifest.tokenizer_identity = tokenizer.identity();
  manifest.vocab_size = tokenizer.vocab_size();
  manifest.dtype = dtype_for_vocab(manifest.vocab_size);
  manifest.corpus = fs::absolute(corpus.root).lexically_normal().string();
  manifest.corpus_kind = corpus.jsonl ? "jsonl" : "folder";
  manifest.valid_every = corpus.jsonl ? jsonl_valid_every : 0;
  manifest.chunk_bytes = static_cast<std::int64_t>(options.chunk_bytes);
  const std::string what = fmt::format("tokenizer {}", manifest.tokenizer_identity);

  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw DataError(fmt::format("cannot create prepared-corpus folder {}: {}", folder.string(), ec.message()));
  fs::remove(folder / token_manifest_name, ec);  // from here on the folder holds no complete preparation
  if (ec) throw DataError(fmt::format("cannot remove {}: {}", (folder / token_manifest_name).string(), ec.message()));

  const std::uint64_t total = corpus_bytes(corpus);
  if (options.log != nullptr) {
    *options.log << fmt::format("preparing corpus {} ({:.1f} MB) with tokenizer {} into {}\n", corpus.root.string(),
                                total / 1e6, manifest.tokenizer_identity, folder.string());
  }
  std::optional<TokenFileWriter> writers[3];
  for (int s = 0; s < 3; ++s) {
    if (corpus.has_split(s)) writers[s].emplace(folder / (std::string(split_names[s]) + ".tokens"), manifest.dtype);
  }
  PrepareProgress progress(options.progress, options.quiet_seconds, total);
  const auto write = [&](EncodedChunk&& encoded) {
    writers[encoded.split]->append_packed(encoded.packed);
    progress.update(encoded.source_bytes_done);
  };
  // At most `threads` chunks encode at once; they are written in the order they were read.
  const auto threads = static_cast<std::size_t>(encoding_threads(options.threads));
  std::deque<std::future<EncodedChunk>> in_flight;
  manifest.sources = read_corpus_chunks(corpus, options.chunk_bytes, [&](TextChunk&& chunk) {
    if (threads == 1) return write(encode_chunk(tokenizer, chunk, manifest.dtype, manifest.vocab_size, what));
    auto shared = std::make_shared<TextChunk>(std::move(chunk));
    in_flight.push_back(std::async(std::launch::async, [&tokenizer, &manifest, &what, shared] {
      return encode_chunk(tokenizer, *shared, manifest.dtype, manifest.vocab_size, what);
    }));
    while (in_flight.size() >= threads) {
      write(in_flight.front().get());
      in_flight.pop_front();
    }
  });
  for (; !in_flight.empty(); in_flight.pop_front()) write(in_flight.front().get());

  for (int s = 0; s < 3; ++s) {
    if (!writers[s]) continue;
    if (writers[s]->count() == 0 && s < 2) {
      throw DataError(fmt::format("corpus {}: the {} split is empty (no tokens from {})", corpus.root.string(),
                                  split_names[s], split_files(corpus, s)));
    }
    writers[s]->publish();
    manifest.splits.push_back({split_names[s], std::string(split_names[s]) + ".tokens", writers[s]->count()});
  }
  write_token_manifest(folder / token_manifest_name, manifest);
  if (options.log != nullptr) {
    *options.log << fmt::format("prepared {} tokens ({}) in {:.1f} s\n", manifest.splits.front().tokens,
                                dtype_name(manifest.dtype), progress.elapsed());
  }
  return manifest;
}

}  // namespace lmlab
