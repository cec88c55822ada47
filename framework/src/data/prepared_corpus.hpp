/// A run's corpus as prepared token files: found in the cache (or a folder `lmlab prepare --out`
/// wrote), checked against the run's tokenizer and the corpus's sources, or prepared on first
/// use. A preparation that no longer matches is refused with what differs, never reused.
#pragma once
#include <filesystem>
#include <string>

#include "data/corpus.hpp"
#include "data/prepare.hpp"
#include "data/token_file.hpp"
#include "data/token_manifest.hpp"
#include "experiment/experiment.hpp"
#include "lmlab/tokenizer.hpp"

namespace lmlab {

struct PreparedCorpus {
  std::filesystem::path source;  // what data.corpus named: a corpus folder, a .jsonl or a prepared folder
  std::filesystem::path folder;  // the token files and manifest.json
  TokenManifest manifest;
  TokenFile train;            // memory-mapped for random windows
  TokenFile valid;            // memory-mapped, its seal checked
  TokenFile test;             // empty when the corpus has no test split
  bool prepared_now = false;  // false when an earlier preparation was reused
};

/// Where a corpus is prepared for `tokenizer` unless told otherwise:
/// <corpus folder>/prepared/<tokenizer name>-<12 hex digits of its identity's SHA-256>, and for a
/// .jsonl <its folder>/prepared/<its file name>/<...>.
std::filesystem::path prepared_cache_folder(const CorpusSource& corpus, const Tokenizer& tokenizer);

/// What differs between `manifest` and the tokenizer and the corpus's files now, "; "-separated;
/// empty when nothing does. A source whose size and modification time are those recorded is
/// trusted without reading it; one whose size or time changed is hashed again, and when its bytes
/// are the same its record in `manifest` is brought up to date and `*refreshed` set. `corpus`
/// may be null (the sources are not at hand): then only the tokenizer and the chunk size (the
/// text encoded at a time, `options.chunk_bytes`) are compared.
std::string manifest_differences(TokenManifest& manifest, const CorpusSource* corpus, const Tokenizer& tokenizer,
                                 const PrepareOptions& options, bool* refreshed);

/// Maps the token files of the preparation in `folder` that `manifest` describes.
PreparedCorpus open_prepared(const std::filesystem::path& folder, TokenManifest manifest);

/// The run's corpus. data.corpus names a corpus (a folder or a .jsonl, prepared into its cache
/// folder on first use) or a prepared folder (one holding manifest.json). Throws DataError when
/// the preparation found was made by another tokenizer or from other sources, naming what
/// differs and how to prepare again.
PreparedCorpus open_or_prepare(const DataSection& data, const Tokenizer& tokenizer, const PrepareOptions& options);

/// `lmlab prepare`: prepares `corpus` into `folder` unless a preparation that matches is there
/// already (then reuses it; `force` prepares anyway). One that does not match is replaced.
PreparedCorpus prepare_into(const CorpusSource& corpus, const Tokenizer& tokenizer, const std::filesystem::path& folder,
                            const PrepareOptions& options, bool force);

}  // namespace lmlab
