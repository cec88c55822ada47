#include "part_encoder.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend.hpp"
#include "lmlab/error.hpp"

namespace lmlab_sentencepiece {

namespace {

// A protobuf varint at `at`; false when the bytes end first.
bool read_varint(const std::string& bytes, std::size_t& at, std::uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && at < bytes.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(bytes[at++]);
    value |= std::uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// The varint field `field` of the message bytes[begin, end), or `absent`. Reads the wire format
// directly: Debian ships no header for the library's ModelProto.
std::uint64_t varint_field(const std::string& bytes, std::size_t begin, std::size_t end, std::uint64_t field,
                           std::uint64_t absent, std::size_t* sub_begin = nullptr, std::size_t* sub_end = nullptr) {
  std::size_t at = begin;
  std::uint64_t key = 0, value = 0;
  while (at < end && read_varint(bytes, at, key)) {
    const std::uint64_t type = key & 7;
    if (type == 0) {
      if (!read_varint(bytes, at, value)) break;
      if (key >> 3 == field && sub_begin == nullptr) return value;
    } else if (type == 2) {
      if (!read_varint(bytes, at, value) || value > end - at) break;
      if (key >> 3 == field && sub_begin != nullptr) {
        *sub_begin = at, *sub_end = at + value;
        return 0;
      }
      at += value;
    } else if (type == 1 || type == 5) {
      at += type == 1 ? 8 : 4;
    } else {
      break;
    }
  }
  return absent;
}

// ModelProto.trainer_spec (field 2) .model_type (field 3): UNIGRAM = 1 (the default), BPE = 2.
bool is_bpe_model(const std::string& bytes) {
  std::size_t begin = 0, end = 0;
  varint_field(bytes, 0, bytes.size(), 2, 0, &begin, &end);
  return end > begin && varint_field(bytes, begin, end, 3, 1) == 2;
}

}  // namespace

// A text that ends in a line break is followed by ids that do not depend on what came before
// when no piece spans a line break and the normaliser leaves line breaks alone: then the library
// encodes "\n" + rest as its dummy prefix "▁" alone, followed by rest's ids in context. The
// probe checks exactly that, on line breaks after and before spaces, tabs and other line breaks.
PartEncoder::PartEncoder(const Model& model, const std::string& model_bytes) : model_(model) {
  if (!is_bpe_model(model_bytes)) return;
  const std::vector<int> newline = whole("\n");
  if (newline.size() < 2 || model_.piece(newline[0]) != "\xE2\x96\x81") return;
  dummy_ = newline[0];
  const std::string probe = "Line one.  \n\n  line\ttwo \n\tthree\n杭州 four\n\n\n five";
  if (in_parts(probe, 1) != whole(probe)) dummy_ = -1;
}

std::vector<int> PartEncoder::encode(std::string_view text) const {
  if (dummy_ < 0 || text.size() <= part_bytes) return whole(text);
  return in_parts(text, part_bytes);
}

std::vector<int> PartEncoder::whole(std::string_view text) const {
  std::vector<int> ids;
  std::string error;
  if (!model_.encode(text, ids, error)) throw lmlab::Error("sentencepiece could not encode the text: " + error);
  return ids;
}

// Parts of at least `part` bytes, each after the first starting at a line break; their ids are
// the library's for the part less its dummy prefix.
std::vector<int> PartEncoder::in_parts(std::string_view text, std::size_t part) const {
  std::vector<int> ids;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t newline = text.find('\n', start + std::max<std::size_t>(part, 1));
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
    const std::vector<int> some = whole(text.substr(start, end - start));
    if (start == 0) {
      ids = some;
    } else {
      if (some.empty() || some.front() != dummy_) return whole(text);  // not as probed: the whole text
      ids.insert(ids.end(), some.begin() + 1, some.end());
    }
    start = end;
  }
  return ids;
}

}  // namespace lmlab_sentencepiece
