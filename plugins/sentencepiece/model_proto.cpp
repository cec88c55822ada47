#include "model_proto.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace lmlab_sentencepiece {

namespace {

struct Field {
  std::uint64_t number = 0, wire = 0, value = 0;
  std::size_t begin = 0, end = 0;  // a length-delimited field's bytes
};

bool read_varint(const std::string& bytes, std::size_t& at, std::size_t end, std::uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && at < end; shift += 7) {
    const auto byte = static_cast<unsigned char>(bytes[at++]);
    value |= std::uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Calls fn(field) for each field of the message bytes[begin, end); false when it is malformed.
template <class F>
bool for_each_field(const std::string& bytes, std::size_t begin, std::size_t end, F&& fn) {
  std::size_t at = begin;
  while (at < end) {
    std::uint64_t key = 0;
    if (!read_varint(bytes, at, end, key)) return false;
    Field f{key >> 3, key & 7};
    if (f.wire == 0) {
      if (!read_varint(bytes, at, end, f.value)) return false;
    } else if (f.wire == 2) {
      if (!read_varint(bytes, at, end, f.value) || f.value > end - at) return false;
      f.begin = at, f.end = at + f.value, at = f.end;
    } else if (f.wire == 1 || f.wire == 5) {
      const std::size_t size = f.wire == 1 ? 8 : 4;
      if (size > end - at) return false;
      at += size;
    } else {
      return false;
    }
    fn(f);
  }
  return true;
}

// The varint field `number` of a message, or `absent`.
std::uint64_t varint_of(const std::string& bytes, const Field& message, std::uint64_t number, std::uint64_t absent) {
  std::uint64_t value = absent;
  for_each_field(bytes, message.begin, message.end, [&](const Field& f) {
    if (f.number == number && f.wire == 0) value = f.value;
  });
  return value;
}

}  // namespace

// ModelProto: pieces = 1 (SentencePiece: piece = 1, score = 2, type = 3 defaulting to NORMAL),
// trainer_spec = 2 (model_type = 3 defaulting to UNIGRAM = 1; BPE = 2).
ModelFacts read_model_facts(const std::string& bytes) {
  ModelFacts facts;
  const bool ok = for_each_field(bytes, 0, bytes.size(), [&](const Field& f) {
    if (f.wire != 2) return;
    if (f.number == 1) facts.piece_types.push_back(static_cast<int>(varint_of(bytes, f, 3, PieceType::normal)));
    if (f.number == 2) facts.bpe = varint_of(bytes, f, 3, 1) == 2;
  });
  if (!ok) return {};
  return facts;
}

}  // namespace lmlab_sentencepiece
