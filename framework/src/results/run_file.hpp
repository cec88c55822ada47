/// A run's HDF5 file: root attributes (config, provenance, status) and groups of equal-length
/// 1-D columns (/train, /eval, /samples, ...). Rows are buffered in memory and written only by
/// flush(), so between flushes the file on disk is never touched and a killed process leaves a
/// file that opens and holds every row up to its last flush. Layout: docs/hdf5-layout.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "lmlab/log_row.hpp"

namespace lmlab {

class RunFile {
 public:
  using Value = LogValue;
  using Row = LogRow;

  /// Sets `status` and `status_reason` of a run file no process is writing (a run that was
  /// killed), touching nothing else.
  static void set_status(const std::filesystem::path& path, const std::string& status, const std::string& reason);

  /// Creates (truncating) the file and its parent folders.
  static RunFile create(const std::filesystem::path& path);
  /// Opens an existing file to continue a run: rows of every group whose `step` column is
  /// greater than `last_step` are dropped, since the resumed run logs them again.
  static RunFile resume(const std::filesystem::path& path, std::int64_t last_step);

  RunFile(RunFile&&) noexcept;
  RunFile& operator=(RunFile&&) noexcept;
  ~RunFile();  // flushes what is buffered

  /// Root attributes; setting one again replaces it. Written at once (attributes are few).
  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, const char* value) { set_attribute(name, std::string(value)); }
  void set_attribute(const std::string& name, std::int64_t value);
  void set_attribute(const std::string& name, double value);

  /// Buffers one row of `group`, a name or a path of names ("generation/greedy/metrics"); the
  /// first row fixes the group's columns and their types (int64, float64, UTF-8 string). Later
  /// rows must have the same columns.
  void append(const std::string& group, const Row& row);

  /// A whole dataset of any shape, row-major, written at once (replacing one at that path) and
  /// flushed: tables derived from the rows, such as /grad_flow's step x layer matrices, are
  /// rebuilt whole rather than appended. Their group is marked derived (attribute
  /// `lmlab.derived`): a resumed run deletes it, and the run writes it again when it ends.
  void write_array(const std::string& path, const std::vector<std::uint64_t>& shape, const std::vector<double>& values);
  void write_array(const std::string& path, const std::vector<std::uint64_t>& shape,
                   const std::vector<std::int64_t>& values);
  void write_array(const std::string& path, const std::vector<std::uint64_t>& shape,
                   const std::vector<std::string>& values);

  /// An HDF5 external link at `path` (a name or path of names) to `object` in `target`, a file
  /// path that HDF5 resolves relative to this file's folder first; flushed at once.
  void link_external(const std::string& path, const std::string& target, const std::string& object = "/");

  /// Writes every buffered row and flushes the file to disk.
  void flush();

  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit RunFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Read-side shortcuts, one open per call (results/run_reader.hpp reads many values at once).
namespace run_file {
std::vector<double> read_floats(const std::filesystem::path& file, const std::string& dataset);
std::vector<std::int64_t> read_ints(const std::filesystem::path& file, const std::string& dataset);
std::vector<std::string> read_strings(const std::filesystem::path& file, const std::string& dataset);
/// A root attribute rendered as text (numbers in decimal); throws DataError when absent.
std::string read_attribute(const std::filesystem::path& file, const std::string& name);
bool has_attribute(const std::filesystem::path& file, const std::string& name);

/// Ends the process with `status`, for main() to call last. A run file that could not be written
/// (disk full) stays open until the end, since HDF5 1.10 cannot close it; its library close at
/// exit would then crash (exit 139). So when one did, the process ends without that close, after
/// flushing the standard streams; otherwise as std::exit does.
[[noreturn]] void end_process(int status);
}  // namespace run_file

}  // namespace lmlab
