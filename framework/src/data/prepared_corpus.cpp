#include "data/prepared_corpus.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "data/corpus_chunks.hpp"
#include "lmlab/error.hpp"

namespace lmlab {

namespace fs = std::filesystem;

namespace {

// Held while a preparation is checked or written, so that the runs of a sweep that start
// together prepare a corpus once: the others wait, then find it ready.
class PrepareLock {
 public:
  PrepareLock(const fs::path& folder, std::ostream* log) {
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) {
      throw DataError(
          fmt::format("cannot create prepared-corpus folder {}: {}; for a corpus in a read-only place, "
                      "prepare it elsewhere (lmlab prepare --corpus ... --out DIR) and set data.corpus = "
                      "DIR",
                      folder.string(), ec.message()));
    }
    fd_ = ::open((folder / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw DataError(fmt::format("cannot create {}: {}", (folder / ".lock").string(), std::strerror(errno)));
    }
    // A file system without locks (some network ones) leaves the folder unguarded, as before.
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) return;
    if (log != nullptr)
      *log << fmt::format("waiting for another process preparing {}\n", folder.string()) << std::flush;
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~PrepareLock() { ::close(fd_); }
  PrepareLock(const PrepareLock&) = delete;
  PrepareLock& operator=(const PrepareLock&) = delete;

 private:
  int fd_ = -1;
};

std::string tokenizer_name(const std::string& identity) {
  std::string name = identity.substr(0, identity.find(':'));
  name.erase(
      std::remove_if(name.begin(), name.end(),
                     [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'); }),
      name.end());
  return name.empty() ? "tokenizer" : name.substr(0, 40);
}

std::string short_digest(const std::string& sha) { return sha.substr(0, 12); }

// The differences of the source files; appends to `out`.
void source_differences(TokenManifest& manifest, const CorpusSource& corpus, std::vector<std::string>& out,
                        bool* refreshed) {
  std::map<std::string, SourceRecord*> recorded;
  for (auto& s : manifest.sources) recorded[s.path] = &s;
  std::map<std::string, const CorpusFile*> present;
  for (const auto& f : corpus.files) present[f.name] = &f;
  for (const auto& [name, record] : recorded) {
    if (present.count(name) == 0) out.push_back(fmt::format("source {} is gone", name));
  }
  for (const auto& [name, file] : present) {
    const auto it = recorded.find(name);
    if (it == recorded.end()) {
      out.push_back(fmt::format("source {} is new", name));
      continue;
    }
    SourceRecord& record = *it->second;
    const SourceRecord now = stat_source(file->path, name);
    if (now.size == record.size && now.mtime_ns == record.mtime_ns) continue;
    const std::string sha = file_sha256(file->path);
    if (sha != record.sha256) {
      out.push_back(fmt::format("source {} changed ({} bytes, SHA-256 {}..., now {} bytes, {}...)", name, record.size,
                                short_digest(record.sha256), now.size, short_digest(sha)));
    } else {
      record.size = now.size;
      record.mtime_ns = now.mtime_ns;
      if (refreshed != nullptr) *refreshed = true;
    }
  }
}

// Rewrites a manifest whose source times were brought up to date; a read-only folder only costs
// a rehash on the next run.
void save_refreshed(const fs::path& folder, const TokenManifest& manifest) {
  try {
    write_token_manifest(folder / token_manifest_name, manifest);
  } catch (const DataError&) {
  }
}

[[noreturn]] void refuse(const fs::path& folder, const std::string& corpus, const std::string& differences,
                         const Tokenizer& tokenizer) {
  throw DataError(fmt::format(
      "the prepared corpus in {} does not match this run: {}. Prepare it again: lmlab prepare --corpus {} --tokenizer "
      "{} --force (with the experiment's [tokenizer] options as --set tokenizer.KEY=VALUE), or delete {} and the next "
      "run prepares it",
      folder.string(), differences, corpus, tokenizer_name(tokenizer.identity()), folder.string()));
}

bool holds_text_splits(const fs::path& folder) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".txt") == 0 &&
        (name.rfind("train", 0) == 0 || name.rfind("valid", 0) == 0)) {
      return true;
    }
  }
  return false;
}

}  // namespace

fs::path prepared_cache_folder(const CorpusSource& corpus, const Tokenizer& tokenizer) {
  const std::string identity = tokenizer.identity();
  const fs::path base = corpus.jsonl ? corpus.folder() / "prepared" / corpus.root.filename() : corpus.root / "prepared";
  return base / (tokenizer_name(identity) + "-" + short_digest(text_sha256(identity)));
}

std::string manifest_differences(TokenManifest& manifest, const CorpusSource* corpus, const Tokenizer& tokenizer,
                                 const PrepareOptions& options, bool* refreshed) {
  std::vector<std::string> out;
  if (manifest.tokenizer_identity != tokenizer.identity()) {
    out.push_back(fmt::format("it was made with tokenizer {}, this run's is {}", manifest.tokenizer_identity,
                              tokenizer.identity()));
  } else if (manifest.vocab_size != tokenizer.vocab_size()) {
    out.push_back(
        fmt::format("its vocabulary has {} ids, the tokenizer's {}", manifest.vocab_size, tokenizer.vocab_size()));
  }
  // SentencePiece, for one, segments a long text in places otherwise than its parts.
  if (manifest.chunk_bytes != static_cast<std::int64_t>(options.chunk_bytes)) {
    out.push_back(fmt::format("it was encoded {} bytes at a time, this lmlab encodes {}", manifest.chunk_bytes,
                              options.chunk_bytes));
  }
  if (corpus != nullptr) {
    const std::string kind = corpus->jsonl ? "jsonl" : "folder";
    if (manifest.corpus_kind != kind)
      out.push_back(fmt::format("it was made from a {}, the corpus is a {}", manifest.corpus_kind, kind));
    if (corpus->jsonl && manifest.valid_every != jsonl_valid_every) {
      out.push_back(fmt::format("its validation split took every {}th document, this lmlab takes every {}th",
                                manifest.valid_every, jsonl_valid_every));
    }
    source_differences(manifest, *corpus, out, refreshed);
  }
  std::string text;
  for (const auto& d : out) text += (text.empty() ? "" : "; ") + d;
  return text;
}

PreparedCorpus open_prepared(const fs::path& folder, TokenManifest manifest) {
  PreparedCorpus out;
  out.folder = folder;
  for (const SplitRecord& split : manifest.splits) {
    const bool train = split.name == "train";
    TokenFile file = TokenFile::open(folder / split.file, manifest.dtype, split.tokens,
                                     train ? TokenFile::Access::random : TokenFile::Access::sequential, !train);
    (train ? out.train : split.name == "valid" ? out.valid : out.test) = std::move(file);
  }
  out.manifest = std::move(manifest);
  return out;
}

PreparedCorpus open_or_prepare(const DataSection& data, const Tokenizer& tokenizer, const PrepareOptions& options) {
  const fs::path path = corpus_path(data);
  std::error_code ec;
  if (fs::is_regular_file(path / token_manifest_name, ec) && !holds_text_splits(path)) {
    // A folder lmlab prepare --out wrote: checked against its sources when they are still there.
    TokenManifest manifest = read_token_manifest(path / token_manifest_name);
    std::optional<CorpusSource> corpus;
    if (fs::exists(manifest.corpus, ec)) corpus = find_corpus(manifest.corpus, data);
    bool refreshed = false;
    const std::string differences =
        manifest_differences(manifest, corpus ? &*corpus : nullptr, tokenizer, options, &refreshed);
    if (!differences.empty()) refuse(path, manifest.corpus, differences, tokenizer);
    if (refreshed) save_refreshed(path, manifest);
    PreparedCorpus out = open_prepared(path, std::move(manifest));
    out.source = path;
    return out;
  }
  const CorpusSource corpus = find_corpus(path, data);
  const fs::path folder = prepared_cache_folder(corpus, tokenizer);
  const PrepareLock lock(folder, options.log);
  std::optional<TokenManifest> cached;
  if (fs::exists(folder / token_manifest_name, ec)) {
    try {
      cached = read_token_manifest(folder / token_manifest_name);
    } catch (const DataError& e) {
      // lmlab's own cache, in a form this lmlab cannot read (an older format, a damaged file):
      // nothing in it can be reused, so it is prepared afresh, saying so.
      if (options.log != nullptr) *options.log << fmt::format("replacing {}: {}\n", folder.string(), e.what());
    }
  }
  if (cached) {
    TokenManifest manifest = std::move(*cached);
    bool refreshed = false;
    const std::string differences = manifest_differences(manifest, &corpus, tokenizer, options, &refreshed);
    if (!differences.empty()) refuse(folder, data.corpus, differences, tokenizer);
    if (refreshed) save_refreshed(folder, manifest);
    PreparedCorpus out = open_prepared(folder, std::move(manifest));
    out.source = path;
    return out;
  }
  PreparedCorpus out = open_prepared(folder, prepare_corpus(corpus, tokenizer, folder, options));
  out.source = path;
  out.prepared_now = true;
  return out;
}

PreparedCorpus prepare_into(const CorpusSource& corpus, const Tokenizer& tokenizer, const fs::path& folder,
                            const PrepareOptions& options, bool force) {
  const PrepareLock lock(folder, options.log);
  std::error_code ec;
  if (!force && fs::exists(folder / token_manifest_name, ec)) {
    try {
      TokenManifest manifest = read_token_manifest(folder / token_manifest_name);
      bool refreshed = false;
      const std::string differences = manifest_differences(manifest, &corpus, tokenizer, options, &refreshed);
      if (differences.empty()) {
        if (refreshed) save_refreshed(folder, manifest);
        PreparedCorpus out = open_prepared(folder, std::move(manifest));
        out.source = corpus.root;
        if (options.log != nullptr) *options.log << fmt::format("{} is up to date\n", folder.string());
        return out;
      }
      if (options.log != nullptr) *options.log << fmt::format("{} is out of date ({})\n", folder.string(), differences);
    } catch (const DataError& e) {
      if (options.log != nullptr) *options.log << fmt::format("replacing {}: {}\n", folder.string(), e.what());
    }
  }
  PreparedCorpus out = open_prepared(folder, prepare_corpus(corpus, tokenizer, folder, options));
  out.source = corpus.root;
  out.prepared_now = true;
  return out;
}

}  // namespace lmlab
