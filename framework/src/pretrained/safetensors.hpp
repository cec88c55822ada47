/// The safetensors format of Hugging Face checkpoints: an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the raw data. Reading maps
/// the file and checks every entry against it before any tensor is made, so a truncated or
/// hostile file is a DataError naming the file and the tensor, never a read past the mapping.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lmlab::pretrained {

/// One tensor as the header describes it; offsets count from the start of the data section.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // as written: "F32", "F16", "BF16", "I64", ...
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

/// Headers larger than this are refused before they are read (the reference implementation's limit).
inline constexpr std::uint64_t max_safetensors_header = 100u << 20;

/// One mapped .safetensors file.
class SafetensorsFile {
 public:
  /// Opens, maps and validates `file`: the header length against the file size, the JSON, every
  /// entry's dtype, shape, byte count and range, and that the ranges tile the data section without
  /// overlap or gap. Throws DataError naming the file (and the tensor) otherwise.
  explicit SafetensorsFile(const std::filesystem::path& file);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }

  /// The tensor `name` in its stored dtype (F32, F16 or BF16), reading the mapped bytes; it keeps
  /// the mapping alive. Throws DataError naming the file and tensor for another dtype or a name
  /// the file lacks.
  at::Tensor tensor(const std::string& name) const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

/// A checkpoint folder's weights: `model.safetensors`, or the shards a
/// `model.safetensors.index.json` lists (each name in exactly the shard the index says).
class SafetensorsSet {
 public:
  /// Throws DataError when the folder has neither file, or the index is malformed, names a shard
  /// outside the folder, or disagrees with the shards.
  explicit SafetensorsSet(const std::filesystem::path& folder);

  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return owner_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  /// The file holding `name`, for messages.
  const std::filesystem::path& file_of(const std::string& name) const;
  /// The first file's __metadata__.
  const std::map<std::string, std::string>& metadata() const { return files_.front().metadata(); }

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> owner_;  // tensor name -> index into files_
};

/// Writes `tensors` (CPU, F32/F16/BF16, any layout) to `file` in the order given, with
/// `metadata` as the header's __metadata__; through a temporary renamed into place. Throws
/// DataError naming the file when it cannot be written, or the tensor when its dtype has no
/// safetensors name or a name repeats.
void write_safetensors(const std::filesystem::path& file,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lmlab::pretrained
