// What a byte-level BPE model is once its files are read: each id's bytes, the merge table, the
// model's own special tokens, and a digest of the files for the tokenizer's identity. The two file
// forms (GPT-2's encoder.json + vocab.bpe, tiktoken's rank file) load into this one shape, so the
// encoder does not know which form it came from.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pair_table.hpp"

namespace bpe_plugin {

inline std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

/// A token the model's files name but byte-level BPE never produces (GPT-2's <|endoftext|>).
struct NamedSpecial {
  std::string name;
  std::int64_t id;
};

struct Vocabulary {
  /// The bytes of each id below `size`; `byte_level[id]` is false for specials and unused ids.
  std::vector<std::string> bytes;
  std::vector<bool> byte_level;
  std::int64_t size = 0;
  /// The id of each single byte: a piece's merging starts from these.
  std::array<std::int32_t, 256> byte_id{};
  /// Merging the pair (left, right) makes a token; of the pairs present in a piece, the lowest
  /// rank merges first (GPT-2: the line of the merge; tiktoken: the rank of the merged token).
  /// `merges` is what the loaders fill; `pairs` the same, frozen for encoding (finish_merges).
  std::unordered_map<std::uint64_t, Merge> merges;
  PairTable pairs;
  std::vector<NamedSpecial> specials;
  /// SHA-256 of the files' bytes, in the order read: part of the tokenizer's identity.
  std::string files_digest;

  const Merge* find(std::int32_t left, std::int32_t right) const { return pairs.find(pair_key(left, right)); }

  /// Freezes `merges` into `pairs` and frees the map: the loaders' last step.
  void finish_merges() {
    pairs.build(merges);
    merges = {};
  }
};

/// GPT-2's printable stand-in for each byte (bytes_to_unicode in openai/gpt-2's encoder.py): the
/// printable Latin-1 bytes stand for themselves, the others for U+0100 upwards, so that a token
/// is a string without spaces or control characters. Returned as UTF-8, one entry per byte.
const std::array<std::string, 256>& byte_symbols();

/// A GPT-2 token string ("Ġthe") back to its bytes (" the"); false when a character is not one
/// of the 256 byte symbols.
bool symbols_to_bytes(std::string_view symbols, std::string& bytes);

/// GPT-2 form: encoder.json (or vocab.json) maps token strings to ids; vocab.bpe (or merges.txt)
/// lists one merge "left right" a line, highest priority first, after an optional "#version" line.
Vocabulary load_gpt2_files(const std::filesystem::path& encoder, const std::filesystem::path& merges);

/// tiktoken form: one "base64-token rank" a line; a pair merges when its concatenated bytes are
/// a token, with that token's rank as priority and id.
Vocabulary load_tiktoken_file(const std::filesystem::path& ranks);

// Shared by the loaders.
/// The file's bytes; DataError naming the file when it is missing, unreadable or too large.
std::string read_model_file(const std::filesystem::path& file);

/// Calls `on_line(number, line)` for each line of a model file's `text` (numbered from 1, "\n" or
/// "\r\n" endings), skipping blank lines at its end. A blank line with more lines after it calls
/// `on_blank_inside(number of the first such blank line)`, which throws.
void for_each_line(std::string_view text, const std::function<void(std::size_t, std::string_view)>& on_line,
                   const std::function<void(std::size_t)>& on_blank_inside);
/// `text` quoted for an error message: at most ~60 characters, control bytes escaped.
std::string bounded_quote(std::string_view text);
/// Fills byte_id from the token of each single byte, and checks that all 256 have one: without
/// them some text could not be encoded. `file` names the source in the error.
void index_single_bytes(Vocabulary& v, const std::filesystem::path& file);
/// Ids may leave unused gaps (cl100k has one before its specials), but not so many that a
/// hostile file with one huge id makes the tables take gigabytes.
inline constexpr std::int64_t max_unused_ids = 1 << 16;
/// Adds "name=id" special tokens from the options: each id free and not negative.
void add_named_specials(Vocabulary& v, const std::vector<std::string>& specs);

}  // namespace bpe_plugin
