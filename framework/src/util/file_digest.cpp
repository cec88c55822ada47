#include "util/file_digest.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <nettle/sha2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "lmlab/error.hpp"

namespace lmlab {

namespace {

constexpr std::string_view seal_marker = "lmlab-sha256 v1\n";
static_assert(seal_marker.size() + std::tuple_size_v<Sha256::Digest> == seal_size);

// pread until `size` bytes or the end of the file; returns the count read.
std::size_t read_at(int fd, const std::filesystem::path& file, std::uint64_t offset, void* buffer, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, static_cast<char*>(buffer) + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw DataError(fmt::format("cannot read {}: {}", file.string(), std::strerror(errno)));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

}  // namespace

Sha256::Sha256() : ctx_(std::make_unique<sha256_ctx>()) { sha256_init(ctx_.get()); }
Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) {
  sha256_update(ctx_.get(), size, static_cast<const std::uint8_t*>(data));
}

Sha256::Digest Sha256::digest() const {
  sha256_ctx copy = *ctx_;  // nettle's digest() resets the context it finishes
  Digest out{};
  sha256_digest(&copy, out.size(), out.data());
  return out;
}

std::string to_hex(const Sha256::Digest& digest) {
  std::string out;
  for (const std::uint8_t byte : digest) out += fmt::format("{:02x}", byte);
  return out;
}

std::string seal_trailer(const Sha256& hash) {
  const Sha256::Digest digest = hash.digest();
  std::string trailer(seal_marker);
  trailer.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return trailer;
}

SealCheck check_seal(int fd, const std::filesystem::path& file) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw DataError(fmt::format("cannot read {}: {}", file.string(), std::strerror(errno)));
  const auto size = static_cast<std::uint64_t>(info.st_size);
  SealCheck check;
  check.contents_size = size;
  if (size < seal_size) return check;
  std::array<char, seal_size> trailer{};
  if (read_at(fd, file, size - seal_size, trailer.data(), seal_size) != seal_size ||
      std::string_view(trailer.data(), seal_marker.size()) != seal_marker) {
    return check;
  }
  check.contents_size = size - seal_size;
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  for (std::uint64_t offset = 0; offset < check.contents_size;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), check.contents_size - offset));
    const std::size_t got = read_at(fd, file, offset, buffer.data(), want);
    if (got == 0) throw DataError(fmt::format("cannot read {}: it shrank while being read", file.string()));
    hash.update(buffer.data(), got);
    offset += got;
  }
  Sha256::Digest stored{};
  std::memcpy(stored.data(), trailer.data() + seal_marker.size(), stored.size());
  const Sha256::Digest actual = hash.digest();
  check.state = actual == stored ? SealCheck::State::intact : SealCheck::State::corrupt;
  if (check.state == SealCheck::State::corrupt) {
    check.problem = fmt::format("its contents' SHA-256 is {}, but it was written with {}", to_hex(actual), to_hex(stored));
  }
  return check;
}

SealCheck check_seal(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(fmt::format("cannot open {}: {}", file.string(), std::strerror(errno)));
  try {
    SealCheck check = check_seal(fd, file);
    ::close(fd);
    return check;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace lmlab
