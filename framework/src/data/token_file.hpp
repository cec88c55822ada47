/// Prepared token files: one corpus split as a flat array of little-endian uint16 ids (uint32 when
/// the vocabulary has more than 65,536 ids), sealed with a SHA-256 trailer (util/file_digest.hpp)
/// and read through mmap, so that a corpus's size is a matter of disk, not memory. The manifest
/// that says which tokenizer and sources a file was made from is token_manifest.hpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

#include "util/sealed_writer.hpp"

namespace lmlab {

enum class TokenDtype { u16, u32 };

/// "uint16" or "uint32", as manifests write it.
std::string_view dtype_name(TokenDtype dtype);
std::optional<TokenDtype> parse_dtype(std::string_view name);
std::size_t dtype_bytes(TokenDtype dtype);
/// The narrowest type that holds every id below `vocab_size`.
TokenDtype dtype_for_vocab(std::int64_t vocab_size);

/// `ids` as the file stores them. Throws DataError naming `what` (the tokenizer) when an id lies
/// outside 0..vocab_size-1: a tokenizer bug must not become a wrong token on disk.
std::string pack_ids(std::span<const std::int64_t> ids, TokenDtype dtype, std::int64_t vocab_size,
                     std::string_view what);

/// Writes one split's token file through a temporary and a rename: until publish() the file
/// keeps what it held, and a crash leaves only `<file>.tmp`.
class TokenFileWriter {
 public:
  TokenFileWriter(std::filesystem::path file, TokenDtype dtype);
  /// Appends ids packed by pack_ids for this writer's dtype.
  void append_packed(std::string_view bytes);
  std::int64_t count() const { return count_; }
  /// Seals, syncs and renames the file into place. Throws DataError when any write failed.
  void publish();

 private:
  SealedWriter out_;
  TokenDtype dtype_;
  std::int64_t count_ = 0;
};

/// A split's ids, memory-mapped from its file (or held in memory, for tests and tensors). Copies
/// share the mapping; every read is bounds-checked.
class TokenFile {
 public:
  enum class Access { random, sequential };

  TokenFile();  // an empty split

  /// Maps `file`, which the manifest says holds `count` ids of `dtype`. A size that is not
  /// count ids and a seal is a DataError (a truncated or foreign file). `verify` reads the whole
  /// file and checks its seal (for the small splits; the train split is too large to hash on
  /// every run). `access` is the kernel's read-ahead hint.
  static TokenFile open(const std::filesystem::path& file, TokenDtype dtype, std::int64_t count, Access access,
                        bool verify);

  /// Ids held in memory, stored as the narrowest type that fits them. Throws DataError for ids
  /// outside 0..2^32-1.
  static TokenFile from_ids(std::span<const std::int64_t> ids);
  /// The same for a 1-D integer tensor.
  static TokenFile from_tensor(const at::Tensor& ids);

  std::int64_t size() const { return count_; }
  TokenDtype dtype() const { return dtype_; }
  const std::filesystem::path& file() const { return file_; }

  /// Copies ids [start, start + length) into `out`. Throws DataError when out of range.
  void copy(std::int64_t start, std::int64_t length, std::int64_t* out) const;
  /// The id at `i` (bounds-checked; for scanning a few ids, not bulk reads).
  std::int64_t at(std::int64_t i) const;
  /// One window per start, (starts.numel(), length) int64: what index_select over the whole
  /// stream with starts + arange(length) gives.
  at::Tensor windows(const at::Tensor& starts, std::int64_t length) const;
  /// Every id as a (size()) int64 tensor.
  at::Tensor to_tensor() const;
  /// Says ids [start, start + length) will not be read again soon: a scan of the whole split (the
  /// unigram baseline) then leaves the process's resident memory as it found it. The pages stay
  /// in the kernel's page cache; a later read maps them again.
  void release(std::int64_t start, std::int64_t length) const;

 private:
  struct Storage;
  std::shared_ptr<const Storage> storage_;
  const unsigned char* data_ = nullptr;
  TokenDtype dtype_ = TokenDtype::u16;
  std::int64_t count_ = 0;
  std::filesystem::path file_;
};

}  // namespace lmlab
