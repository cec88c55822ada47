/// The byte-level tokenizer: ids 0-255 are bytes, then pad, bos, eos, mask and a block of
/// sentinels (T5's <extra_id_i>) for the denoising objectives.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

class ByteTokenizer {
 public:
  static constexpr std::int64_t n_bytes = 256;
  static constexpr std::int64_t pad_id = 256;
  static constexpr std::int64_t bos_id = 257;
  static constexpr std::int64_t eos_id = 258;
  static constexpr std::int64_t mask_id = 259;
  static constexpr std::int64_t first_sentinel_id = 260;
  static constexpr std::int64_t n_sentinels = 100;
  static constexpr std::int64_t vocab_size = first_sentinel_id + n_sentinels;

  /// The UTF-8 bytes of `text`, one id each.
  std::vector<std::int64_t> encode(std::string_view text) const;

  /// Text for any id sequence; never throws. Byte runs that are not valid UTF-8 become U+FFFD
  /// (one per maximal invalid subpart, as the Unicode standard recommends); special ids render
  /// as <pad>, <bos>, <eos>, <mask>, <extra_id_N>; ids outside the vocabulary as U+FFFD.
  std::string decode(const std::vector<std::int64_t>& ids) const;

  /// The id of sentinel i (0-based).
  static std::int64_t sentinel(std::int64_t i);
  /// True for pad, bos, eos, mask and sentinels.
  static bool is_special(std::int64_t id);
};

}  // namespace lmlab
