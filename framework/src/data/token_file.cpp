#include "data/token_file.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"
#include "util/file_digest.hpp"

namespace lmlab {

namespace fs = std::filesystem;

// The files are little-endian; ids are copied byte for byte on the machines lmlab builds for.
static_assert(std::endian::native == std::endian::little, "token files assume a little-endian host");

std::string_view dtype_name(TokenDtype dtype) { return dtype == TokenDtype::u16 ? "uint16" : "uint32"; }

std::optional<TokenDtype> parse_dtype(std::string_view name) {
  if (name == "uint16") return TokenDtype::u16;
  if (name == "uint32") return TokenDtype::u32;
  return std::nullopt;
}

std::size_t dtype_bytes(TokenDtype dtype) { return dtype == TokenDtype::u16 ? 2 : 4; }

TokenDtype dtype_for_vocab(std::int64_t vocab_size) { return vocab_size <= 65536 ? TokenDtype::u16 : TokenDtype::u32; }

namespace {

template <typename T>
std::string pack_as(std::span<const std::int64_t> ids, std::int64_t vocab_size, std::string_view what) {
  std::string bytes(ids.size() * sizeof(T), '\0');
  auto* out = reinterpret_cast<T*>(bytes.data());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      throw DataError(fmt::format("{} gave id {}, outside its vocabulary 0..{}", what, ids[i], vocab_size - 1));
    }
    out[i] = static_cast<T>(ids[i]);
  }
  return bytes;
}

template <typename T>
void widen(const unsigned char* data, std::int64_t start, std::int64_t length, std::int64_t* out) {
  const T* ids = reinterpret_cast<const T*>(data) + start;
  for (std::int64_t i = 0; i < length; ++i) out[i] = ids[i];
}

}  // namespace

std::string pack_ids(std::span<const std::int64_t> ids, TokenDtype dtype, std::int64_t vocab_size,
                     std::string_view what) {
  if (dtype == TokenDtype::u16 && vocab_size > 65536) {
    throw DataError(fmt::format("a vocabulary of {} ids does not fit in uint16", vocab_size));
  }
  return dtype == TokenDtype::u16 ? pack_as<std::uint16_t>(ids, vocab_size, what)
                                  : pack_as<std::uint32_t>(ids, vocab_size, what);
}

TokenFileWriter::TokenFileWriter(fs::path file, TokenDtype dtype)
    : out_(std::move(file), "token file"), dtype_(dtype) {}

void TokenFileWriter::append_packed(std::string_view bytes) {
  out_.write(bytes.data(), bytes.size());
  count_ += static_cast<std::int64_t>(bytes.size() / dtype_bytes(dtype_));
}

void TokenFileWriter::publish() {
  out_.finish();
  out_.publish();
}

// Either a mapping (unmapped when the last TokenFile sharing it goes) or ids held in memory.
struct TokenFile::Storage {
  void* map = nullptr;
  std::size_t map_size = 0;
  std::vector<unsigned char> memory;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (map != nullptr) ::munmap(map, map_size);
  }
};

TokenFile::TokenFile() = default;

namespace {

// Closes the descriptor whatever happens between open and mmap.
struct TokenFd {
  int fd = -1;
  ~TokenFd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

TokenFile TokenFile::open(const fs::path& file, TokenDtype dtype, std::int64_t count, Access access, bool verify) {
  if (count < 0 || count > std::numeric_limits<std::int64_t>::max() / 8) {
    throw DataError(fmt::format("token file {}: impossible token count {}", file.string(), count));
  }
  TokenFd fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) throw DataError(fmt::format("cannot open token file {}: {}", file.string(), std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) {
    throw DataError(fmt::format("cannot read token file {}: {}", file.string(), std::strerror(errno)));
  }
  const auto bytes = static_cast<std::uint64_t>(count) * dtype_bytes(dtype);
  if (static_cast<std::uint64_t>(st.st_size) != bytes + seal_size) {
    throw DataError(
        fmt::format("token file {} has {} bytes where its manifest's {} {} ids and the seal need {}: it "
                    "was cut short or replaced; prepare the corpus again (lmlab prepare)",
                    file.string(), st.st_size, count, dtype_name(dtype), bytes + seal_size));
  }
  if (verify) {
    const SealCheck check = check_seal(fd.fd, file);
    if (check.state != SealCheck::State::intact) {
      throw DataError(fmt::format("token file {} is damaged ({}); prepare the corpus again (lmlab prepare)",
                                  file.string(),
                                  check.state == SealCheck::State::unsealed ? "it has no seal" : check.problem));
    }
  }
  auto storage = std::make_shared<Storage>();
  storage->map_size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, storage->map_size, PROT_READ, MAP_SHARED, fd.fd, 0);
  if (map == MAP_FAILED) {
    throw DataError(fmt::format("cannot map token file {}: {}", file.string(), std::strerror(errno)));
  }
  storage->map = map;
  ::madvise(map, storage->map_size, access == Access::random ? MADV_RANDOM : MADV_SEQUENTIAL);
  TokenFile out;
  out.data_ = static_cast<const unsigned char*>(map);
  out.storage_ = std::move(storage);
  out.dtype_ = dtype;
  out.count_ = count;
  out.file_ = file;
  return out;
}

TokenFile TokenFile::from_ids(std::span<const std::int64_t> ids) {
  std::int64_t top = 0;
  for (const std::int64_t id : ids) {
    if (id < 0 || id > std::numeric_limits<std::uint32_t>::max()) {
      throw DataError(fmt::format("token id {} does not fit a token file (0..2^32-1)", id));
    }
    top = std::max(top, id);
  }
  const TokenDtype dtype = dtype_for_vocab(top + 1);
  const std::string packed = pack_ids(ids, dtype, top + 1, "the ids");
  auto storage = std::make_shared<Storage>();
  storage->memory.assign(packed.begin(), packed.end());
  TokenFile out;
  out.data_ = storage->memory.data();
  out.storage_ = std::move(storage);
  out.dtype_ = dtype;
  out.count_ = static_cast<std::int64_t>(ids.size());
  return out;
}

TokenFile TokenFile::from_tensor(const at::Tensor& ids) {
  const at::Tensor flat = ids.to(at::kCPU, at::kLong).contiguous().reshape({-1});
  return from_ids(std::span<const std::int64_t>(flat.data_ptr<std::int64_t>(), static_cast<std::size_t>(flat.numel())));
}

void TokenFile::copy(std::int64_t start, std::int64_t length, std::int64_t* out) const {
  if (start < 0 || length < 0 || start > count_ - length) {
    throw DataError(fmt::format("ids [{}, {}) lie outside the {} ids of {}", start, start + length, count_,
                                file_.empty() ? std::string("the split") : file_.string()));
  }
  if (dtype_ == TokenDtype::u16) {
    widen<std::uint16_t>(data_, start, length, out);
  } else {
    widen<std::uint32_t>(data_, start, length, out);
  }
}

std::int64_t TokenFile::at(std::int64_t i) const {
  std::int64_t id = 0;
  copy(i, 1, &id);
  return id;
}

at::Tensor TokenFile::windows(const at::Tensor& starts, std::int64_t length) const {
  const at::Tensor flat = starts.to(at::kCPU, at::kLong).contiguous().reshape({-1});
  const std::int64_t n = flat.numel();
  at::Tensor out = at::empty({n, length}, at::kLong);
  const auto* s = flat.data_ptr<std::int64_t>();
  auto* o = out.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) copy(s[i], length, o + i * length);
  return out;
}

void TokenFile::release(std::int64_t start, std::int64_t length) const {
  if (!storage_ || storage_->map == nullptr || start < 0 || length <= 0 || start > count_ - length) return;
  // Whole pages inside the range only: a page shared with ids outside it stays.
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data_) + static_cast<std::uintptr_t>(start) * dtype_bytes(dtype_);
  const auto end = begin + static_cast<std::uintptr_t>(length) * dtype_bytes(dtype_);
  const std::uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

at::Tensor TokenFile::to_tensor() const {
  at::Tensor out = at::empty({count_}, at::kLong);
  if (count_ > 0) copy(0, count_, out.data_ptr<std::int64_t>());
  return out;
}

}  // namespace lmlab
