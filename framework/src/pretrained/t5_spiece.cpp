#include "pretrained/t5_spiece.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string_view>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "lmlab/error.hpp"

namespace fs = std::filesystem;

namespace lmlab::pretrained {

namespace {

// A protobuf message read field by field; every length is checked against what is left, so a
// truncated or hostile file is a DataError, never a read past the end.
class SpieceReader {
 public:
  SpieceReader(std::string_view bytes, const fs::path& file) : rest_(bytes), file_(file) {}

  bool done() const { return rest_.empty(); }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) fail("a number runs past the end");
      const auto byte = static_cast<unsigned char>(rest_.front());
      rest_.remove_prefix(1);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("a number longer than ten bytes");
  }

  std::string_view take(std::uint64_t n) {
    if (n > rest_.size()) fail("a field runs past the end");
    const std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }

  // Skips a field of wire type `wire` whose key was read.
  void skip(std::uint64_t wire) {
    if (wire == 0) varint();
    else if (wire == 1) take(8);
    else if (wire == 2) take(varint());
    else if (wire == 5) take(4);
    else fail(fmt::format("a field of wire type {}, which SentencePiece models do not use", wire));
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw DataError(fmt::format("{}: is not a SentencePiece model lmlab can read: {}", file_.string(), why));
  }

 private:
  std::string_view rest_;
  const fs::path& file_;
};

// SentencePiece message: field 1 is the piece's text.
std::string spiece_piece_text(std::string_view message, const fs::path& file) {
  SpieceReader r(message, file);
  std::string text;
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    if (key == (1 << 3 | 2)) text = std::string(r.take(r.varint()));
    else r.skip(key & 7);
  }
  return text;
}

// TrainerSpec: fields 42 (eos_id) and 43 (pad_id), int32 varints (-1 stored as ten bytes).
void spiece_trainer_ids(std::string_view message, const fs::path& file, SpieceFacts& facts) {
  SpieceReader r(message, file);
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    if (key == (42 << 3 | 0)) facts.eos_id = static_cast<std::int32_t>(r.varint());
    else if (key == (43 << 3 | 0)) facts.pad_id = static_cast<std::int32_t>(r.varint());
    else r.skip(key & 7);
  }
}

}  // namespace

SpieceFacts read_spiece_facts(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(fmt::format("{}: cannot be read", file.string()));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SpieceFacts facts;
  SpieceReader r(bytes, file);
  while (!r.done()) {
    const std::uint64_t key = r.varint();
    if (key == (1 << 3 | 2)) facts.pieces.push_back(spiece_piece_text(r.take(r.varint()), file));
    else if (key == (2 << 3 | 2)) spiece_trainer_ids(r.take(r.varint()), file, facts);
    else r.skip(key & 7);
  }
  if (facts.pieces.empty()) r.fail("no pieces");
  return facts;
}

std::int64_t t5_extra_ids(std::int64_t pieces, std::int64_t V) {
  return std::clamp<std::int64_t>(V - pieces - 1, 0, 100);
}

at::Tensor t5_hf_rows(std::int64_t pieces, std::int64_t extra, std::int64_t V) {
  at::Tensor rows = at::arange(V, at::kLong);  // (V): pieces keep their rows
  if (V <= pieces) return rows;
  auto r = rows.accessor<std::int64_t, 1>();
  r[pieces] = pieces + extra;  // <mask>: the first padding row
  for (std::int64_t i = 0; i < extra; ++i) r[pieces + 1 + i] = pieces + extra - 1 - i;  // <extra_id_i>
  for (std::int64_t id = pieces + 1 + extra; id < V; ++id) r[id] = id;  // later sentinels: the other padding rows
  return rows;
}

}  // namespace lmlab::pretrained
