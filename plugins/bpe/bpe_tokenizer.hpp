// The bpe tokenizer itself, apart from its options' declaration and registration (bpe.cpp), so
// that a program can build one without the plugin host (the throughput bench in
// docs/tokenizers.md does).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lmlab/tokenizer.hpp"
#include "pretokenizer.hpp"
#include "vocabulary.hpp"
#include "word_cache.hpp"

namespace bpe_plugin {

/// The plugin's options (declared for TOML in bpe.cpp).
struct BpeOptions {
  std::string encoder, merges, ranks;
  std::string pattern = "gpt2";
  std::string eos = "<|endoftext|>";
  std::vector<std::string> specials;
  std::int64_t sentinels = 100;
  std::int64_t cache_words = 100000;
};

class BpeTokenizer final : public lmlab::Tokenizer {
 public:
  /// Reads the model's files (relative paths from context.base_folder); throws lmlab::DataError
  /// for a missing or damaged file, lmlab::ConfigError for options that do not fit the model.
  BpeTokenizer(const BpeOptions& o, const lmlab::TokenizerContext& context);

  std::vector<std::int64_t> encode(std::string_view text) const override;
  using Tokenizer::decode;
  std::string decode(std::span<const std::int64_t> ids) const override;
  std::int64_t vocab_size() const override { return vocab_size_; }
  const lmlab::SpecialIds& special() const override { return special_; }
  std::string piece(std::int64_t id) const override;
  std::string identity() const override { return identity_; }
  std::vector<std::int64_t> newline_ids() const override;

 private:
  void encode_piece(std::string_view piece, std::vector<std::int64_t>& ids, std::vector<std::int32_t>& merged) const;
  void assign_special_ids(const BpeOptions& o);
  std::string specials_text() const;

  Vocabulary vocab_;
  Pretokenizer pretokenizer_;
  WordCache cache_;
  lmlab::SpecialIds special_;
  std::unordered_map<std::int64_t, std::string> names_;
  std::int64_t vocab_size_ = 0;
  std::string identity_;
};

}  // namespace bpe_plugin
