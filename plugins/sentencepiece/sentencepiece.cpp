// The SentencePiece tokenizer (Kudo & Richardson 2018): a `.model` file of Debian's libsentencepiece,
// unigram or BPE, ours (`lmlab tokenizer train`) or a published one (LLaMA-1/2's or T5's
// tokenizer.model). The model's own ids are kept; the special ids lmlab's objectives need and the
// model lacks are appended after its pieces (special_pieces.hpp). Encoding is the library's own
// (no bos/eos added); decoding renders special and control ids as their names, which the
// library would drop, and never throws.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend.hpp"
#include "lmlab/error.hpp"
#include "lmlab/plugin.hpp"
#include "lmlab/tokenizer.hpp"
#include "model_proto.hpp"
#include "part_encoder.hpp"
#include "special_pieces.hpp"

namespace {

namespace fs = std::filesystem;
using lmlab_sentencepiece::SpecialPieces;

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

struct SentencePieceOptions {
  std::string model;
  std::int64_t sentinels = 100;
  std::string bos_piece;  // "": the model's own bos, else an appended <bos>
};

lmlab::OptionSet<SentencePieceOptions> options() {
  return lmlab::OptionSet<SentencePieceOptions>{}
      .add("model", &SentencePieceOptions::model,
           "the .model file (relative paths start at the working folder, as data.corpus does)")
      .add("sentinels", &SentencePieceOptions::sentinels,
           "how many <extra_id_i> span-corruption sentinels; appended unless the model has them all",
           {.min = 0.0, .max = 10000.0})
      .add("bos_piece", &SentencePieceOptions::bos_piece,
           "empty: the model's own bos, else an appended <bos>. Otherwise a piece of the model that plays bos, "
           "the decoder's first input in encoder-decoders (T5 starts its decoder with <pad>)")
      .omitted_at_default()
      .check("model must name a .model file", [](const SentencePieceOptions& o) { return !o.model.empty(); });
}

std::string read_model_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw lmlab::DataError("sentencepiece model " + file.string() +
                           " does not exist (train one with `lmlab tokenizer train --corpus CORPUS --out " +
                           file.string() + "`, docs/tokenizers.md)");
  }
  if (fs::is_directory(file, ec)) throw lmlab::DataError("sentencepiece model " + file.string() + " is a folder");
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw lmlab::DataError("cannot read sentencepiece model " + file.string());
  if (bytes.empty()) throw lmlab::DataError("sentencepiece model " + file.string() + " is empty");
  return bytes;
}

// "<0x0A>" -> 10; -1 for any other piece.
int byte_of(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int value = 0;
  for (const char c : piece.substr(3, 2)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

class SentencePieceTokenizer final : public lmlab::Tokenizer {
 public:
  SentencePieceTokenizer(const fs::path& file, std::int64_t sentinels, const std::string& bos_piece) {
    const std::string bytes = read_model_file(file);
    model_ = lmlab_sentencepiece::open_model(bytes, file);
    const lmlab_sentencepiece::ModelFacts facts = lmlab_sentencepiece::read_model_facts(bytes);
    special_ = lmlab_sentencepiece::find_special_pieces(*model_, facts.piece_types, sentinels, bos_piece,
                                                       file.string());
    parts_ = std::make_unique<lmlab_sentencepiece::PartEncoder>(*model_, facts.bpe);
    byte_.resize(static_cast<std::size_t>(special_.model_size), -1);
    for (std::int64_t id = 0; id < special_.model_size; ++id) {
      if (model_->is_byte(static_cast<int>(id))) byte_[id] = byte_of(model_->piece(static_cast<int>(id)));
    }
    // The sentinel count is in the identity: it moves the appended ids and the vocabulary size.
    // So is a bos piece of the model's own, which removes the appended <bos> (absent when unset,
    // so that existing identities stay as they were).
    const std::string bos = bos_piece.empty() ? "" : ";bos=" + bos_piece;
    identity_ = "sentencepiece:" +
                lmlab::text_sha256(lmlab::text_sha256(bytes) + ";sentinels=" + std::to_string(sentinels) + bos);
  }

  std::vector<std::int64_t> encode(std::string_view text) const override {
    const std::vector<int> ids = parts_->encode(text);
    return {ids.begin(), ids.end()};
  }

  using lmlab::Tokenizer::decode;
  std::string decode(std::span<const std::int64_t> ids) const override {
    std::string out;
    std::vector<int> run;  // text pieces, decoded together by the library
    std::string bytes;     // byte-fallback pieces, validated together
    const auto flush = [&] {
      if (!run.empty()) lmlab::append_valid_utf8(decode_run(run, out.empty()), out);
      run.clear();
      lmlab::append_valid_utf8(bytes, out);
      bytes.clear();
    };
    for (const std::int64_t id : ids) {
      if (id < 0 || id >= vocab_size()) {
        flush();
        out += replacement;
      } else if (id >= special_.model_size || special_.ids.is_special(id) || model_->is_control(static_cast<int>(id)) ||
                 model_->is_unknown(static_cast<int>(id))) {
        flush();
        out += piece(id);
      } else if (byte_[id] >= 0) {
        if (!run.empty()) lmlab::append_valid_utf8(decode_run(run, out.empty()), out);
        run.clear();
        bytes.push_back(static_cast<char>(byte_[id]));
      } else {
        if (!bytes.empty()) lmlab::append_valid_utf8(bytes, out);
        bytes.clear();
        run.push_back(static_cast<int>(id));
      }
    }
    flush();
    return out;
  }

  std::int64_t vocab_size() const override {
    return special_.model_size + static_cast<std::int64_t>(special_.appended.size());
  }
  const lmlab::SpecialIds& special() const override { return special_.ids; }

  std::string piece(std::int64_t id) const override {
    if (id >= 0 && id < special_.model_size) return model_->piece(static_cast<int>(id));
    if (id >= special_.model_size && id < vocab_size()) return special_.appended[id - special_.model_size];
    return "<unknown " + std::to_string(id) + ">";
  }

  std::string identity() const override { return identity_; }

 private:
  // Text pieces as the library decodes them. The library drops the leading space of the first
  // piece of a text (add_dummy_prefix's); a run after other output is decoded behind a marker
  // piece the model lacks, which the library copies as it is, so the run's space stays.
  std::string decode_run(const std::vector<int>& run, bool at_start) const {
    std::string text;
    if (at_start) {
      if (model_->decode(run, text)) return text;
      return std::string(replacement);
    }
    static const std::string marker = "\x01 lmlab \x01";
    std::vector<std::string> pieces{marker};
    for (const int id : run) pieces.push_back(model_->piece(id));
    if (model_->decode_pieces(pieces, text) && text.compare(0, marker.size(), marker) == 0) return text.substr(marker.size());
    return model_->decode(run, text) ? text : std::string(replacement);
  }

  std::unique_ptr<lmlab_sentencepiece::Model> model_;
  std::unique_ptr<lmlab_sentencepiece::PartEncoder> parts_;
  SpecialPieces special_;
  std::vector<int> byte_;  // the byte of each byte-fallback piece, -1 for other pieces
  std::string identity_;
};

void register_plugins(lmlab::Registrar& r) {
  r.add<lmlab::Tokenizer>(
      "sentencepiece", "a SentencePiece .model (unigram or BPE; ours, LLaMA's or T5's) through libsentencepiece",
      options(), [](const SentencePieceOptions& o, const lmlab::TokenizerContext& c) {
        const fs::path model = fs::path(o.model).is_absolute() ? fs::path(o.model) : c.base_folder / o.model;
        return std::make_shared<SentencePieceTokenizer>(model, o.sentinels, o.bos_piece);
      });
}

}  // namespace

LMLAB_PLUGIN(register_plugins)
