/// A corpus's text in bounded chunks, in order: each source file is read a block at a time,
/// hashed as it goes, and cut into chunks of about `chunk_bytes` at line starts, so that
/// preparing a corpus of any size holds a few chunks in memory, never a whole file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/corpus.hpp"
#include "data/token_manifest.hpp"

namespace lmlab {

struct TextChunk {
  int split = 0;  // index into split_names
  std::string text;
  std::uint64_t source_bytes_done = 0;  // of every source, read so far
};

/// Where a chunk ends: just after a newline that a non-space character follows (so a tokenizer
/// that merges runs of whitespace sees the same runs as in the whole text), else after any
/// newline, else at the last UTF-8 character boundary; at most `limit` bytes into `text`.
std::size_t chunk_cut(const std::string& text, std::size_t limit);

/// Reads every file of `corpus` in order and calls `emit` with each chunk: a folder's shards
/// each cut on their own; a .jsonl's documents (each followed by a blank line) routed to train
/// or valid (jsonl_valid_every). Returns each file's record, with its SHA-256. Throws DataError
/// naming the file (and line, for JSON) that cannot be read or parsed, or that changed while read.
std::vector<SourceRecord> read_corpus_chunks(const CorpusSource& corpus, std::size_t chunk_bytes,
                                             const std::function<void(TextChunk&&)>& emit);

/// A file's size and modification time as source records keep them. Throws DataError.
SourceRecord stat_source(const std::filesystem::path& path, const std::string& name);

}  // namespace lmlab
