#include "part_encoder.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "backend.hpp"
#include "lmlab/error.hpp"

namespace lmlab_sentencepiece {

// A text that ends in a line break is followed by ids that do not depend on what came before
// when no piece spans a line break and the normaliser leaves line breaks alone: then the library
// encodes "\n" + rest as its dummy prefix "▁" alone, followed by rest's ids in context. The
// probe checks exactly that, on line breaks after and before spaces, tabs and other line breaks.
PartEncoder::PartEncoder(const Model& model, bool bpe) : model_(model) {
  if (!bpe) return;
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
