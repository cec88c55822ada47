#include "util/sealed_writer.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "lmlab/error.hpp"

namespace lmlab {

namespace {

// The folder's entry for a renamed file reaches the disk only when the folder itself is synced.
int sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int result = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return result;
}

}  // namespace

SealedWriter::SealedWriter(std::filesystem::path file, std::string what)
    : file_(std::move(file)), temporary_(file_.string() + ".tmp"), what_(std::move(what)) {
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
  if (ec) fail("cannot create its folder", ec.value());
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(fmt::format("cannot create {}", temporary_.string()), errno);
}

SealedWriter::~SealedWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!published_) ::unlink(temporary_.c_str());
}

void SealedWriter::write(const void* data, std::size_t size) noexcept {
  if (error_ != 0 || fd_ < 0) return;
  hash_.update(data, size);
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n < 0 ? errno : ENOSPC;  // a write of nothing: the device took no more
      return;
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
}

void SealedWriter::finish() {
  const std::string trailer = seal_trailer(hash_);
  write(trailer.data(), trailer.size());
  if (error_ != 0) fail(fmt::format("writing {} failed", temporary_.string()), error_);
  if (::fsync(fd_) != 0) fail(fmt::format("syncing {} to disk failed", temporary_.string()), errno);
  const int fd = fd_;
  fd_ = -1;
  // close() is where some file systems (NFS) report a failed write-back.
  if (::close(fd) != 0) fail(fmt::format("closing {} failed", temporary_.string()), errno);
}

void SealedWriter::publish() {
  if (::rename(temporary_.c_str(), file_.c_str()) != 0) {
    fail(fmt::format("renaming {} over it failed", temporary_.string()), errno);
  }
  published_ = true;
  // The file is complete either way; a folder that cannot be synced only loses the rename to a
  // power cut, which leaves the previous file in place.
  sync_folder(file_.parent_path());
}

void SealedWriter::fail(const std::string& action, int error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temporary_.c_str());
  throw DataError(fmt::format("cannot write {} {}: {} ({}); the previous one, if any, is kept", what_,
                              file_.string(), action, std::strerror(error)));
}

}  // namespace lmlab
