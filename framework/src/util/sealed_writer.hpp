/// Writes a sealed file (util/file_digest.hpp) that appears only complete: the bytes go to
/// `<file>.tmp`, then the seal, an fsync, a rename over `file` and an fsync of its folder. Until
/// the rename `file` keeps what it held, and a failed write (disk full, quota, EIO) removes the
/// temporary and leaves `file` as it was.
#pragma once
#include <filesystem>
#include <string>

#include "util/file_digest.hpp"

namespace lmlab {

class SealedWriter {
 public:
  /// Creates `<file>.tmp` (and the folders above it). `what` names the file in messages
  /// ("checkpoint"). Throws DataError when the temporary cannot be created.
  SealedWriter(std::filesystem::path file, std::string what);
  ~SealedWriter();  // removes the temporary unless published
  SealedWriter(const SealedWriter&) = delete;
  SealedWriter& operator=(const SealedWriter&) = delete;

  /// Appends bytes. Never throws, so that a writer inside code that must not unwind (LibTorch's
  /// archive writer throws from a destructor) can call it: the first error is kept, the later
  /// bytes dropped, and finish() reports it.
  void write(const void* data, std::size_t size) noexcept;

  /// Appends the seal, fsyncs and closes the temporary. Throws DataError naming the file and the
  /// system's reason when any write failed; the temporary is then removed.
  void finish();

  /// Renames the finished temporary over the file and fsyncs the folder, so the rename survives
  /// a power loss. Throws DataError when the rename fails.
  void publish();

  const std::filesystem::path& temporary() const { return temporary_; }

 private:
  [[noreturn]] void fail(const std::string& action, int error);

  std::filesystem::path file_, temporary_;
  std::string what_;
  int fd_ = -1;
  int error_ = 0;  // the first write's errno, 0 while every write succeeded
  bool published_ = false;
  Sha256 hash_;
};

}  // namespace lmlab
