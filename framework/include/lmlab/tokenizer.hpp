/// Tokenizer plugins: how text becomes the ids a model reads and how ids become text again. A
/// tokenizer is chosen per experiment (data.tokenizer = "byte" | "sentencepiece" | "bpe", its
/// options in a top-level [tokenizer] table), its identity is recorded in every run file and
/// checkpoint, and a prepared token file is reused only by a tokenizer of the same identity.
/// Definitions and examples: docs/tokenizers.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmlab {

/// The ids with a role in objectives and decoding; -1 where the tokenizer has none. A tokenizer
/// whose model lacks one that lmlab's objectives need (GPT-2's BPE has only <|endoftext|>) adds
/// it after its own vocabulary, so the model's ids stay the published ones.
struct SpecialIds {
  std::int64_t pad = -1;
  std::int64_t bos = -1;   // also the decoder's first input in encoder-decoders
  std::int64_t eos = -1;
  std::int64_t mask = -1;  // masked language modelling
  std::int64_t unk = -1;   // what text outside the vocabulary becomes (none for byte-level ones)
  std::int64_t first_sentinel = -1;  // span corruption's <extra_id_0>, the first of a contiguous block
  std::int64_t n_sentinels = 0;
  /// The ids a masked LM may put in at random: text ids, no control ids, [begin, end).
  std::int64_t ordinary_begin = 0;
  std::int64_t ordinary_end = 0;

  /// The id of sentinel i (0-based); throws lmlab::Error when there is no such sentinel.
  std::int64_t sentinel(std::int64_t i) const;
  /// True for pad, bos, eos, mask, unk and sentinels.
  bool is_special(std::int64_t id) const;
};

/// What the host gives a tokenizer when it builds one.
struct TokenizerContext {
  /// Where relative paths in the tokenizer's options start: the working folder, as for
  /// data.corpus.
  std::filesystem::path base_folder;
};

/// The interface every tokenizer implements. Every method is const and safe to call from several
/// threads at once (prepare encodes shards in parallel).
class Tokenizer {
 public:
  static constexpr std::string_view kind = "tokenizer";
  using Context = TokenizerContext;

  virtual ~Tokenizer();

  /// The ids of `text`, without bos or eos: callers add those where their format wants them.
  /// Text that is not valid UTF-8 is encoded as the tokenizer's model would (bytes, or unk).
  virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;

  /// Text for any id sequence; never throws. Bytes that are not valid UTF-8 become U+FFFD (one per
  /// maximal invalid subpart); special ids render as their names (<eos>, <extra_id_3>, ...); ids
  /// outside the vocabulary as U+FFFD.
  virtual std::string decode(std::span<const std::int64_t> ids) const = 0;
  /// The same for a braced list or vector: decode({72, 105}).
  std::string decode(const std::vector<std::int64_t>& ids) const { return decode(std::span<const std::int64_t>(ids)); }

  /// Every id is below it: the model's vocabulary size (before any padding for speed).
  virtual std::int64_t vocab_size() const = 0;

  virtual const SpecialIds& special() const = 0;

  /// One id's entry as the tokenizer's model writes it ("▁the", "Ġthe", "<0x0A>", "<eos>"), for
  /// showing how text splits. Never throws: an id outside the vocabulary gives "<unknown N>".
  virtual std::string piece(std::int64_t id) const = 0;

  /// Changes whenever encode() could give other ids: a digest of the model files' bytes and of the
  /// options that change encoding, prefixed by the plugin name ("sentencepiece:3f2a..."). Prepared
  /// token files and checkpoints are checked against it.
  virtual std::string identity() const = 0;

  /// The ids of each whole line break in the vocabulary, for cutting prompts at paragraph starts;
  /// empty when none is known. The default finds the ids whose piece decodes to exactly "\n".
  virtual std::vector<std::int64_t> newline_ids() const;
};

/// Appends `bytes` to `out` as UTF-8, each maximal invalid subpart replaced by U+FFFD (Unicode
/// 3.9, table 3-7), as every tokenizer's decode() must.
void append_valid_utf8(std::string_view bytes, std::string& out);

/// SHA-256 of a file's bytes (lowercase hex), for identities. Throws lmlab::DataError naming the
/// file when it cannot be read.
std::string file_sha256(const std::filesystem::path& file);

/// SHA-256 of `text` (lowercase hex).
std::string text_sha256(std::string_view text);

/// The byte-level tokenizer ("byte"): ids 0-255 are bytes, then pad, bos, eos, mask and a block of
/// sentinels (T5's <extra_id_i>) for the denoising objectives. Its ids are those of every lmlab run
/// before tokenizers were plugins; tests use it directly.
class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr std::int64_t n_bytes = 256;
  static constexpr std::int64_t pad_id = 256;
  static constexpr std::int64_t bos_id = 257;
  static constexpr std::int64_t eos_id = 258;
  static constexpr std::int64_t mask_id = 259;
  static constexpr std::int64_t first_sentinel_id = 260;
  static constexpr std::int64_t n_sentinels = 100;
  static constexpr std::int64_t byte_vocab_size = first_sentinel_id + n_sentinels;

  ByteTokenizer();

  std::vector<std::int64_t> encode(std::string_view text) const override;
  using Tokenizer::decode;
  std::string decode(std::span<const std::int64_t> ids) const override;
  std::int64_t vocab_size() const override { return byte_vocab_size; }
  const SpecialIds& special() const override { return special_; }
  std::string piece(std::int64_t id) const override;
  std::string identity() const override { return "byte:v1"; }
  std::vector<std::int64_t> newline_ids() const override { return {'\n'}; }

  /// The id of sentinel i (0-based).
  static std::int64_t sentinel(std::int64_t i);
  /// True for pad, bos, eos, mask and sentinels.
  static bool is_special(std::int64_t id);

 private:
  SpecialIds special_;
};

}  // namespace lmlab
