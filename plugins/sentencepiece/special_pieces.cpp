#include "special_pieces.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "model_proto.hpp"
#include "lmlab/error.hpp"

namespace lmlab_sentencepiece {

namespace {

// The id of `piece` when the model defines it (PieceToId answers unk for a missing piece).
std::int64_t own_id(const Model& sp, const std::string& piece) {
  const int id = sp.piece_to_id(piece);
  return id >= 0 && id < sp.size() && sp.piece(id) == piece ? id : -1;
}

// How many of <extra_id_0>, <extra_id_1>, ... (at most `wanted`) follow each other from `first`.
std::int64_t contiguous_sentinels(const Model& sp, std::int64_t first,
                                  std::int64_t wanted) {
  std::int64_t n = 0;
  while (n < wanted && own_id(sp, "<extra_id_" + std::to_string(n) + ">") == first + n) ++n;
  return n;
}

void find_ordinary(const Model& sp, const std::vector<int>& types, SpecialPieces& s, const std::string& file) {
  // The library cannot tell user-defined pieces from normal ones; the file's piece types can.
  const bool typed = static_cast<std::int64_t>(types.size()) == s.model_size;
  std::int64_t best_begin = 0, best_end = 0, begin = 0;
  for (std::int64_t id = 0; id <= s.model_size; ++id) {
    const int i = static_cast<int>(id);
    const bool normal = typed ? types[id] == PieceType::normal
                              : !sp.is_control(i) && !sp.is_unknown(i) && !sp.is_unused(i) && !sp.is_byte(i);
    const bool text = id < s.model_size && normal && !s.ids.is_special(id);
    if (text) continue;
    if (id - begin > best_end - best_begin) best_begin = begin, best_end = id;
    begin = id + 1;
  }
  if (best_end == best_begin) {
    throw lmlab::DataError("sentencepiece model " + file + " has no normal text pieces");
  }
  s.ids.ordinary_begin = best_begin;
  s.ids.ordinary_end = best_end;
}

}  // namespace

SpecialPieces find_special_pieces(const Model& sp, const std::vector<int>& piece_types, std::int64_t sentinels,
                                  const std::string& bos_piece, const std::string& file) {
  SpecialPieces s;
  s.model_size = sp.size();
  const auto append = [&s](std::string name) {
    s.appended.push_back(std::move(name));
    return s.model_size + static_cast<std::int64_t>(s.appended.size()) - 1;
  };
  const auto model_or_append = [&](std::int64_t id, const char* name) {
    return id >= 0 && id < s.model_size ? id : append(name);
  };
  s.ids.unk = sp.unk_id() >= 0 && sp.unk_id() < s.model_size ? sp.unk_id() : -1;
  s.ids.pad = model_or_append(sp.pad_id(), "<pad>");
  if (bos_piece.empty()) {
    s.ids.bos = model_or_append(sp.bos_id(), "<bos>");
  } else {
    s.ids.bos = own_id(sp, bos_piece);
    if (s.ids.bos < 0) {
      throw lmlab::DataError("sentencepiece model " + file + " has no piece '" + bos_piece.substr(0, 40) +
                             "' (tokenizer.bos_piece)");
    }
  }
  s.ids.eos = model_or_append(sp.eos_id(), "<eos>");
  s.ids.mask = model_or_append(own_id(sp, "<mask>"), "<mask>");
  s.ids.n_sentinels = sentinels;
  if (sentinels > 0) {
    const std::int64_t first = own_id(sp, "<extra_id_0>");
    if (first >= 0 && contiguous_sentinels(sp, first, sentinels) == sentinels) {
      s.ids.first_sentinel = first;
    } else {
      s.ids.first_sentinel = s.model_size + static_cast<std::int64_t>(s.appended.size());
      for (std::int64_t i = 0; i < sentinels; ++i) append("<extra_id_" + std::to_string(i) + ">");
    }
  }
  find_ordinary(sp, piece_types, s, file);
  return s;
}

}  // namespace lmlab_sentencepiece
