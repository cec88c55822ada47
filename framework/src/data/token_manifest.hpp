/// The manifest of a prepared corpus (manifest.json beside its token files): what a reader needs
/// to trust the token files (their dtype and counts) and to know whether they still stand for
/// the corpus (the tokenizer's identity, each source file's size, time and SHA-256). Written
/// through a temporary and a rename, and last, so that a manifest means a complete preparation.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/token_file.hpp"

namespace lmlab {

inline constexpr int token_manifest_version = 1;
inline constexpr const char* token_manifest_name = "manifest.json";

/// One file the corpus is made of. `path` is relative to the corpus (its folder, or the folder
/// of a .jsonl); size and mtime let a reader trust `sha256` without reading the file again.
struct SourceRecord {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string sha256;
};

/// One split's token file (a name in the manifest's folder) and its id count.
struct SplitRecord {
  std::string name;  // train, valid or test
  std::string file;
  std::int64_t tokens = 0;
};

struct TokenManifest {
  int version = token_manifest_version;
  std::string lmlab_version;
  std::string tokenizer_identity;
  std::int64_t vocab_size = 0;
  TokenDtype dtype = TokenDtype::u16;
  std::string corpus;            // the corpus's absolute path when prepared
  std::string corpus_kind;       // "folder" or "jsonl"
  std::int64_t valid_every = 0;  // jsonl: every Nth document is validation text; 0 for folders
  std::int64_t chunk_bytes = 0;  // the text encoded at a time: a tokenizer may split across it otherwise
  std::vector<SourceRecord> sources;
  std::vector<SplitRecord> splits;

  /// The split named `name`, or null.
  const SplitRecord* split(const std::string& name) const;
};

/// Reads and checks a manifest: JSON of the expected shape, known version and dtype, counts that
/// are not negative, token file names without folders. Anything else is a DataError naming the
/// file and the key.
TokenManifest read_token_manifest(const std::filesystem::path& file);

/// Writes `manifest` to `file` through `<file>.tmp`, an fsync and a rename.
void write_token_manifest(const std::filesystem::path& file, const TokenManifest& manifest);

}  // namespace lmlab
