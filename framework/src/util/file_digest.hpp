/// Files sealed with a SHA-256 digest of their contents, so that a flipped, lost or added byte is
/// found before anything is read from them. The seal is a 48-byte trailer after the contents (a
/// marker line, then the 32 digest bytes): the file and its digest are one file, replaced whole by
/// one rename, so new contents can never meet an old digest as they could in a separate digest
/// file. Checkpoints are sealed (training/checkpoint.cpp); so can be any file lmlab writes whole
/// and reads back, such as prepared data (util/sealed_writer.hpp writes one).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

struct sha256_ctx;  // nettle's

namespace lmlab {

/// SHA-256 of bytes given in pieces (nettle's).
class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t size);
  /// The digest of every byte given so far; more may be given after.
  Digest digest() const;

 private:
  std::unique_ptr<sha256_ctx> ctx_;
};

/// Lowercase hex, as `sha256sum` prints a digest.
std::string to_hex(const Sha256::Digest& digest);

/// The trailer's size: the marker line "lmlab-sha256 v1\n" and the digest.
inline constexpr std::size_t seal_size = 48;

/// The trailer that seals contents whose bytes `hash` has seen.
std::string seal_trailer(const Sha256& hash);

/// What checking a file's seal found.
struct SealCheck {
  enum class State {
    intact,    // the trailer's digest is the contents' digest
    unsealed,  // no trailer: written before files were sealed, or cut short
    corrupt,   // a trailer whose digest differs from the contents'
  };
  State state = State::unsealed;
  std::uint64_t contents_size = 0;  // the bytes before the trailer; the whole file when unsealed
  std::string problem;              // when corrupt: both digests, for the message
};

/// Reads open file `fd` (named `file` in messages) from its start to its end and checks its
/// seal. Throws DataError naming `file` when it cannot be read.
SealCheck check_seal(int fd, const std::filesystem::path& file);

/// The same for a file by name.
SealCheck check_seal(const std::filesystem::path& file);

}  // namespace lmlab
