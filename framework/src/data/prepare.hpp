/// Preparing a corpus: every source streamed through the tokenizer in bounded chunks, encoded
/// on several threads and written in order into one token file per split, then the manifest.
#pragma once
#include <cstddef>
#include <filesystem>
#include <ostream>

#include "data/corpus.hpp"
#include "data/token_manifest.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

struct PrepareOptions {
  std::size_t chunk_bytes = std::size_t{1} << 20;  // a chunk of text; a tokenizer may hold many times it
  int threads = 0;                                 // encoding threads; 0: the CPUs this process may use, at most 8
  std::ostream* log = nullptr;                     // one line when preparing starts and one when it ends
  std::ostream* progress = nullptr;                // bytes done, MB/s and ETA every few seconds of long work
  double quiet_seconds = 3.0;                      // no progress line before this much time has passed
};

/// Tokenizes `corpus` into `folder` (created if needed): <split>.tokens files and manifest.json,
/// replacing a preparation already there (its manifest goes first, so an interrupted run leaves
/// no manifest and nothing that looks complete). Returns the manifest written. Throws DataError
/// for unreadable sources, malformed .jsonl lines, an empty train or valid split, or ids outside
/// the tokenizer's vocabulary.
TokenManifest prepare_corpus(const CorpusSource& corpus, const Tokenizer& tokenizer,
                             const std::filesystem::path& folder, const PrepareOptions& options);

}  // namespace lmlab
