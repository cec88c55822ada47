/// Reading run files (and experiment indexes) back: one open file, its attributes, groups and
/// columns. Opens without HDF5's file lock, like the writer, so it reads a run while it trains
/// (docs/hdf5-layout.md says what a reader sees then).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lmlab {

class RunReader {
 public:
  /// Opens read-only; a missing or unreadable file is a DataError naming it.
  explicit RunReader(const std::filesystem::path& file);
  RunReader(RunReader&&) noexcept;
  RunReader& operator=(RunReader&&) noexcept;
  ~RunReader();

  const std::filesystem::path& path() const;

  /// Every root attribute, rendered as text (numbers in decimal, doubles read back exactly).
  std::map<std::string, std::string> attributes() const;
  std::optional<std::string> attribute(const std::string& name) const;

  /// Whether an object (group or dataset) exists at a path such as "generation/greedy/metrics".
  bool exists(const std::string& path) const;
  /// Names of the groups, and of the datasets, directly inside a group ("" or "/" for the root).
  std::vector<std::string> groups(const std::string& group) const;
  std::vector<std::string> datasets(const std::string& group) const;
  /// A dataset's dimensions ({rows} for a column).
  std::vector<std::uint64_t> shape(const std::string& dataset) const;
  /// Whether a dataset holds text (else numbers).
  bool is_text(const std::string& dataset) const;

  /// A dataset's values in row-major order; integers read as floats convert.
  std::vector<double> floats(const std::string& dataset) const;
  std::vector<std::int64_t> ints(const std::string& dataset) const;
  std::vector<std::string> strings(const std::string& dataset) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lmlab
